"""Commands that read a release: `lifeqa leakage`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


def leakage(
    release: Annotated[Path, typer.Argument(help="A release directory (manifest.json, data/).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on standard output.")] = False,
) -> None:
    """How much the release's validation/test splits can be answered from its training split, beside a hash split."""
    from etl.release.card import leakage_table
    from etl.release.leakage import leakage_report
    from etl.release.manifest import NotAReleaseError, read_manifest, release_dataset
    from etl.similarity.mmseqs import MissingToolError
    from etl.split import SplitPolicy

    try:
        manifest = read_manifest(release)
        dataset = release_dataset(release, manifest)
    except NotAReleaseError as exc:
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    try:
        report = leakage_report(release, dataset, SplitPolicy(**manifest["config"]["split"]))
    except MissingToolError as exc:
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(code=1) from None
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        console.print(f"{manifest['dataset']} {manifest['version']}: {report['measure']}", soft_wrap=True)
        typer.echo(leakage_table(report))

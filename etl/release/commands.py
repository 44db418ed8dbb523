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
    from etl.datasets import datasets
    from etl.release.card import leakage_table
    from etl.release.leakage import leakage_report
    from etl.similarity.mmseqs import MissingToolError
    from etl.split import SplitPolicy

    manifest_path = release / "manifest.json"
    if not manifest_path.is_file():
        console.print(f"[bold red]error:[/] {release} is not a release directory (no manifest.json)", soft_wrap=True)
        raise typer.Exit(code=2)
    manifest = json.loads(manifest_path.read_text())
    dataset = datasets().get(manifest.get("dataset"))
    if dataset is None:
        console.print(f"[bold red]error:[/] {manifest_path}: unknown dataset {manifest.get('dataset')!r}", soft_wrap=True)
        raise typer.Exit(code=1)
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

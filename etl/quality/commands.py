"""`lifeqa validate RELEASE_DIR [--suite FILE] [--json]`: a release's suites run again, on any release."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


def results_table(validation) -> Table:
    """One row per expectation that failed, and one per suite that passed whole."""
    table = Table(title="validation")
    for column in ("suite", "expectation", "severity", "result", "unexpected / observed"):
        table.add_column(column)
    failures = validation.failures()
    for f in failures:
        shown = f["unexpected_count"] if f["unexpected_count"] is not None else f["observed_value"]
        examples = ", ".join(repr(e) for e in f["examples"][:3])
        colour = "red" if f["severity"] == "error" else "yellow"
        table.add_row(f["suite"], f["rule"], f["severity"], f"[{colour}]failed[/]",
                      f"{shown}" + (f" (e.g. {examples})" if examples else "") if f["exception"] is None
                      else f"not evaluated: {f['exception']}")
    failed_suites = {f["suite"] for f in failures}
    for result in validation.results:
        if result.suite_name not in failed_suites:
            table.add_row(result.suite_name, f"all {len(result.results)}", "", "[green]passed[/]", "")
    return table


def validate(
    release: Annotated[Path, typer.Argument(help="A release directory (manifest.json, data/, rejects/).")],
    suite: Annotated[Path | None, typer.Option("--suite", help="Validate with this suite (GX JSON, as in a "
                                               "release's quality/expectations/) instead of the generated ones.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on standard output.")] = False,
) -> None:
    """Run the release's Great Expectations suites; exit 0 when every error-level expectation passes."""
    from etl.quality.validate import NotAReleaseError, validate_release

    try:
        validation = validate_release(release, suite_files=[suite] if suite else None)
    except NotAReleaseError as exc:
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    if as_json:
        typer.echo(json.dumps(validation.as_json(), indent=2, sort_keys=True, default=str))
    else:
        console.print(results_table(validation))
    errors = [f["rule"] for f in validation.failures("error")]
    if errors:
        console.print(f"[bold red]failed:[/] {len(errors)} error-level expectation(s): {', '.join(errors)}",
                      soft_wrap=True)
        raise typer.Exit(code=1)
    console.print(f"[green]passed:[/] every error-level expectation of {release}", soft_wrap=True)

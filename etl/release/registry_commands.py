"""Commands over versions: `lifeqa releases list`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from etl.release.registry import DEFAULT_REGISTRY

console = Console(stderr=True)
releases_app = typer.Typer(help="The versions in a release registry.", no_args_is_help=True)

RegistryOption = Annotated[str, typer.Option(
    "--registry", help="Registry root: a directory or a pyarrow filesystem URI (s3://..., gs://..., hdfs://...).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on standard output instead of tables.")]


def fail(message: str, code: int = 1):
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code=code)


def versions_table(name: str, entries: list[dict]) -> Table:
    table = Table(title=f"{name}: {len(entries)} version(s), latest {entries[-1]['version'] if entries else '-'}")
    for column in ("version", "created", "source releases", "rows", "rejected", "content sha256"):
        table.add_column(column, justify="right" if column in ("rows", "rejected") else "left")
    for entry in entries:
        table.add_row(entry["version"], entry["created"], ", ".join(entry["source_releases"]) or "-",
                      str(entry["rows"]), str(entry["records_rejected"]), entry["content_sha256"][:16] + "…")
    return table


@releases_app.command("list")
def list_releases(
    dataset: Annotated[str | None, typer.Argument(help="Only this dataset's versions.")] = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """The versions of each dataset in the registry: content hash, source releases, creation time."""
    from etl.release.registry import Registry

    found = Registry(registry)
    names = [dataset] if dataset else found.datasets()
    listed = {name: found.entries(name) for name in names}
    if dataset and not listed[dataset]:
        raise fail(f"registry {registry} has no version of {dataset}")
    if as_json:
        typer.echo(json.dumps({name: {"latest": entries[-1]["version"] if entries else None, "versions": entries}
                               for name, entries in listed.items()}, indent=2, sort_keys=True))
        return
    for name, entries in listed.items():
        console.print(versions_table(name, entries))
    if not listed:
        console.print(f"registry {registry} holds no release")


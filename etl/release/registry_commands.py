"""Commands over versions: `lifeqa releases list`, `lifeqa diff`."""

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


def changes_tables(report: dict) -> list[Table]:
    """The diff as tables a person reads: entities, QA rows per split and field, rejects, inputs, config."""
    entities = Table(title=f"{report['dataset']} {report['old']['version']} -> {report['new']['version']}: entities")
    for column in ("split", "added", "removed"):
        entities.add_column(column, justify="left" if column == "split" else "right")
    for split in sorted(set(report["entities"]["added"]) | set(report["entities"]["removed"])):
        entities.add_row(split, str(report["entities"]["added"].get(split, 0)),
                         str(report["entities"]["removed"].get(split, 0)))
    totals = report["entities"]["totals"]
    entities.add_row("[bold]total", str(totals["added"]), str(totals["removed"]))
    moved = Table(title=f"entities whose split changed: {totals['split_changed']} "
                        f"({report['entities']['unchanged']} kept their split)")
    moved.add_column("old -> new split")
    moved.add_column("entities", justify="right")
    for change, n in report["entities"]["split_changed"].items():
        moved.add_row(change, str(n))
    rows = Table(title=f"QA rows ({report['rows']['unchanged']} unchanged)")
    for column in ("split", "field", "added", "removed", "answer changed"):
        rows.add_column(column, justify="left" if column in ("split", "field") else "right")
    cells = sorted({(split, field) for kind in ("added", "removed", "changed")
                    for split, fields in report["rows"][kind].items() for field in fields})
    for split, field in cells:
        rows.add_row(split, field, *[str(report["rows"][kind].get(split, {}).get(field, 0))
                                     for kind in ("added", "removed", "changed")])
    rows.add_row("[bold]total", "", *[str(report["rows"]["totals"][k]) for k in ("added", "removed", "changed")])
    rejects = Table(title="rejected by reason")
    for column in ("reason", "before", "after", "change"):
        rejects.add_column(column, justify="left" if column == "reason" else "right")
    for reason, counts in report["rejects"].items():
        rejects.add_row(reason, str(counts["before"]), str(counts["after"]), f"{counts['after'] - counts['before']:+d}")
    inputs = Table(title="inputs (by checksum): source releases "
                         f"{', '.join(report['inputs']['source_releases']['before']) or '-'} -> "
                         f"{', '.join(report['inputs']['source_releases']['after']) or '-'}; "
                         f"{report['inputs']['unchanged']} unchanged")
    for column in ("change", "path", "sha256", "source release", "records"):
        inputs.add_column(column, justify="right" if column == "records" else "left")
    for change in ("added", "removed"):
        for entry in report["inputs"][change]:
            inputs.add_row(change, entry["path"], entry["sha256"][:16] + "…", entry["source_release"] or "-",
                           str(entry["records"]))
    config = Table(title=f"config: {len(report['config'])} key(s) changed")
    for column in ("key", "before", "after"):
        config.add_column(column)
    for key, values in report["config"].items():
        config.add_row(key, json.dumps(values["before"]), json.dumps(values["after"]))
    return [entities, moved, rows, rejects, inputs, config]


def diff(
    old: Annotated[str, typer.Argument(help="The older release: a directory or NAME@VERSION (NAME@latest) in --registry.")],
    new: Annotated[str, typer.Argument(help="The newer release: a directory or NAME@VERSION (NAME@latest) in --registry.")],
    registry: RegistryOption = DEFAULT_REGISTRY,
    as_json: JsonOption = False,
) -> None:
    """What changed between two releases of a dataset: entities and QA rows added, removed and changed per
    split and field, entities that changed split, rejects by reason, inputs and config."""
    from etl.release.diff import DiffError, diff_releases
    from etl.release.registry import RegistryError, locate

    try:
        report = diff_releases(locate(old, registry), locate(new, registry))
    except (RegistryError, DiffError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    out = Console(width=160)
    for table in changes_tables(report):
        out.print(table)
    same = "the same content" if report["same_content"] else "different content"
    out.print(f"{report['old']['version']} ({report['old']['content_sha256'][:16]}…) -> "
              f"{report['new']['version']} ({report['new']['content_sha256'][:16]}…): {same}")

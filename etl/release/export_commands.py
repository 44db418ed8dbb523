"""Commands that hand a release to its readers: `lifeqa export` (training code's layouts) and
`lifeqa publish` (the Hugging Face Hub)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from etl.release.exports import exports
from etl.release.exports.layout import count_text

console = Console(stderr=True, soft_wrap=True)

ExportFormat = Enum("ExportFormat", {name: name for name in exports()}, type=str)


def _fail(message: object, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(str(message))}")
    return typer.Exit(code=code)


def export(
    release: Annotated[Path, typer.Argument(help="A release directory (manifest.json, data/).")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="The layout to write.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the export into (must not exist).")],
    prefix: Annotated[str | None, typer.Option("--prefix", help="File-name prefix, for chemblqa (ChEMBL_QA).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out once the new export is complete.")] = False,
) -> None:
    """Rewrite a release in a layout that training code reads (published UniProtQA, OpenBioMed PQA/MQA, ChEMBL-QA)."""
    from etl.release.exports import ExportError, run_export
    from etl.release.writer import OutputPathError, ReleaseExistsError

    try:
        result = run_export(release, fmt.value, out, prefix=prefix, force=force)
    except ReleaseExistsError as exc:
        raise _fail(f"{exc} (use --force to replace it)") from None
    except OutputPathError as exc:
        raise _fail(exc, code=2) from None
    except ExportError as exc:
        raise _fail(exc) from None
    table = Table(title=f"{result.dataset} {result.version} as {result.export.name} → {result.out}")
    for column in ("file", "split", "entities", "QA pairs"):
        table.add_column(column, justify="right" if column in ("entities", "QA pairs") else "left")
    for file in result.files:
        table.add_row(file.name, file.split, count_text(file.entities), count_text(file.pairs))
    console.print(table)
    console.print(f"content_sha256 {result.content_sha256}; README.md written beside the files")

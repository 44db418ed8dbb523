"""Exports: a release rewritten in the layouts that training code reads (`lifeqa export`).

The registry is every module of this package that exports `EXPORT` (an `Export`); adding a
format is adding one module. A format serves the datasets whose entity is of its kind (protein
layouts for UniProtQA, molecule layouts for PubChemQA, and any dataset of the same kinds).
Every export is written into a staging directory and renamed into place when complete, with a
README.md that names the release it came from and counts what each file holds; the same release
gives the same bytes.
"""

from __future__ import annotations

import importlib
import pkgutil
import tempfile
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from etl.release.exports.layout import Export, ExportedFile, count_text
from etl.release.exports.source import ExportError, ReleaseSource, open_release
from etl.release.writer import check_output, staged_directory


@cache
def exports() -> dict[str, Export]:
    """{format name: Export}, in name order."""
    found = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        export = getattr(importlib.import_module(f"{__name__}.{module}"), "EXPORT", None)
        if isinstance(export, Export):
            found[export.name] = export
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class ExportResult:
    out: Path
    export: Export
    dataset: str
    version: str
    content_sha256: str
    files: list[ExportedFile]


def get_export(name: str) -> Export:
    if name not in exports():
        raise ExportError(f"unknown export format {name!r}; known: {', '.join(exports())}")
    return exports()[name]


def check_fits(export: Export, source: ReleaseSource) -> None:
    if source.entity.kind != export.entity_kind:
        fitting = [e.name for e in exports().values() if e.entity_kind == source.entity.kind]
        raise ExportError(f"format {export.name} is for {export.entity_kind} datasets; {source.dataset.name} is about "
                          f"{source.entity.kind}s (its formats: {', '.join(fitting) or 'none'})")


def file_prefix(export: Export, prefix: str | None) -> str | None:
    if prefix is None:
        return export.default_prefix
    if export.default_prefix is None:
        takes = [e.name for e in exports().values() if e.default_prefix is not None]
        raise ExportError(f"--prefix names the files of {', '.join(takes)} only, not of {export.name}")
    if not prefix or "/" in prefix or prefix.startswith("."):
        raise ExportError(f"--prefix {prefix!r} must be a plain file name start (no '/', not hidden)")
    return prefix


def run_export(release: Path, name: str, out: Path, prefix: str | None = None, force: bool = False) -> ExportResult:
    """Write `release` in format `name` into `out` (replaced only with `force`)."""
    export = get_export(name)
    prefix = file_prefix(export, prefix)
    source = open_release(release)
    check_fits(export, source)
    check_output(out, force)
    Path(out).absolute().parent.mkdir(parents=True, exist_ok=True)  # the staging directory is made beside `out`
    with staged_directory(out, force) as staging:
        with tempfile.TemporaryDirectory(prefix=".sort-", dir=staging) as scratch:
            files = export.write(replace(source, scratch=Path(scratch)), staging, prefix)
        result = ExportResult(Path(out), export, source.dataset.name, str(source.manifest.get("version", "")),
                              source.manifest.get("content_sha256", ""), files)
        (staging / "README.md").write_text(readme(result, prefix), encoding="utf-8")
    return result


def readme(result: ExportResult, prefix: str | None) -> str:
    """The export's README: where it came from, what reads it, what each file holds."""
    from etl import __version__

    export = result.export
    lines = [
        f"# {result.dataset} {result.version}, exported as `{export.name}`",
        "",
        f"Release: dataset `{result.dataset}`, version `{result.version}`, content_sha256 `{result.content_sha256}`.",
        f"Written by `lifeqa export --format {export.name}` (lifeqa {__version__}) for {export.reader}.",
        "",
        f"Layout: {_named(export.layout, prefix)}",
    ]
    if export.note:
        lines += ["", _named(export.note, prefix)]
    lines += ["", "| file | split | entities | QA pairs |", "| --- | --- | ---: | ---: |"]
    lines += [f"| `{f.name}` | {f.split} | {count_text(f.entities)} | {count_text(f.pairs)} |" for f in result.files]
    return "\n".join(lines) + "\n"


def _named(text: str, prefix: str | None) -> str:
    """`text` with the files' prefix in place of `{prefix}` (str.format would trip over the layouts' braces)."""
    return text.replace("{prefix}", prefix or "")

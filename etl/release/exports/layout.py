"""What an export format is, and the JSON files the formats write.

Files are written one item at a time, never built whole in memory, and come out byte for byte as
`json.dumps(whole) + "\\n"` would write them: default separators, non-ASCII characters escaped
(the loaders open files without naming an encoding, which is the locale's), one line. That one
line is what OpenBioMed's loaders need: they parse only the first line of each file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ExportedFile:
    name: str
    split: str  # a release split, or "all" for a file over every split (sequences.json)
    entities: int | None  # distinct keys of a file keyed by entity
    pairs: int | None  # QA pairs, for a file that holds them


@dataclass(frozen=True)
class Export:
    """One layout that training code reads; each module of this package exports one as `EXPORT`."""

    name: str  # the value of `lifeqa export --format`
    entity_kind: str  # what the layout's rows are about: "protein" | "molecule"
    layout: str  # one sentence: the files and their shape
    reader: str  # the code that reads it
    # (ReleaseSource, output directory, file-name prefix or None) -> the files written
    write: Callable[..., list[ExportedFile]]
    default_prefix: str | None = None  # set for layouts whose file names take `--prefix`
    note: str = ""  # anything more the export's README must say; `{prefix}` is filled in


def write_json_object(path: Path, items: Iterable[tuple[str, object]]) -> int:
    """`{key: value, ...}` from (key, value) pairs; returns how many were written."""
    return _write_json(path, "{", "}", (f"{json.dumps(key)}: {json.dumps(value)}" for key, value in items))


def write_json_list(path: Path, items: Iterable[object]) -> int:
    """`[item, ...]` on one line; returns how many were written."""
    return _write_json(path, "[", "]", (json.dumps(item) for item in items))


def _write_json(path: Path, opening: str, closing: str, encoded: Iterable[str]) -> int:
    count = 0
    with open(path, "w", encoding="ascii", newline="\n") as out:
        out.write(opening)
        for text in encoded:
            out.write(", " + text if count else text)
            count += 1
        out.write(closing + "\n")
    return count


def write_keyed(path: Path, split: str, groups: Iterable[tuple[str, list[tuple]]],
                value: Callable[[list[tuple]], object]) -> ExportedFile:
    """One JSON object with a member per entity: `value(rows)` of each (key, rows) group."""
    pairs = 0

    def items():
        nonlocal pairs
        for key, rows in groups:
            pairs += len(rows)
            yield key, value(rows)

    entities = write_json_object(path, items())
    return ExportedFile(path.name, split, entities, pairs)


def write_rows(path: Path, split: str, rows: Iterable[tuple], record: Callable[[tuple], dict]) -> ExportedFile:
    """One JSON list with `record(row)` per QA row."""
    return ExportedFile(path.name, split, None, write_json_list(path, (record(row) for row in rows)))


def count_text(value: int | None) -> str:
    """A count for a table cell; blank where a file has no such count."""
    return "" if value is None else f"{value:,}"

"""Exclusion lists: entities that must never be in train, or must not be released at all.

A list names entities by a column of the rows being split (accessions for UniProtQA;
CIDs or InChIKeys for PubChemQA) and takes them from one place:

- `ids`: written in the config;
- `file`: a text file with one id per line (`#` starts a comment), or a TSV/CSV
  file with a header, whose `column` holds the ids (ChEBI-20's `CID` column);
- `release`: another lifeqa release, the entities of its `splits` (by default its
  test split), read from the `column` of its data files (default: `match`).

`remove` lists become rejects (reason `excluded`, the list named in the detail) in an
`exclude` stage before the split; `never_train` lists go to the split strategy, which
keeps every group (homology component, scaffold, hash key) holding a listed entity out
of train. A list is small next to the table (a benchmark's test split): its ids are
held on the driver and joined to the table as a broadcast, never the other way round.
"""

from __future__ import annotations

import csv
import json
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EXCLUDED = "excluded"
NEVER_TRAIN, REMOVE = "never_train", "remove"


class ExclusionList(BaseModel):
    """One entry of `split.exclude`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="how the report and the rejects name this list")
    action: Literal["never_train", "remove"]
    match: str = Field(description="the column of the split rows the ids are values of (accession, cid, inchikey)")
    ids: list[str] | None = Field(None, description="the ids, written in the config")
    file: str | None = Field(None, description="one id per line, or a TSV/CSV with a header (see `column`)")
    release: str | None = Field(None, description="a lifeqa release directory: the entities of its `splits`")
    column: str | None = Field(None, description="file: the header column holding the ids; release: the data "
                                                 "column to read (default: `match`)")
    splits: list[str] = Field(default_factory=lambda: ["test"], description="release: which of its splits")

    @cached_property
    def listed_ids(self) -> list[str]:
        """The ids, read once per build (the split and the report both ask)."""
        return load_ids(self)

    @model_validator(mode="after")
    def one_source(self):
        given = [name for name in ("ids", "file", "release") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"exclusion list {self.name!r} needs exactly one of ids, file, release; got "
                             f"{', '.join(given) or 'none'}")
        return self


def check_exclusions(lists: list[ExclusionList], columns: list[str], table_name: str) -> None:
    """Raise unless every list matches a column of the split rows and its source exists."""
    names = [entry.name for entry in lists]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"split.exclude names {', '.join(repeated)} more than once")
    for entry in lists:
        if entry.match not in columns:
            raise ValueError(f"exclusion list {entry.name!r}: match {entry.match!r} names no column of "
                             f"{table_name}; one of: {', '.join(columns)}")
        if entry.file is not None and not Path(entry.file).is_file():
            raise ValueError(f"exclusion list {entry.name!r}: file {entry.file} not found")
        if entry.release is not None and not (Path(entry.release) / "manifest.json").is_file():
            raise ValueError(f"exclusion list {entry.name!r}: {entry.release} is not a lifeqa release "
                             "(no manifest.json)")


def load_ids(entry: ExclusionList) -> list[str]:
    """The list's distinct ids, sorted, as strings (a CID listed as 5793 matches cid 5793)."""
    if entry.ids is not None:
        ids = entry.ids
    elif entry.file is not None:
        ids = ids_from_file(Path(entry.file), entry.column)
    else:
        ids = ids_from_release(Path(entry.release), entry.splits, entry.column or entry.match)
    return sorted({str(i).strip() for i in ids} - {""})


def ids_from_file(path: Path, column: str | None) -> list[str]:
    with open(path, newline="", encoding="utf-8") as stream:
        if column is None:
            return [line.split("#", 1)[0].strip() for line in stream]
        dialect = "excel-tab" if "\t" in stream.readline() else "excel"
        stream.seek(0)
        reader = csv.DictReader(stream, dialect=dialect)
        if column not in (reader.fieldnames or []):
            raise ValueError(f"{path} has no column {column!r}; its header: {', '.join(reader.fieldnames or [])}")
        return [row[column] for row in reader]


def ids_from_release(release: Path, splits: list[str], column: str) -> list[str]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    dataset = json.loads((release / "manifest.json").read_text()).get("dataset")
    ids: list[str] = []
    for path in sorted((release / "data").glob("*.parquet")):
        if path.name.split("-", 1)[0] not in splits:
            continue
        parquet = pq.ParquetFile(path)
        if column not in parquet.schema_arrow.names:
            raise ValueError(f"release {release} ({dataset}) has no column {column!r} to exclude by; "
                             f"its columns: {', '.join(parquet.schema_arrow.names)}")
        for batch in parquet.iter_batches(columns=[column], batch_size=65_536):
            ids.extend(pc.cast(batch.column(column), "string").to_pylist())
    return ids


def listed(lists: list[ExclusionList], action: str) -> dict[str, dict[str, list[str]]]:
    """{match column: {id: [names of the lists of `action` that hold it]}}."""
    by_column: dict[str, dict[str, list[str]]] = {}
    for entry in lists:
        if entry.action == action:
            for value in entry.listed_ids:
                by_column.setdefault(entry.match, {}).setdefault(value, []).append(entry.name)
    return by_column


def with_list_names(df, lists: list[ExclusionList], action: str, columns: dict[str, str]):
    """`df` with `_lists`: the names of the `action` lists that name the row (', '-joined), else null.

    `columns` maps a list's `match` (a column of the released rows) to the column of `df`
    holding it (PubChemQA's silver rows hold the InChIKey as `molecule_inchikey`)."""
    from pyspark.sql import functions as F

    names = []
    for match, ids in listed(lists, action).items():
        table = df.sparkSession.createDataFrame([(value, ", ".join(n)) for value, n in sorted(ids.items())],
                                                f"_id_{match} string, _lists_{match} string")
        df = df.join(F.broadcast(table), F.col(columns[match]).cast("string") == F.col(f"_id_{match}"), "left")
        names.append(F.col(f"_lists_{match}"))
    joined = F.concat_ws(", ", *names) if names else F.lit("")
    temporary = [c for c in df.columns if c.startswith(("_id_", "_lists_"))]
    return df.withColumn("_lists", F.when(joined != "", joined)).drop(*temporary)


def exclude_rows(df, lists: list[ExclusionList], columns: dict[str, str], data_columns: list[str], record_id,
                 applies=None):
    """`df` in the reject-carrying shape, the rows a `remove` list names rejected as `excluded`.

    `applies` (a Column) limits removal to some rows (PubChemQA: descriptions, not the
    structures their CID is released with)."""
    from pyspark.sql import functions as F

    from etl.pipeline.stages import reject_rows_where

    named = with_list_names(df, lists, REMOVE, columns)
    hit = F.col("_lists") if applies is None else F.when(applies, F.col("_lists"))
    return reject_rows_where(named, data_columns, F.when(hit.isNotNull(), F.lit(EXCLUDED)),
                             F.concat(F.lit("on exclusion list "), hit), record_id)


def never_train_rows(df, lists: list[ExclusionList], columns: dict[str, str], keep: list[str]) -> list[dict]:
    """The rows of `df` that a `never_train` list names: their `keep` columns and `_lists`, collected
    (as many as the lists name, not the table)."""
    from pyspark.sql import functions as F

    if not any(entry.action == NEVER_TRAIN for entry in lists):
        return []
    named = with_list_names(df, lists, NEVER_TRAIN, columns).filter(F.col("_lists").isNotNull())
    return [row.asDict() for row in named.select(*keep, "_lists").toLocalIterator()]


def removed_per_list(stage_df) -> dict[str, int]:
    """{list name: rows it removed}, from an exclude stage's reject-carrying output."""
    from pyspark.sql import functions as F

    counts: dict[str, int] = {}
    details = stage_df.filter(F.col("reject_reason") == EXCLUDED).groupBy("reject_detail").count()
    for row in details.toLocalIterator():
        for name in row["reject_detail"].removeprefix("on exclusion list ").split(", "):
            counts[name] = counts.get(name, 0) + row["count"]
    return counts


def exclusion_report(lists: list[ExclusionList], removed: dict[str, int], held_out: dict[str, dict]) -> list[dict]:
    """One entry per list: what it names, and what it removed (`remove`) or kept out of train (`never_train`)."""
    report = []
    for entry in lists:
        line = {"name": entry.name, "action": entry.action, "match": entry.match, "ids": len(entry.listed_ids)}
        if entry.action == REMOVE:
            line["removed"] = removed.get(entry.name, 0)
        else:
            line |= held_out.get(entry.name, {"matched": 0})
        report.append(line)
    return report

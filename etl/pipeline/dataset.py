"""What the engine, the CLI and the commands after a build ask of a dataset, in one value.

A dataset module (etl/datasets/<name>.py) exports one `Dataset`; the registry
(`etl.datasets`) lists them. Nothing outside a dataset's module tests a dataset's
name: it asks the dataset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from etl.pipeline.chunks import RecordEnds
from etl.release.card import CardInfo


@dataclass(frozen=True)
class Entity:
    """What a dataset's QA rows are about: a protein, a molecule.

    Entities are keyed by content: the sha256 of the text an encoder reads (the normalized
    sequence or SMILES), so one protein shared by many QA rows, or by many releases, is one
    entity. Where the gold table already holds that hash, `key_column` names it."""

    kind: str  # "protein" | "molecule"
    text_column: str  # the sequence or SMILES an encoder reads
    id_column: str  # how a person names one: accession, CID
    unit: str  # what an encoder gives one vector per: "residue", "atom"
    key_column: str | None = None  # gold column equal to sha256(text), when there is one

    def keys(self, table: pa.Table | pa.RecordBatch) -> pa.ChunkedArray | pa.Array:
        """The content key of every row of `table` (which holds `text_column`, and `key_column` if set)."""
        if self.key_column:
            return table.column(self.key_column)
        texts = pc.cast(table.column(self.text_column), pa.string()).to_pylist()
        return pa.chunked_array([pa.array([content_key(t) for t in texts], pa.string())])


def content_key(text: str) -> str:
    """sha256 hex of a normalized sequence or SMILES (equal to UniProtQA's sequence_sha256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Dataset:
    name: str
    help: str  # one line: what the build reads (the CLI's help for `lifeqa build NAME`)
    config_model: type  # pydantic model of pipelines/<name>.yaml
    detect_format: Callable[[bytes, str], str]  # (first bytes, file name) -> format, or raise Rejected
    sample: Path  # the bundled sample: the default input
    # (spark, ResolvedInputs, config) -> (gold DataFrame, rejects DataFrame, [StageResult])
    build: Callable
    gold_table: str  # schema name of the released rows
    sort_keys: tuple[str, ...]  # order of the rows in the release files
    card: Callable[[object], CardInfo]  # config -> the card's prose
    entity: Entity
    # (gold DataFrame) -> lines for the card's licence list, for rows that carry their own licence
    licenses: Callable | None = None
    # format -> where its records end, for formats whose files tasks read in chunks side by side
    # (etl/pipeline/chunks.py); a file of any other format is read whole by one task
    record_ends: dict[str, RecordEnds] = field(default_factory=dict)

"""What the embedding job reads from a release: its entities, by content key, and its QA rows.

A release is `manifest.json` (with "dataset") plus `data/{split}-0000i-of-0000N.parquet`. Entities are
keyed by content, so a protein or molecule shared by many QA pairs, or by many releases, is one entry:
UniProtQA rows by their `sequence_sha256`, PubChemQA rows by the sha256 of their normalized SMILES
(not the InChIKey, which merges tautomers that the GIN sees as different graphs).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl.embed.encoders import EmbedError

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Release:
    path: Path
    dataset: str  # "uniprotqa" | "pubchemqa"
    version: str

    @property
    def text_column(self) -> str:
        return "sequence" if self.dataset == "uniprotqa" else "smiles"

    @property
    def unit(self) -> str:
        return "residue" if self.dataset == "uniprotqa" else "atom"

    def files(self, split: str | None = None) -> list[Path]:
        names = SPLITS if split is None else (split,)
        return sorted(f for name in names for f in (self.path / "data").glob(f"{name}-*.parquet"))

    def table(self, split: str | None = None, columns: list[str] | None = None) -> pa.Table:
        """The rows of one split (or all), with a `key` column: the entity's content key."""
        files = self.files(split)
        if not files:
            raise EmbedError(f"{self.path} has no data/{split or '*'}-*.parquet")
        wanted = None if columns is None else sorted({*columns, self.text_column, "sequence_sha256"} - {"key"})
        if wanted is not None and self.dataset != "uniprotqa":
            wanted.remove("sequence_sha256")
        table = pa.concat_tables(pq.read_table(f, columns=wanted) for f in files)
        return table.append_column("key", self._keys(table))

    def entities(self) -> dict[str, str]:
        """key -> sequence or SMILES, one per unique entity in the release."""
        table = self.table(columns=[self.text_column])
        return dict(zip(table.column("key").to_pylist(), table.column(self.text_column).to_pylist()))

    def _keys(self, table: pa.Table) -> pa.ChunkedArray:
        if self.dataset == "uniprotqa":
            return table.column("sequence_sha256")
        smiles = pc.cast(table.column("smiles"), pa.string()).to_pylist()
        return pa.chunked_array([pa.array([content_key(s) for s in smiles], pa.string())])


def content_key(text: str) -> str:
    """sha256 hex of a normalized sequence or SMILES (equal to UniProtQA's sequence_sha256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def open_release(path: str | Path) -> Release:
    path = Path(path)
    manifest = path / "manifest.json"
    if not manifest.is_file():
        raise EmbedError(f"{path} is not a release directory (no manifest.json)")
    data = json.loads(manifest.read_text())
    dataset = data.get("dataset")
    if dataset not in ("uniprotqa", "pubchemqa"):
        raise EmbedError(f"{manifest}: dataset is {dataset!r}, expected uniprotqa or pubchemqa")
    return Release(path, dataset, str(data.get("version", "")))

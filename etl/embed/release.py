"""What the embedding job reads from a release: its entities, by content key, and its QA rows.

A release is `manifest.json` (with "dataset") plus `data/{split}-0000i-of-0000N.parquet`; the dataset
named there (etl/datasets/) says what its rows are about (`Entity`): which column holds the text an
encoder reads and how rows are keyed by content, so a protein or molecule shared by many QA pairs, or
by many releases, is one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl.embed.encoder import EmbedError
from etl.pipeline.dataset import Entity
from etl.release.manifest import NotAReleaseError, read_manifest, release_dataset
from etl.split import SPLITS


@dataclass(frozen=True)
class Release:
    path: Path
    dataset: str
    version: str
    entity: Entity

    def files(self, split: str | None = None) -> list[Path]:
        names = SPLITS if split is None else (split,)
        return sorted(f for name in names for f in (self.path / "data").glob(f"{name}-*.parquet"))

    def table(self, split: str | None = None, columns: list[str] | None = None) -> pa.Table:
        """The rows of one split (or all), with a `key` column: the entity's content key."""
        files = self.files(split)
        if not files:
            raise EmbedError(f"{self.path} has no data/{split or '*'}-*.parquet")
        wanted = None
        if columns is not None:
            needed = {self.entity.text_column, self.entity.key_column} - {None}
            wanted = sorted({*columns, *needed} - {"key"})
        table = pa.concat_tables(pq.read_table(f, columns=wanted) for f in files)
        return table.append_column("key", self.entity.keys(table))

    def entities(self) -> dict[str, str]:
        """key -> sequence or SMILES, one per unique entity in the release."""
        column = self.entity.text_column
        table = self.table(columns=[column])
        return dict(zip(table.column("key").to_pylist(), table.column(column).to_pylist()))


def open_release(path: str | Path) -> Release:
    path = Path(path)
    try:
        manifest = read_manifest(path)
        dataset = release_dataset(path, manifest)
    except NotAReleaseError as error:  # the embed command reports its library's errors as EmbedError
        raise EmbedError(str(error)) from None
    return Release(path, dataset.name, str(manifest.get("version", "")), dataset.entity)

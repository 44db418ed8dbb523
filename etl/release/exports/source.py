"""Reading a release for an export: its manifest, its dataset, and its rows streamed shard by shard.

A release's rows are sorted by its dataset's `sort_keys` (UniProtQA: accession, field), each split's
shards holding consecutive slices of that order. An export that writes one JSON object keyed by an
entity needs each entity's rows together: when the release is sorted by that key the shards are
streamed as they are; otherwise (PubChemQA is sorted by CID, and two CIDs may share a SMILES) each
shard is sorted on its own into a run on disk and the runs are merged, so no more than one shard is
ever held in memory. Within one key, rows keep the release's order, so the output is deterministic.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl.pipeline.dataset import Dataset, Entity
from etl.release.manifest import read_manifest, release_dataset
from etl.split import SPLITS

BATCH_ROWS = 8_192


class ExportError(RuntimeError):
    """The release cannot be exported as asked: one line for the command to print."""


@dataclass(frozen=True)
class ReleaseSource:
    path: Path
    manifest: dict
    dataset: Dataset
    scratch: Path | None = None  # where sorted runs go (set by the export, which removes it)

    @property
    def entity(self) -> Entity:
        return self.dataset.entity

    def files(self, split: str) -> list[Path]:
        return sorted((self.path / "data").glob(f"{split}-*.parquet"))

    def rows(self, split: str, columns: list[str]) -> Iterator[tuple]:
        """The split's rows as tuples of `columns`, in the release's order."""
        for path in self.files(split):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns):
                yield from batch_rows(batch, columns)

    def rows_by(self, split: str, columns: list[str]) -> Iterator[tuple]:
        """The split's rows sorted by `columns[0]`; rows with one key keep the release's order."""
        if self.dataset.sort_keys[0] == columns[0]:
            rows = self.rows(split, columns)
        else:
            runs = [self._sorted_run(path, columns) for path in self.files(split)]
            rows = heapq.merge(*(run_rows(run, columns) for run in runs), key=itemgetter(0))
        return checked_sorted(rows, f"{self.path} {split}")

    def groups(self, split: str, columns: list[str]) -> Iterator[tuple[str, list[tuple]]]:
        """(key, its rows) per distinct `columns[0]` of the split, in key order."""
        for key, rows in itertools.groupby(self.rows_by(split, columns), key=itemgetter(0)):
            yield key, list(rows)

    def entities(self, key: str, value: str) -> Iterator[tuple[str, str]]:
        """(key, value) once per distinct key over every split, in key order (accession -> sequence)."""
        merged = heapq.merge(*(self.rows_by(split, [key, value]) for split in SPLITS), key=itemgetter(0))
        for name, rows in itertools.groupby(merged, key=itemgetter(0)):
            values = {row[1] for row in rows}
            if len(values) > 1:
                raise ExportError(f"{self.path}: {key} {name} has {len(values)} different {value} values")
            yield name, values.pop()

    def _sorted_run(self, path: Path, columns: list[str]) -> Path:
        """One shard sorted by `columns[0]` (a stable sort) into an Arrow file under `scratch`."""
        table = pq.read_table(path, columns=columns).sort_by([(columns[0], "ascending")])
        run = self.scratch / f"{path.stem}.arrow"
        with pa.OSFile(str(run), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=BATCH_ROWS)
        return run


def batch_rows(batch: pa.RecordBatch, columns: list[str]) -> Iterator[tuple]:
    return zip(*(batch.column(name).to_pylist() for name in columns))


def run_rows(run: Path, columns: list[str]) -> Iterator[tuple]:
    with pa.OSFile(str(run)) as source:  # read batch by batch; a memory map would keep every page resident
        reader = pa.ipc.open_file(source)
        for index in range(reader.num_record_batches):
            yield from batch_rows(reader.get_batch(index), columns)


def checked_sorted(rows: Iterable[tuple], where: str) -> Iterator[tuple]:
    """`rows`, insisting that their keys never decrease: a keyed JSON object must not repeat a key."""
    previous = None
    for row in rows:
        if previous is not None and row[0] < previous:
            raise ExportError(f"{where}: rows are not sorted by their key ({row[0]!r} after {previous!r})")
        previous = row[0]
        yield row


def open_release(path: Path) -> ReleaseSource:
    manifest = read_manifest(path)
    return ReleaseSource(Path(path), manifest, release_dataset(path, manifest))

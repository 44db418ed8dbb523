"""Releases to corrupt: copies of the session's sample releases, with a table rewritten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


def copy_release(release: Path, tmp_path: Path) -> Path:
    target = tmp_path / release.name
    shutil.copytree(release, target)
    return target


def read_table(release: Path, table: str):
    import pandas as pd
    import pyarrow.parquet as pq

    frames = [pq.read_table(p).to_pandas(types_mapper=pd.ArrowDtype) for p in sorted((release / table).glob("*.parquet"))]
    return pd.concat(frames, ignore_index=True)


def rewrite_table(release: Path, table: str, mutate) -> None:
    """Replace the shards of `table` by one shard holding `mutate(all rows)` (a pandas DataFrame)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = mutate(read_table(release, table).copy())
    for path in (release / table).glob("*.parquet"):
        path.unlink()
    rows = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(rows, release / table / f"{table}-00000-of-00001.parquet")


def edit_manifest(release: Path, edit) -> None:
    path = release / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


@pytest.fixture
def corrupted(tmp_path):
    """`corrupted(release, table, mutate) -> copy` of `release` with `table` rewritten by `mutate`."""

    def make(release: Path, table: str, mutate) -> Path:
        copy = copy_release(release, tmp_path)
        rewrite_table(copy, table, mutate)
        return copy

    return make

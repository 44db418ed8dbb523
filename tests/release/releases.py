"""Small releases written without Spark, laid out as a build lays them out: rows sorted by the
dataset's sort keys, each split cut into consecutive shards, manifest.json with the rows' checksum;
so the readers' shard-by-shard paths run over several shards. (The session fixtures
`uniprotqa_release` / `pubchemqa_release` are the real builds of the bundled sample.)"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl.datasets import get_dataset
from etl.fileio import file_sha256
from etl.release.writer import rows_sha256, shard_name
from etl.schema import table
from etl.split import SPLITS


def write_release(path: Path, dataset_name: str, rows: list[dict], shards: int = 3, version: str = "2026.1") -> Path:
    """A release directory holding `rows` (gold columns; missing ones get placeholder values)."""
    dataset = get_dataset(dataset_name)
    schema = table(dataset.gold_table).arrow()
    placeholders = {pa.string(): "x", pa.int64(): 1, pa.bool_(): True}
    files = []
    for split in SPLITS:
        ordered = sorted((r for r in rows if r["split"] == split), key=lambda r: tuple(r[k] for k in dataset.sort_keys))
        count = max(1, min(shards, len(ordered)))
        size = max(1, math.ceil(len(ordered) / count))
        for index in range(count):
            chunk = ordered[index * size:(index + 1) * size]
            filled = [{f.name: r.get(f.name, placeholders[f.type]) for f in schema} for r in chunk]
            files.append(path / "data" / shard_name(split, index, count))
            files[-1].parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(filled, schema), files[-1])
    manifest = {"dataset": dataset_name, "version": version, "content_sha256": rows_sha256(files, path),
                "files": {str(f.relative_to(path)): file_sha256(f) for f in files}}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (path / "README.md").write_text(f"---\npretty_name: {dataset_name}\n---\n\n# {dataset_name} {version}\n")
    return path

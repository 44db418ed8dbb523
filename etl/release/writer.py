"""Writing a release directory atomically, in the Hugging Face dataset layout.

    OUT/README.md                                  card, YAML `configs` -> data files
    OUT/data/{split}-0000i-of-0000N.parquet        the QA rows, sorted, per split
    OUT/rejects/rejects-0000i-of-0000N.parquet     every record not in the data, with its reason
    OUT/manifest.json                              inputs, config, code version, counts, checksums

Everything is written into a hidden sibling directory and renamed into place at
the end, so a failed or interrupted build leaves no half-written release; an
existing release is replaced only with `force`, and then only after the new one
is complete. `check_output` says before any work whether `out` can be written;
`release_lock` keeps two builds of one `out` apart and clears what a killed build
left behind (`.NAME.staging-*`, `.NAME.replaced-*`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

from etl.split import SPLITS


class ReleaseExistsError(FileExistsError):
    pass


class BuildInProgressError(RuntimeError):
    """Another build holds the lock of the same release directory."""


class OutputPathError(ValueError):
    """`out` cannot be a release directory: a file, under a file, or not writable."""


LEFTOVER_PATTERNS = (".{name}.staging-*", ".{name}.replaced-*", ".{name}.inputs-*")


def nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output(out: Path, force: bool) -> None:
    """Raise, before any work, if a release cannot be written to `out`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{out} is a file, not a directory")
    if out.exists() and not force:
        raise ReleaseExistsError(f"{out} already exists")
    parent = nearest_existing(out.absolute().parent)
    if not parent.is_dir():
        raise OutputPathError(f"{out}: {parent} is a file, not a directory")
    try:  # a probe, not os.access: root passes access checks on read-only file systems
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as exc:
        raise OutputPathError(f"{out}: cannot write in {parent} ({exc.strerror})") from None


@contextmanager
def release_lock(out: Path):
    """Hold `out`'s build lock; clear the staging and replaced directories of killed builds of `out`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out.parent / f".{out.name}.lock"
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildInProgressError(f"another build is writing {out} now") from None
        try:
            for pattern in LEFTOVER_PATTERNS:
                for leftover in out.parent.glob(pattern.format(name=out.name)):
                    shutil.rmtree(leftover, ignore_errors=True)
            yield
        finally:
            lock_path.unlink(missing_ok=True)


@contextmanager
def scratch_directory(out: Path):
    """A directory next to `out` for the build's own copies of its inputs (decompressed gzip files),
    removed when the build ends. Next to the release, because the executors read it: the release's
    own directory must be one every node sees, and so is this."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.inputs-", dir=out.parent))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def shard_name(prefix: str, index: int, total: int) -> str:
    return f"{prefix}-{index:05d}-of-{total:05d}.parquet"


@contextmanager
def staged_directory(out: Path, force: bool):
    """Yield a fresh staging directory next to `out`; on success move it to `out`."""
    out = Path(out)
    check_output(out, force)
    staging = out.parent / f".{out.name}.staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        if out.exists():
            retired = out.parent / f".{out.name}.replaced-{uuid.uuid4().hex[:8]}"
            os.rename(out, retired)
            os.rename(staging, out)
            shutil.rmtree(retired)
        else:
            os.rename(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def write_sorted_parquet(df, directory: Path, prefix: str, sort_keys: list[str], rows: int,
                         rows_per_shard: int, arrow_schema) -> list[Path]:
    """Write `df` as `{prefix}-0000i-of-0000N.parquet` files, rows sorted by `sort_keys`.

    Spark writes range-partitioned part files into a scratch folder; they are
    renamed in range order, so file i holds the i-th slice of the sorted rows.
    An empty table still gets one (empty) file, so that every declared split loads."""
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    shards = max(1, math.ceil(rows / rows_per_shard))
    scratch = directory / f"_scratch_{prefix}"
    if rows:
        (df.repartitionByRange(shards, *sort_keys).sortWithinPartitions(*sort_keys)
           .write.mode("overwrite").option("compression", "zstd").parquet(str(scratch)))
        parts = sorted(scratch.glob("part-*.parquet"))
    else:
        scratch.mkdir()
        parts = [scratch / "part-empty.parquet"]
        pq.write_table(arrow_schema.empty_table(), parts[0])
    written = []
    for index, part in enumerate(parts):
        target = directory / shard_name(prefix, index, len(parts))
        os.rename(part, target)
        written.append(target)
    shutil.rmtree(scratch)
    return written


def rows_sha256(paths: list[Path], root: Path, spark=None) -> str:
    """One checksum over the rows of Parquet files: the sha256 of each file's name (relative to
    `root`) and row digest (file_rows_sha256), in name order.

    Taken over the data, not the file bytes: parquet-mr lists a column's encodings in
    hash-set order, so two JVMs write the same rows as different bytes. With `spark`, the
    files are read back by Spark tasks, side by side, and only their digests reach the driver."""
    names = sorted(paths)
    files = [str(path) for path in names]
    if spark is not None and files:
        digests = spark.sparkContext.parallelize(files, len(files)).map(file_rows_sha256).collect()
    else:
        digests = [file_rows_sha256(file) for file in files]
    combined = hashlib.sha256()
    for path, digest in zip(names, digests):
        combined.update(str(path.relative_to(root)).encode() + b"\0" + digest.encode() + b"\n")
    return combined.hexdigest()


def file_rows_sha256(path: str, batch_rows: int = 65_536) -> str:
    """The sha256 of a Parquet file's rows, streamed batch by batch as Arrow IPC (schema
    metadata dropped); nothing is held whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    digest = hashlib.sha256()
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        batch = batch.replace_schema_metadata(None)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        digest.update(sink.getvalue().to_pybytes())
    return digest.hexdigest()


def write_split_data(gold, staging: Path, sort_keys: list[str], rows_by_split: dict[str, int],
                     rows_per_shard: int, arrow_schema) -> dict[str, list[Path]]:
    from pyspark.sql import functions as F

    return {
        split: write_sorted_parquet(gold.filter(F.col("split") == split), staging / "data", split, sort_keys,
                                    rows_by_split.get(split, 0), rows_per_shard, arrow_schema)
        for split in SPLITS
    }


def write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")

"""The embedding store: a directory of committed shards plus an index, read through memory maps.

    STORE/
      store.json               what every vector is: encoder, weights sha256, layer, dtype, pooling, truncation, lifeqa version
      index.parquet            key -> shard, row, offset, length for the shards committed when it was written
      shards/<id>/entries.parquet   key, offset, length: one row per entity, in the order of pooled.bin
      shards/<id>/tokens.bin        per-token vectors of all entities, (sum of lengths, dim), little-endian
      shards/<id>/pooled.bin        one mean vector per entity, (entities, dim)
      tmp/                     shards being written; whatever is here at the start of a run is removed
      .lock                    held by the one run writing the store

A shard is written under tmp/ and committed by renaming its directory into shards/, which is atomic:
a shard is either absent or complete, whenever the writer dies. The shards are the truth; index.parquet
is a cache rewritten at the end of each run, and shards it does not list are read from their own
entries.parquet. A shard's id is a hash of its keys, so a retried task that commits the same shard
again finds it there and drops its copy.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl import __version__
from etl.fileio import fsync_dir, fsync_file
from etl.embed.encoder import EmbedError, EncoderSpec

FORMAT = 1
# bf16 has no NumPy dtype: its bits are stored as uint16 and widened to float32 when read.
DTYPES = {"fp16": np.dtype("<f2"), "bf16": np.dtype("<u2"), "fp32": np.dtype("<f4")}
POOLINGS = ("none", "mean", "both")
# Fields that must match for new vectors to join a store (the lifeqa version and the weights' path may differ).
IDENTITY = ("format", "encoder", "family", "weights_sha256", "num_layers", "dim", "layer", "unit", "truncation", "dtype", "pooling")
ENTRIES_SCHEMA = pa.schema([("key", pa.string()), ("offset", pa.int64()), ("length", pa.int32())])
INDEX_SCHEMA = pa.schema([("key", pa.string()), ("shard", pa.string()), ("row", pa.int64()), ("offset", pa.int64()), ("length", pa.int32())])


def store_metadata(spec: EncoderSpec, dtype: str, pooling: str) -> dict:
    if dtype not in DTYPES:
        raise EmbedError(f"dtype must be one of {list(DTYPES)}, not {dtype!r}", setting="dtype")
    if pooling not in POOLINGS:
        raise EmbedError(f"pooling must be one of {list(POOLINGS)}, not {pooling!r}", setting="pooling")
    return {
        "format": FORMAT,
        "encoder": spec.name,
        "family": spec.family,
        "weights": spec.weights,
        "weights_sha256": spec.weights_sha256,
        "num_layers": spec.num_layers,
        "dim": spec.dim,
        "layer": spec.layer,
        "unit": spec.unit,
        "truncation": {"long": spec.long, "max_residues": spec.max_residues, "overlap": spec.overlap},
        "dtype": dtype,
        "pooling": pooling,
        "lifeqa_version": __version__,
    }


class EmbeddingStore:
    """Read access to a store: keys(), get(key) and metadata; vectors stay on disk until sliced."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta_file = self.path / "store.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{self.path} is not an embedding store (no store.json)")
        self.metadata: dict = json.loads(meta_file.read_text())
        self.dim: int = self.metadata["dim"]
        self.dtype: str = self.metadata["dtype"]
        self.has_tokens = self.metadata["pooling"] in ("none", "both")
        self.has_pooled = self.metadata["pooling"] in ("mean", "both")
        self._table = _read_entries(self.path)
        self._rows = {key: i for i, key in enumerate(self._table.column("key").to_pylist())}
        self._shard = self._table.column("shard").to_pylist()
        self._row = self._table.column("row").to_numpy()
        self._offset = self._table.column("offset").to_numpy()
        self._length = self._table.column("length").to_numpy()
        self._maps: dict[tuple[str, str], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def keys(self) -> list[str]:
        return list(self._rows)

    def length(self, key: str) -> int:
        """Per-token vectors stored for `key` (residues or heavy atoms)."""
        return int(self._length[self._rows[key]])

    def get(self, key: str, pooled: bool | None = None) -> np.ndarray:
        """(tokens, dim) per-token vectors, or (dim,) with pooled=True; by default whichever the store holds (tokens first).

        fp16 and fp32 come back as read-only views of the memory-mapped shard; bf16 as a float32 copy.
        """
        i = self._rows[key]
        if pooled is None:
            pooled = not self.has_tokens
        if pooled and not self.has_pooled or not pooled and not self.has_tokens:
            raise KeyError(f"this store has pooling={self.metadata['pooling']!r}: no {'pooled' if pooled else 'per-token'} vectors")
        if pooled:
            vectors = self._map(self._shard[i], "pooled")[self._row[i]]
        else:
            start = self._offset[i]
            vectors = self._map(self._shard[i], "tokens")[start : start + self._length[i]]
        return _widen_bf16(vectors) if self.dtype == "bf16" else vectors

    def _map(self, shard: str, kind: str) -> np.ndarray:
        if (shard, kind) not in self._maps:
            raw = np.memmap(self.path / "shards" / shard / f"{kind}.bin", dtype=DTYPES[self.dtype], mode="r")
            self._maps[shard, kind] = raw.reshape(-1, self.dim)
        return self._maps[shard, kind]


def _widen_bf16(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _read_entries(path: Path) -> pa.Table:
    """Every committed entry: index.parquet, plus the shards committed since it was written; first copy of a key wins."""
    shards_dir = path / "shards"
    committed = sorted(p.name for p in shards_dir.iterdir()) if shards_dir.is_dir() else []
    tables, listed = [], set()
    index_file = path / "index.parquet"
    if index_file.is_file():
        index = pq.read_table(index_file, schema=INDEX_SCHEMA)
        # A shard in the index but gone from disk was deleted by hand; its entries cannot be served.
        index = index.filter(pc.is_in(index.column("shard"), pa.array(committed, pa.string())))
        tables.append(index)
        listed = set(index.column("shard").to_pylist())
    for shard in committed:
        if shard not in listed:
            tables.append(_shard_entries(shards_dir / shard))
    table = pa.concat_tables(tables) if tables else INDEX_SCHEMA.empty_table()
    keys = table.column("key").to_pylist()
    if len(set(keys)) < len(keys):
        first = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        table = table.take(sorted(first.values()))
    return table


def _shard_entries(shard_dir: Path) -> pa.Table:
    entries = pq.read_table(shard_dir / "entries.parquet", schema=ENTRIES_SCHEMA)
    n = entries.num_rows
    return pa.table(
        {
            "key": entries.column("key"),
            "shard": pa.array([shard_dir.name] * n, pa.string()),
            "row": pa.array(np.arange(n, dtype=np.int64)),
            "offset": entries.column("offset"),
            "length": entries.column("length"),
        },
        schema=INDEX_SCHEMA,
    )


def write_index(path: str | Path) -> int:
    """Rewrite index.parquet from the committed shards (atomically); returns the number of keys."""
    path = Path(path)
    table = _read_entries(path)
    tmp = path / f".index-{uuid.uuid4().hex}.parquet"
    pq.write_table(table, tmp)
    fsync_file(tmp)
    os.replace(tmp, path / "index.parquet")
    fsync_dir(path)
    return table.num_rows


def prepare_store(path: str | Path, metadata: dict) -> None:
    """Create the store, or check that its vectors are of the same kind as `metadata`; clear tmp/.

    Only the single process writing the store (holding StoreLock) may call this: it removes the
    half-written shards of runs that died.
    """
    path = Path(path)
    (path / "shards").mkdir(parents=True, exist_ok=True)
    meta_file = path / "store.json"
    if meta_file.is_file():
        existing = json.loads(meta_file.read_text())
        differing = [f for f in IDENTITY if existing.get(f) != metadata.get(f)]
        if differing:
            detail = ", ".join(f"{f}: store has {existing.get(f)!r}, this run {metadata.get(f)!r}" for f in differing)
            raise EmbedError(f"{path} holds other embeddings ({detail}); use another store", setting="store_dir")
    else:
        tmp = path / ".store.json.tmp"
        tmp.write_text(json.dumps(metadata, indent=2) + "\n")
        fsync_file(tmp)
        os.replace(tmp, meta_file)
    shutil.rmtree(path / "tmp", ignore_errors=True)
    (path / "tmp").mkdir()


class StoreLock:
    """An exclusive lock on a store for one run (released by the kernel if the run is killed).

    A run that created the store's directory and fails before committing a shard removes the
    directory again, so a failed first run leaves no empty store behind."""

    def __init__(self, path: str | Path):
        self.file = Path(path) / ".lock"

    def __enter__(self):
        self.created = not self.file.parent.exists()
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.file, "w")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise EmbedError(f"another lifeqa embed is writing {self.file.parent}") from None
        return self

    def __exit__(self, exc_type, *exc):
        store = self.file.parent
        if exc_type is not None and self.created and not any((store / "shards").glob("*")):
            shutil.rmtree(store, ignore_errors=True)  # still holding the lock: no other run is inside
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


class ShardWriter:
    """Streams one worker's vectors into shards of about `shard_bytes`, committing each when full."""

    def __init__(self, path: str | Path, dtype: str, pooling: str, shard_bytes: int):
        self.path = Path(path)
        self.dtype = DTYPES[dtype]
        self.tokens = pooling in ("none", "both")
        self.pooled = pooling in ("mean", "both")
        self.shard_bytes = shard_bytes
        # Unique across processes and hosts writing to one store (GPU workers, Spark executors).
        self._tag = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._serial = 0
        self._dir: Path | None = None
        self.committed: list[str] = []

    def add(self, key: str, length: int, tokens: np.ndarray | None, pooled: np.ndarray | None) -> None:
        """Append one entity of `length` tokens (tokens: (length, dim), pooled: (dim,), in the store dtype, when kept)."""
        if self._dir is None:
            self._open()
        self._entries.append((key, self._offset, length))
        if self.tokens:
            self._write("tokens", tokens)
            self._offset += length
        if self.pooled:
            self._write("pooled", pooled)
        if self._bytes >= self.shard_bytes:
            self.commit()

    def commit(self) -> str | None:
        """Make the open shard durable and visible; returns its id (None when nothing was added)."""
        if self._dir is None:
            return None
        keys, offsets, lengths = zip(*self._entries)
        pq.write_table(pa.table({"key": keys, "offset": offsets, "length": lengths}, schema=ENTRIES_SCHEMA), self._dir / "entries.parquet")
        fsync_file(self._dir / "entries.parquet")
        for handle in self._files.values():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        shard = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]
        target = self.path / "shards" / shard
        try:
            os.rename(self._dir, target)
        except OSError:
            if not (target / "entries.parquet").is_file():
                raise
            shutil.rmtree(self._dir)  # the same shard was committed before (a retried task)
        fsync_dir(self.path / "shards")
        self._dir = None
        self.committed.append(shard)
        return shard

    def _open(self) -> None:
        self._serial += 1
        self._dir = self.path / "tmp" / f"{self._tag}-{self._serial}"
        self._dir.mkdir(parents=True)
        kinds = [k for k, kept in (("tokens", self.tokens), ("pooled", self.pooled)) if kept]
        self._files = {kind: open(self._dir / f"{kind}.bin", "wb") for kind in kinds}
        self._entries: list[tuple[str, int, int]] = []
        self._offset = 0
        self._bytes = 0

    def _write(self, kind: str, vectors: np.ndarray) -> None:
        if vectors.dtype != self.dtype:
            raise TypeError(f"{kind} vectors are {vectors.dtype}, the store keeps {self.dtype}")
        data = np.ascontiguousarray(vectors).data
        self._files[kind].write(data)
        self._bytes += data.nbytes

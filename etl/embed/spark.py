"""The embedding job on Spark: executors with GPUs embed partitions of the missing keys into the same store.

Each task takes the GPU Spark assigned it (spark.task.resource.gpu.amount = 1 and an executor
resource discovery script), builds the encoder once per executor process, and runs the same core as
the local job (`embed_items`), committing shards straight into the store, which must be on storage
that every executor and the driver see (a shared file system). Executors plan (which keys the store
lacks) and embed; the driver holds the store's lock and rewrites its index.

    spark = SparkSession.builder.config("spark.executor.resource.gpu.amount", "1") \
        .config("spark.task.resource.gpu.amount", "1").getOrCreate()
    embed_with_spark(spark, "out/uniprotqa", "/shared/embeddings/esm2_t36_3B_UR50D",
                     resolve_encoder("esm2_t36_3B_UR50D"), EmbedOptions(device="cuda"))
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import pyarrow as pa
from pyspark.sql.pandas.types import from_arrow_schema

from etl.embed.encoder import EmbedError, Encoder, EncoderSpec
from etl.embed.encoders import build_encoder
from etl.embed.release import Release
from etl.embed.runner import EmbedOptions, EmbedSummary, WorkResult, embed_items, open_run
from etl.embed.store import StoreLock, write_index

RESULT_SCHEMA = pa.schema([("embedded", pa.int64()), ("tokens", pa.int64()), ("shards", pa.list_(pa.string())), ("skipped_keys", pa.list_(pa.string())), ("skipped_reasons", pa.list_(pa.string())), ("seconds", pa.float64())])


def embed_with_spark(
    spark,
    release_dir: str | Path,
    store_dir: str | Path,
    spec: EncoderSpec,
    options: EmbedOptions = EmbedOptions(device="cuda"),
    partitions: int | None = None,
) -> EmbedSummary:
    """Embed the keys the store lacks with one Spark task per partition (by default one per executor core slot).

    The plan is a Spark job too: the release's rows are read by the executors, reduced to unique keys
    and anti-joined with the keys of the committed shards, so no sequence passes through the driver.
    """
    started = time.perf_counter()
    with StoreLock(store_dir):
        release = open_run(release_dir, store_dir, spec, options)
        entities = release_entities_df(spark, release)
        todo = entities.join(stored_keys_df(spark, store_dir), "key", "left_anti")
        # Hash-partitioned by key: a retried task gets the same keys, so it commits the same shard id.
        todo = todo.repartition(partitions or spark.sparkContext.defaultParallelism, "key")
        task = _PartitionTask(spec, str(store_dir), options)
        result = WorkResult()
        workers = 0  # tasks that had keys to embed
        # One small summary row per task comes back to the driver, never the vectors.
        for row in todo.mapInArrow(task, from_arrow_schema(RESULT_SCHEMA)).collect():
            result.merge(WorkResult(row.embedded, row.tokens, dict(zip(row.skipped_keys, row.skipped_reasons)), list(row.shards), row.seconds))
            workers += bool(row.embedded or row.skipped_keys)
        total = entities.count()
        write_index(store_dir)
    attempted = result.embedded + len(result.skipped)
    return EmbedSummary(
        encoder=spec.name, unit=spec.unit, entities=total, already_stored=total - attempted,
        embedded=result.embedded, tokens=result.tokens, skipped=result.skipped, shards=len(result.shards),
        workers=workers, seconds=time.perf_counter() - started, embed_seconds=result.seconds, store=str(store_dir),
    )


def release_entities_df(spark, release: Release):
    """(key, text): one row per unique entity of the release, keyed as Release.entities() keys it."""
    from pyspark.sql import functions as F

    files = release.files()
    if not files:
        raise EmbedError(f"{release.path} has no data/*.parquet")
    rows = spark.read.parquet(*[str(f) for f in files])
    text = F.col(release.entity.text_column).cast("string")
    key = F.col(release.entity.key_column) if release.entity.key_column else F.sha2(text, 256)
    return rows.select(key.alias("key"), text.alias("text")).dropDuplicates(["key"])


def stored_keys_df(spark, store_dir: str | Path):
    """The keys of the store's committed shards (the shards are the truth; index.parquet is a cache)."""
    entries = sorted(str(p) for p in Path(store_dir, "shards").glob("*/entries.parquet"))
    if not entries:
        return spark.createDataFrame([], "key string")
    return spark.read.parquet(*entries).select("key")


class _PartitionTask:
    """mapInArrow's function: a picklable callable holding the spec, the store and the options."""

    def __init__(self, spec: EncoderSpec, store_dir: str, options: EmbedOptions):
        self.spec, self.store_dir, self.options = spec, store_dir, options

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return embed_arrow_partition(batches, self.spec, self.store_dir, self.options, _task_device(self.options.device))


def embed_arrow_partition(batches: Iterator[pa.RecordBatch], spec: EncoderSpec, store_dir: str, options: EmbedOptions, device: str) -> Iterator[pa.RecordBatch]:
    """Embed one partition's (key, text) rows into the store; yields one row saying what was done."""
    items = [pair for batch in batches for pair in zip(batch.column("key").to_pylist(), batch.column("text").to_pylist())]
    # A partition the hash left empty needs no model.
    result = embed_items(_encoder(spec, device), store_dir, items, options) if items else WorkResult()
    skipped = sorted(result.skipped.items())
    yield pa.RecordBatch.from_pylist(
        [{"embedded": result.embedded, "tokens": result.tokens, "shards": result.shards,
          "skipped_keys": [k for k, _ in skipped], "skipped_reasons": [r for _, r in skipped], "seconds": result.seconds}],
        schema=RESULT_SCHEMA,
    )


@lru_cache(maxsize=1)
def _encoder(spec: EncoderSpec, device: str) -> Encoder:
    # One model per executor process, reused by every task it runs (Python workers are reused by default).
    return build_encoder(spec, device)


def _task_device(device: str) -> str:
    """The GPU Spark gave this task (its resources' address), or the configured device off GPUs."""
    if device != "cuda":
        return device
    from pyspark import TaskContext

    context = TaskContext.get()
    gpus = context.resources().get("gpu") if context is not None else None
    return f"cuda:{gpus.addresses[0]}" if gpus and gpus.addresses else "cuda"

"""The embedding job on Spark: executors with GPUs embed partitions of the missing keys into the same store.

Each task takes the GPU Spark assigned it (spark.task.resource.gpu.amount = 1 and an executor
resource discovery script), builds the encoder once per executor process, and runs the same core as
the local job (`embed_items`), committing shards straight into the store, which must be on storage
that every executor and the driver see (a shared file system). The driver plans and writes the index.

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

from etl.embed.encoders import Encoder, EncoderSpec, build_encoder
from etl.embed.runner import EmbedOptions, EmbedSummary, WorkResult, embed_items, plan_run
from etl.embed.store import StoreLock, write_index

RESULT_SCHEMA = pa.schema([("embedded", pa.int64()), ("tokens", pa.int64()), ("shards", pa.list_(pa.string())), ("skipped_keys", pa.list_(pa.string())), ("skipped_reasons", pa.list_(pa.string()))])


def embed_with_spark(
    spark,
    release_dir: str | Path,
    store_dir: str | Path,
    spec: EncoderSpec,
    options: EmbedOptions = EmbedOptions(device="cuda"),
    partitions: int | None = None,
) -> EmbedSummary:
    """Embed the keys the store lacks with one Spark task per partition (by default one per executor core slot)."""
    started = time.perf_counter()
    with StoreLock(store_dir):
        entities, todo = plan_run(release_dir, store_dir, spec, options)
        result = WorkResult()
        if todo:
            frame = spark.createDataFrame(todo, "key string, text string")
            frame = frame.repartition(partitions or spark.sparkContext.defaultParallelism)
            task = _PartitionTask(spec, str(store_dir), options)
            from pyspark.sql.pandas.types import from_arrow_schema

            # One small summary row per task comes back to the driver, never the vectors.
            for row in frame.mapInArrow(task, from_arrow_schema(RESULT_SCHEMA)).collect():
                result.merge(WorkResult(row.embedded, row.tokens, dict(zip(row.skipped_keys, row.skipped_reasons)), list(row.shards)))
        write_index(store_dir)
    return EmbedSummary(
        encoder=spec.name, unit=spec.unit, entities=len(entities), already_stored=len(entities) - len(todo),
        embedded=result.embedded, tokens=result.tokens, skipped=result.skipped, shards=len(result.shards),
        workers=frame.rdd.getNumPartitions() if todo else 0, seconds=time.perf_counter() - started, store=str(store_dir),
    )


class _PartitionTask:
    """mapInArrow's function: a picklable callable holding the spec, the store and the options."""

    def __init__(self, spec: EncoderSpec, store_dir: str, options: EmbedOptions):
        self.spec, self.store_dir, self.options = spec, store_dir, options

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return embed_arrow_partition(batches, self.spec, self.store_dir, self.options, _task_device(self.options.device))


def embed_arrow_partition(batches: Iterator[pa.RecordBatch], spec: EncoderSpec, store_dir: str, options: EmbedOptions, device: str) -> Iterator[pa.RecordBatch]:
    """Embed one partition's (key, text) rows into the store; yields one row saying what was done."""
    items = [pair for batch in batches for pair in zip(batch.column("key").to_pylist(), batch.column("text").to_pylist())]
    result = embed_items(_encoder(spec, device), store_dir, items, options)
    skipped = sorted(result.skipped.items())
    yield pa.RecordBatch.from_pylist(
        [{"embedded": result.embedded, "tokens": result.tokens, "shards": result.shards,
          "skipped_keys": [k for k, _ in skipped], "skipped_reasons": [r for _, r in skipped]}],
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

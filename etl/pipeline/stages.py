"""Spark stage helpers shared by the dataset builds: reading input files as tasks,
counting a stage's output, and turning rows into rejects with Spark columns.

Steps (etl/pipeline/steps.py) reject one record at a time in Python; the helpers here
reject rows by looking at several records at once (duplicates, joins), in the same
reject-carrying row shape, so that every stage's output reads the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from etl.pipeline import progress
from etl.pipeline.chunks import chunks_df
from etl.pipeline.inputs import UNKNOWN, InputFile
from etl.pipeline.steps import Step, apply_step, origin_of, rejected, with_reject_fields
from etl.quality.rejects import Rejected
from etl.schema import table


@dataclass
class StageResult:
    """A stage's reject-carrying output, persisted so that its counts and its two halves reuse one run."""

    name: str
    df: object
    records_in: int
    records_out: int
    rejected: dict[str, int]
    seconds: float = 0.0
    details: dict = field(default_factory=dict)  # what the stage reports beyond counts (a split's partition)

    def as_manifest(self) -> dict:
        return {"records_in": self.records_in, "records_out": self.records_out,
                "rejected": dict(sorted(self.rejected.items())), "rejected_total": sum(self.rejected.values()),
                "seconds": round(self.seconds, 3), **self.details}


def finish_stage(name: str, df, records_in: int | None = None, unit_column: str | None = None) -> StageResult:
    """Persist a stage's output and count it: records out (distinct `unit_column` when one input
    record makes several rows) and rejects by reason. A watched build hears the stage begin
    (its Spark jobs then carry the stage's job group) and end, with its counts."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    # Spark is lazy and earlier stages are persisted, so counting here is when this stage runs.
    started = time.perf_counter()
    progress.stage_started(name)
    df = df.persist(StorageLevel.MEMORY_AND_DISK_DESER)
    by_reason = {row["reject_reason"]: row["count"] for row in df.groupBy("reject_reason").count().collect()}
    kept = df.filter(F.col("reject_reason").isNull())
    records_out = kept.select(unit_column).distinct().count() if unit_column else by_reason.get(None, 0)
    rejects = {reason: count for reason, count in by_reason.items() if reason is not None}
    if records_in is None:
        records_in = records_out + sum(rejects.values())
    stage = StageResult(name, df, records_in, records_out, rejects, time.perf_counter() - started)
    progress.stage_finished(stage)
    return stage


def all_rejects(stages: list[StageResult], source: str):
    """Every stage's reject rows, in the shape of the `rejects` table."""
    return union_all([rejected(stage.df, stage.name, source) for stage in stages])


def union_all(parts: list):
    """DataFrames of one shape stacked, by column name."""
    df = parts[0]
    for part in parts[1:]:
        df = df.unionByName(part)
    return df


def files_df(spark, files: list[InputFile]):
    """One row per file, one file per partition: a file read as a stream is one task."""
    from pyspark.sql.types import BooleanType, StringType, StructField, StructType

    schema = StructType([
        StructField("path", StringType(), False), StructField("format", StringType(), False),
        StructField("compressed", BooleanType(), False), StructField("release", StringType(), True),
    ])
    return one_row_per_task(spark, [(f.path, f.format, f.compressed, f.release) for f in files], schema)


def one_row_per_task(spark, rows: list[tuple], schema):
    """A small DataFrame of `rows`, each in a partition of its own, so that each is one task."""
    return spark.createDataFrame(rows, schema).repartition(max(1, len(rows)))


def parse_stage_of(spark, files: list[InputFile], chunk_step: Step, file_step: Step, output: str) -> StageResult:
    """The parse stage over input files: those the driver cut into chunks (etl/pipeline/chunks.py)
    parsed chunk by chunk by `chunk_step`, the rest read as a stream, a file a task, by `file_step`;
    a file in no known format is one reject in the shape of `output`."""
    cut = [f for f in files if f.chunks]
    streamed = [f for f in files if not f.chunks and f.format != UNKNOWN]
    unknown = [f for f in files if f.format == UNKNOWN]
    parts = [apply_step(chunks_df(spark, cut), chunk_step)] if cut else []
    if streamed:
        parts.append(apply_step(files_df(spark, streamed), file_step))
    if unknown:
        parts.append(unknown_format_rejects(spark, unknown, output))
    return finish_stage("parse", union_all(parts))


def unknown_format_rejects(spark, files: list[InputFile], output: str):
    """Files whose content is in no format the build reads: one reject each, in the shape of
    the parse stage's `output` table plus the reject columns."""
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = with_reject_fields(table(output).arrow())
    rows = [{name: None for name in schema.names} | Step.reject_row(
        Rejected("unknown_format", f.detail), None, origin_of(f.path, 0)) for f in files]
    return spark.createDataFrame(rows, from_arrow_schema(schema))


def origin_column():
    """`origin_of` as a Spark column."""
    from pyspark.sql import functions as F

    return F.concat_ws("#", "origin_file", "record_index")


def reject_rows_where(df, columns: list[str], reason, detail, record_id):
    """`df` in the reject-carrying shape: where the `reason` column is set the row becomes a
    reject (data columns null, the reject columns filled), elsewhere it is kept as it is."""
    from pyspark.sql import functions as F

    kept = reason.isNull()
    return df.select(
        *[F.when(kept, F.col(c)).alias(c) for c in columns],
        reason.alias("reject_reason"),
        F.when(~kept, detail).alias("reject_detail"),
        F.when(~kept, record_id.cast("string")).alias("reject_record_id"),
        F.when(~kept, origin_column()).alias("reject_origin"),
    )


def reject_duplicates(df, columns: list[str], partition: list, order: list, reason, record_id, kept_note=None):
    """Keep the first row of each `partition` group by `order`; the others become rejects
    with `reason`, their detail naming the copy that was kept (and `kept_note` of it)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    window = Window.partitionBy(*partition).orderBy(*order)
    detail = F.concat(F.lit("kept "), F.first(origin_column()).over(window))
    if kept_note is not None:
        detail = F.concat(detail, F.first(kept_note).over(window))
    ranked = df.withColumn("_rank", F.row_number().over(window)).withColumn("_kept", detail)
    return reject_rows_where(ranked, columns, F.when(F.col("_rank") > 1, reason), F.col("_kept"), record_id)

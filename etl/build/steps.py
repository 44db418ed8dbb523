"""Steps: per-record logic, kept apart from how it is executed.

After datatrove: a step is a small class whose `run` takes records and yields
records. A record it cannot use comes out as a reject row (the stage's reject
columns filled in) instead of disappearing. `apply_step` is the Spark executor:
it runs a step over each partition with `mapInArrow`, the step's heavy objects
built once per task by `setup`. A stage's counts are not kept by its steps (each
task would hold only its own share): Spark counts the output (common.finish_stage).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from etl.quality.rejects import Rejected
from etl.schema import TableSchema, table

REJECT_FIELDS = [
    pa.field("reject_reason", pa.string()),
    pa.field("reject_detail", pa.string()),
    pa.field("reject_record_id", pa.string()),
    pa.field("reject_origin", pa.string()),
]
REJECT_COLUMNS = [f.name for f in REJECT_FIELDS]
BATCH_ROWS = 1024


class Step:
    """One stage's per-record function. Subclasses set `stage`, `source`, `output` and `process`."""

    stage: str = ""
    source: str = ""
    output: str = ""  # name of the table schema of the rows `process` yields

    def setup(self) -> None:
        """Build heavy per-task objects (parsers, RDKit helpers); called once before `run`."""

    def process(self, record: dict) -> Iterable[dict]:
        raise NotImplementedError

    def record_id(self, record: dict) -> str | None:
        return None

    def origin(self, record: dict) -> str:
        return origin_of(record.get("origin_file"), record.get("record_index"))

    def run(self, records: Iterable[dict]) -> Iterator[dict]:
        self.setup()
        for record in records:
            try:
                # Whole, so that a record rejected half-way yields nothing but its reject.
                outputs = list(self.process(record))
            except Rejected as rejected:
                yield self.reject_row(rejected, self.record_id(record), self.origin(record))
                continue
            yield from outputs

    @staticmethod
    def reject_row(rejected: Rejected, record_id: str | None, origin: str) -> dict:
        return {"reject_reason": rejected.reason, "reject_detail": rejected.detail[:2000],
                "reject_record_id": record_id, "reject_origin": origin}


class FileStep(Step):
    """A step whose input record is a whole file (`path`, `format`, `compressed`, `release`) and
    which yields a row or a reject row (`reject_row`) for each record it reads in it."""

    def origin(self, record: dict) -> str:
        return origin_of(record["path"], 0)


def origin_of(path: str | None, record_index: int | None) -> str:
    """Where a record came from, `<file>#<record index>`, as the rejects table writes it."""
    return f"{path}#{record_index}"


def with_reject_fields(schema: pa.Schema) -> pa.Schema:
    """The step's output schema, every column nullable (a reject row fills only the reject fields)."""
    return pa.schema([f.with_nullable(True) for f in schema] + REJECT_FIELDS)


def rows_to_batches(rows: Iterable[dict], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    buffer: list[dict] = []
    for row in rows:
        buffer.append(row)
        if len(buffer) >= BATCH_ROWS:
            yield pa.RecordBatch.from_pylist(buffer, schema=schema)
            buffer = []
    if buffer:
        yield pa.RecordBatch.from_pylist(buffer, schema=schema)


def apply_step(df, step: Step):
    """Run `step` over every partition of `df`; rows out carry the reject columns."""
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = with_reject_fields(table(step.output).arrow())

    def run_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        records = (row for batch in batches for row in batch.to_pylist())
        yield from rows_to_batches(step.run(records), schema)

    return df.mapInArrow(run_partition, from_arrow_schema(schema))


def accepted(df, output: TableSchema):
    from pyspark.sql import functions as F

    return df.filter(F.col("reject_reason").isNull()).select(*output.names)


def rejected(df, stage: str, source: str):
    """The stage's reject rows in the shape of the `rejects` table."""
    from pyspark.sql import functions as F

    return df.filter(F.col("reject_reason").isNotNull()).select(
        F.lit(stage).alias("stage"),
        F.lit(source).alias("source"),
        F.col("reject_record_id").alias("record_id"),
        F.col("reject_origin").alias("origin"),
        F.col("reject_reason").alias("reason"),
        F.col("reject_detail").alias("detail"),
    )

"""Steps: per-record logic, kept apart from how it is executed.

After datatrove: a step is a small class whose `run` takes records and yields
records. A record it cannot use comes out as a reject row (the stage's reject
columns filled in) instead of disappearing. `apply_step` is the Spark executor:
it runs a step over each partition with `mapInArrow`, the step's heavy objects
built once per task by `setup`. A stage's counts are not kept by its steps (each
task would hold only its own share): Spark counts the output (stages.finish_stage).

Rows are held to the step's declared table (`schemas/<output>.yaml`): a key that
the table does not declare stops the step with an error naming the key and the
table, rather than becoming a silently missing column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from etl.pipeline.progress import row_counter
from etl.quality.rejects import Rejected
from etl.schema import TableSchema, table

# A step's reject row carries the per-record columns of the `rejects` table under a
# `reject_` prefix; the stage and source are the step's own, filled in by `rejected`.
PER_STAGE_REJECT_COLUMNS = ("stage", "source")
# Nullable, since a kept row leaves them empty.
REJECT_FIELDS = [pa.field(f"reject_{f.name}", f.type, nullable=True) for f in table("rejects").arrow()
                 if f.name not in PER_STAGE_REJECT_COLUMNS]
BATCH_ROWS = 1024


class UndeclaredColumnError(KeyError):
    """A step yielded a key that its output table does not declare."""

    def __str__(self) -> str:
        return str(self.args[0])


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
                yield from self.outputs_of(record)
            except Rejected as rejected:
                yield self.reject_row(rejected, self.record_id(record), self.origin(record))

    def outputs_of(self, record: dict) -> Iterable[dict]:
        # Whole, so that a record rejected half-way yields nothing but its reject.
        return list(self.process(record))

    @staticmethod
    def reject_row(rejected: Rejected, record_id: str | None, origin: str) -> dict:
        return {"reject_reason": rejected.reason, "reject_detail": rejected.detail[:2000],
                "reject_record_id": record_id, "reject_origin": origin}


def declared(record: dict, output: TableSchema) -> dict:
    """The values of `record` for the columns `output` declares (None where it has none)."""
    return {name: record.get(name) for name in output.names}


class FileStep(Step):
    """A step whose input record is a whole file (`path`, `format`, `compressed`, `release`) and
    which yields a row or a reject row (`reject_row`) for each record it reads in it."""

    def origin(self, record: dict) -> str:
        return origin_of(record["path"], 0)

    def outputs_of(self, record: dict) -> Iterable[dict]:
        # Streamed: one file may hold millions of records, each already rejected on its own by
        # `process`; what a file-level reject cuts short was complete, and stays.
        return self.process(record)


def origin_of(path: str | None, record_index: int | None) -> str:
    """Where a record came from, `<file>#<record index>`, as the rejects table writes it."""
    return f"{path}#{record_index}"


def with_reject_fields(schema: pa.Schema) -> pa.Schema:
    """The step's output schema, every column nullable (a reject row fills only the reject fields)."""
    return pa.schema([f.with_nullable(True) for f in schema] + REJECT_FIELDS)


def check_declared(row: dict, names: frozenset[str], step: Step) -> None:
    # `from_pylist(schema=...)` ignores keys outside the schema: a misspelt key would
    # silently leave its column null.
    undeclared = row.keys() - names
    if undeclared:
        raise UndeclaredColumnError(
            f"step {type(step).__name__} yielded column(s) {sorted(undeclared)} that table "
            f"{step.output!r} does not declare (schemas/{step.output}.yaml)")


def rows_to_batches(rows: Iterable[dict], schema: pa.Schema, step: Step) -> Iterator[pa.RecordBatch]:
    names = frozenset(schema.names)
    buffer: list[dict] = []
    for row in rows:
        check_declared(row, names, step)
        buffer.append(row)
        if len(buffer) >= BATCH_ROWS:
            yield pa.RecordBatch.from_pylist(buffer, schema=schema)
            buffer = []
    if buffer:
        yield pa.RecordBatch.from_pylist(buffer, schema=schema)


def apply_step(df, step: Step):
    """Run `step` over every partition of `df`; rows out carry the reject columns. A live display
    of the build gets the rows a task yielded (in an accumulator) when the task ends."""
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = with_reject_fields(table(step.output).arrow())
    counter = row_counter(df.sparkSession.sparkContext)

    def run_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        records = (row for batch in batches for row in batch.to_pylist())
        for out in rows_to_batches(step.run(records), schema, step):
            if counter is not None:
                counter.add(out.num_rows)
            yield out

    return df.mapInArrow(run_partition, from_arrow_schema(schema))


def accepted(df, output: TableSchema):
    from pyspark.sql import functions as F

    return df.filter(F.col("reject_reason").isNull()).select(*output.names)


def rejected(df, stage: str, source: str):
    """The stage's reject rows in the shape of the `rejects` table."""
    from pyspark.sql import functions as F

    per_stage = {"stage": F.lit(stage), "source": F.lit(source)}
    return df.filter(F.col("reject_reason").isNotNull()).select(
        *[per_stage.get(name, F.col(f"reject_{name}")).alias(name) for name in table("rejects").names])

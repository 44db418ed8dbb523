"""Expectations generated from a table's declaration in `schemas/`: its columns, their types, not-null
where `nullable: false`, and the table's unique key."""

from __future__ import annotations

import great_expectations.expectations as gxe
import pyarrow as pa

from etl.quality.expectations import rule
from etl.quality.release_checks import ExpectReleaseKeyToBeUnique
from etl.schema import TableSchema, parse_type

# Arrow type -> the pandas dtype a batch holds (etl.quality.batches reads ints and bools as
# pandas' nullable dtypes, so a null never turns an int column into floats); GX's names.
PANDAS_TYPES = {pa.string(): "object", pa.bool_(): "bool", pa.int32(): "int32", pa.int64(): "int64",
                pa.float32(): "float32", pa.float64(): "float64"}


def pandas_type(type_text: str) -> str:
    return PANDAS_TYPES.get(parse_type(type_text), "object")  # lists and structs are Python objects


def schema_expectations(schema: TableSchema, key: list[str] | None = None) -> list:
    """Column presence, types and not-null of `schema`; uniqueness of `key` across all shards."""
    expectations = [rule(gxe.ExpectTableColumnsToMatchSet, "columns_match_schema", "error",
                         f"exactly the columns of schemas/{schema.name}.yaml",
                         column_set=schema.names, exact_match=True)]
    for column in schema.columns:
        expectations.append(rule(gxe.ExpectColumnValuesToBeOfType, f"{column.name}_type", "error",
                                 f"{column.name} is {column.type}", column=column.name,
                                 type_=pandas_type(column.type)))
        if not column.nullable:
            expectations.append(rule(gxe.ExpectColumnValuesToNotBeNull, f"{column.name}_not_null", "error",
                                     f"{column.name} is never null (nullable: false)", column=column.name))
    if key:
        expectations.append(rule(ExpectReleaseKeyToBeUnique, "unique_key", "error",
                                 f"no two rows share ({', '.join(key)}), across all shards", column_list=key))
    return expectations

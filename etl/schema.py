"""Table schemas, declared once in `schemas/<table>.yaml`.

Each YAML file names a table and lists its columns with a type, whether it may
be null, and what it means. From that one declaration come the Arrow schema
(for `mapInArrow` and Parquet), the Spark StructType and the Hugging Face
`Features` of a release, so the three can never drift apart.

Types: string, bool, int32, int64, float32, float64, `list<T>` and
`struct<name: T, ...>` (nestable), e.g. `list<struct<location: string, topology: string>>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa
import yaml

from etl.paths import schemas_dir

_SCALARS = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
}


def parse_type(text: str) -> pa.DataType:
    """Parse a type expression such as `list<struct<a: string, b: int64>>`."""
    dtype, rest = _parse_type(text.replace(" ", ""))
    if rest:
        raise ValueError(f"unexpected trailing text {rest!r} in type {text!r}")
    return dtype


def _parse_type(text: str) -> tuple[pa.DataType, str]:
    if text.startswith("list<"):
        inner, rest = _parse_type(text[len("list<"):])
        if not rest.startswith(">"):
            raise ValueError(f"unclosed list<...> in {text!r}")
        return pa.list_(inner), rest[1:]
    if text.startswith("struct<"):
        rest = text[len("struct<"):]
        fields = []
        while True:
            name, sep, rest = rest.partition(":")
            if not sep:
                raise ValueError(f"struct field without a type in {text!r}")
            dtype, rest = _parse_type(rest)
            fields.append(pa.field(name, dtype))
            if rest.startswith(","):
                rest = rest[1:]
            elif rest.startswith(">"):
                return pa.struct(fields), rest[1:]
            else:
                raise ValueError(f"expected ',' or '>' in struct type {text!r}")
    for name, dtype in _SCALARS.items():
        if text.startswith(name):
            return dtype, text[len(name):]
    raise ValueError(f"unknown type {text!r}; known: {sorted(_SCALARS)}, list<T>, struct<...>")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    description: str


@dataclass(frozen=True)
class TableSchema:
    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, parse_type(c.type), nullable=c.nullable) for c in self.columns],
            metadata={"lifeqa.table": self.name},
        )

    def spark(self):
        from pyspark.sql.pandas.types import from_arrow_schema

        return from_arrow_schema(self.arrow())


def load_schema_file(path: Path) -> TableSchema:
    doc = yaml.safe_load(path.read_text())
    columns = tuple(
        Column(
            name=col["name"],
            type=col["type"],
            nullable=bool(col.get("nullable", True)),
            description=col.get("description", "").strip(),
        )
        for col in doc["columns"]
    )
    for col in columns:
        parse_type(col.type)  # fail at load time, naming the file, not deep inside Spark
    return TableSchema(name=doc["name"], description=doc.get("description", "").strip(), columns=columns)


@cache
def table(name: str) -> TableSchema:
    """The declared schema of table `name` (file `schemas/<name>.yaml`)."""
    path = schemas_dir() / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in schemas_dir().glob("*.yaml"))
        raise KeyError(f"no schema file {path}; known tables: {known}")
    return load_schema_file(path)

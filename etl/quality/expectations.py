"""The pieces a lifeqa suite is made of, on top of Great Expectations 1.x.

A suite is a plain GX `ExpectationSuite` (it round-trips through GX's JSON, so a
reviewer can read, edit and pass it back with `lifeqa validate --suite FILE`).
Its expectations are of two kinds:

- batch expectations: GX's own, run by GX's pandas data source on every batch of
  every Parquet shard of a table, their results added up over the batches. Where a
  rule needs Python (a checksum, RDKit), the expectation reads a *derived column*
  computed per batch by a function registered here under the column's name: the
  column holds the offending value of a row that breaks the rule and null otherwise,
  so GX's unexpected values are the offending values themselves.
- release expectations (`ReleaseExpectation`): rules over a whole table or the
  release (a key unique across shards, a group in one split, counts against the
  manifest). GX's pandas engine sees one batch at a time, so lifeqa computes them
  while it streams the shards and reports them as GX results of GX expectation
  classes, which is what lets GX's Data Docs render them.

Severity: `error` (GX `critical`) stops a build; `warn` (GX `warning`) is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import BatchExpectation

SEVERITIES = {"error": "critical", "warn": "warning"}
# How many offending values a result keeps (GX's SUMMARY format keeps 20 per batch).
EXAMPLES = 20


def severity_of(expectation) -> str:
    """error | warn, from GX's severity (an expectation file may say `info`: reported as warn)."""
    value = getattr(expectation.severity, "value", expectation.severity)
    return "error" if value == "critical" else "warn"


def rule_name(config) -> str:
    """The name a person sees: the rule's own (meta.rule), else the GX type and its column."""
    meta = config.meta or {}
    if meta.get("rule"):
        return meta["rule"]
    column = config.kwargs.get("column")
    return f"{config.type}({column})" if column else config.type


def rule(expectation_class: type, name: str, severity: str, description: str, **kwargs):
    """A GX expectation carrying a lifeqa rule name and severity."""
    return expectation_class(**kwargs, severity=SEVERITIES[severity], description=description, meta={"rule": name})


@dataclass(frozen=True)
class ReleaseContext:
    """What rules read besides the rows: the release directory, its manifest, dataset and config."""

    root: Path
    manifest: dict
    dataset: Any  # etl.pipeline.dataset.Dataset
    config: Any  # the dataset's config model
    # Per-dataset lookups a rule may need (PubChemQA: the compounds' titles), built lazily.
    lookups: dict


# ------------------------------------------------------------ derived columns

DerivedColumn = Callable[[Any, ReleaseContext], Any]  # (pandas batch, context) -> Series
DERIVED: dict[str, DerivedColumn] = {}


def derived(name: str):
    """Register `function(frame, context) -> Series` as the derived column `name`."""

    def register(function: DerivedColumn) -> DerivedColumn:
        DERIVED[name] = function
        return function

    return register


def offending(frame, broken, values):
    """A derived column: `values` where the row breaks the rule (`broken`, a boolean Series), else null."""
    import pandas as pd

    return pd.Series(values, index=frame.index, dtype=object).where(broken, None)


def null_rule(name: str, severity: str, description: str):
    """The batch expectation over derived column `name`: every value null, i.e. no row breaks the rule."""
    return rule(gxe.ExpectColumnValuesToBeNull, name, severity, description, column=name)


# ------------------------------------------------------------ release expectations


class ReleaseExpectation(BatchExpectation):
    """An expectation lifeqa computes over every shard of a table (GX never runs it: it sees one
    batch at a time). Subclasses say what they gather per batch and how they conclude."""

    metric_dependencies: ClassVar[tuple] = ()
    domain_keys: ClassVar[tuple] = ()

    def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
        raise NotImplementedError(f"{type(self).__name__} is computed by lifeqa over all shards, not by GX")

    def start(self, context: ReleaseContext):
        """A fresh accumulator: `.update(frame)` per batch, `.finish(rescan) -> (success, result)`,
        where `rescan()` streams the table's batches again (for the examples of a rare failure)."""
        raise NotImplementedError

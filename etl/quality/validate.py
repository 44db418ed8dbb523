"""Validating a release: its suites run shard by shard, batch by batch, through GX's pandas data source.

Why pandas per shard and not GX's Spark data source: GX 1.x's `spark` extra caps
`pyspark<4.2` and lifeqa runs PySpark 4.3. A release is already a set of Parquet
shards, so each batch (at most `BATCH_ROWS` rows) is read with pyarrow, handed to GX
as a pandas DataFrame and dropped; the per-batch results are added up. Memory is
one batch plus, for the expectations over a whole table (release_checks.py), 8-9
bytes a row. The same code validates a staged build and any release on disk.

    suites = generated_suites(context)          # one per table: data/, rejects/
    validation = validate_release(root)          # results, in GX's shapes
    validation.passed                            # every error-level expectation passed
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.core.expectation_validation_result import (ExpectationSuiteValidationResult,
                                                                   ExpectationValidationResult)

from etl.quality.expectations import (DERIVED, EXAMPLES, ReleaseContext, ReleaseExpectation, rule, rule_name,
                                      severity_of)
from etl.quality.rejects import REASONS
from etl.quality.release_checks import (ExpectRejectsToReconcileWithManifest, ExpectRowsToMatchManifest,
                                        ExpectSplitGroupsToBeDisjoint, ExpectSplitSharesToMatchRatios)
from etl.quality.schema_suite import schema_expectations
from etl.release.manifest import NotAReleaseError, read_manifest, release_dataset
from etl.schema import table
from etl.split import SPLITS

BATCH_ROWS = 65_536
# A split's share of the rows may be this far (absolute) from its ratio before a warning: a
# homology or scaffold split moves whole groups, so small releases land off the ratios.
SPLIT_TOLERANCE = 0.05
TABLES = ("data", "rejects")


def release_context(root: Path, manifest: dict | None = None) -> ReleaseContext:
    """The context of the release at `root` (its manifest read from disk unless given: a build
    validates its staging directory before the manifest is written)."""
    root = Path(root)
    manifest = read_manifest(root) if manifest is None else manifest
    dataset = release_dataset(root, manifest)
    try:
        config = dataset.config_model.model_validate(manifest["config"])
    except (KeyError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise NotAReleaseError(f"{root}: manifest.json holds no config this lifeqa can read: {exc}") from None
    return ReleaseContext(root=root, manifest=manifest, dataset=dataset, config=config, lookups={})


def dataset_rules(dataset):
    """The module with a dataset's own rules: etl/quality/<name>_suite.py, or None."""
    try:
        return importlib.import_module(f"etl.quality.{dataset.name}_suite")
    except ModuleNotFoundError:
        return None


def data_suite(context: ReleaseContext) -> gx.ExpectationSuite:
    dataset, rules = context.dataset, dataset_rules(context.dataset)
    expectations = schema_expectations(table(dataset.gold_table), key=list(dataset.sort_keys))
    expectations.append(rule(gxe.ExpectColumnValuesToBeInSet, "split_values", "error",
                             f"split is one of {', '.join(SPLITS)}", column="split", value_set=list(SPLITS)))
    if rules:
        expectations += rules.data_expectations(context)
        expectations += [rule(ExpectSplitGroupsToBeDisjoint, f"{column}_in_one_split", "error",
                              f"no {column} in two splits", column=column) for column in rules.split_groups(context)]
    ratios = context.config.split.ratios
    expectations += [
        rule(ExpectSplitSharesToMatchRatios, "split_proportions", "warn",
             f"each split's share of the rows within {SPLIT_TOLERANCE:.0%} of the config's ratios",
             ratios=ratios, tolerance=SPLIT_TOLERANCE),
        rule(ExpectRowsToMatchManifest, "rows_match_manifest", "error",
             "rows per split as the manifest counts them"),
    ]
    return gx.ExpectationSuite(name=dataset.gold_table, expectations=expectations, meta={"table": "data"})


def rejects_suite(context: ReleaseContext) -> gx.ExpectationSuite:
    stages = sorted(context.manifest.get("stages", {}))
    expectations = schema_expectations(table("rejects")) + [
        rule(gxe.ExpectColumnValuesToBeInSet, "known_reason", "error",
             "every reason is a code of etl/quality/rejects.py", column="reason", value_set=sorted(REASONS)),
        rule(gxe.ExpectColumnValuesToBeInSet, "known_stage", "error", "every stage is a stage of the build",
             column="stage", value_set=stages),
        rule(ExpectRejectsToReconcileWithManifest, "counts_reconcile", "error",
             "records in = out + rejected per stage and in total; reject rows per stage and reason as counted"),
    ]
    return gx.ExpectationSuite(name=f"{context.dataset.name}_rejects", expectations=expectations,
                               meta={"table": "rejects"})


def generated_suites(context: ReleaseContext) -> list[gx.ExpectationSuite]:
    return [data_suite(context), rejects_suite(context)]


def load_suite(path: Path) -> gx.ExpectationSuite:
    """A suite file in GX's JSON (as a release's quality/expectations/*.json); meta.table names the table."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    try:
        document = json.loads(Path(path).read_text())
        expectations = [ExpectationConfiguration(**e).to_domain_obj() for e in document["expectations"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NotAReleaseError(f"suite file {path} cannot be read as a GX expectation suite: {exc}") from None
    table_name = (document.get("meta") or {}).get("table", "data")
    if table_name not in TABLES:
        raise NotAReleaseError(f"suite file {path}: meta.table is {table_name!r}, not one of {', '.join(TABLES)}")
    return gx.ExpectationSuite(name=document.get("name", Path(path).stem), expectations=expectations,
                               meta={"table": table_name})


# ------------------------------------------------------------ running


def iter_batches(directory: Path, batch_rows: int = BATCH_ROWS) -> Iterator:
    """The rows of every Parquet shard in `directory`, as pandas DataFrames of at most `batch_rows`.
    Ints and bools keep pandas' nullable dtypes, so a null never turns a column into floats."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    dtypes = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    paths = sorted(Path(directory).glob("*.parquet"))
    for path in paths:
        shard = pq.ParquetFile(path)
        if shard.metadata.num_rows == 0:
            continue
        for batch in shard.iter_batches(batch_size=batch_rows):
            yield batch.to_pandas(types_mapper=dtypes.get, ignore_metadata=True)
    if paths and all(pq.ParquetFile(p).metadata.num_rows == 0 for p in paths):
        yield pq.read_schema(paths[0]).empty_table().to_pandas(types_mapper=dtypes.get)


def columns_read(expectation) -> list[str]:
    kwargs = expectation.configuration.kwargs
    return [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs] + list(kwargs.get("column_list", []))


def derived_columns(expectations) -> list[str]:
    return sorted({c for e in expectations for c in columns_read(e) if c in DERIVED})


def ephemeral_context():
    """An in-memory GX context. GX's default ephemeral one also makes a Data Docs site in a new
    temporary directory, which nothing here reads and nothing would remove."""
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    return gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False)))


class BatchRunner:
    """GX's pandas data source, one batch at a time. Expectations that read a derived column see the
    batch with those columns added; the others (the table's column set among them) see it as stored."""

    def __init__(self, suite_name: str, expectations: list, context: ReleaseContext):
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.release = context
        self.gx = ephemeral_context()
        self.gx.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self.gx.data_sources.add_pandas(name="release")
        self.definition = source.add_dataframe_asset(name=suite_name).add_batch_definition_whole_dataframe("batch")
        self.derived = derived_columns(expectations)
        reads_derived = [bool(set(columns_read(e)) & set(self.derived)) for e in expectations]
        self.suites = [gx.ExpectationSuite(name=suite_name, expectations=[e.configuration.to_domain_obj()
                                           for e, flag in zip(expectations, reads_derived) if flag is wanted])
                       for wanted in (False, True)]

    def validate(self, frame, suite) -> list[ExpectationValidationResult]:
        if not suite.expectations:
            return []
        batch = self.definition.get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(suite, result_format="SUMMARY").results

    def run(self, frame) -> list[ExpectationValidationResult]:
        stored, extended = self.suites
        with_derived = frame.assign(**{c: DERIVED[c](frame, self.release) for c in self.derived})
        return self.validate(frame, stored) + self.validate(with_derived, extended)


@dataclass
class Combined:
    """One expectation's result added up over the batches."""

    config: object
    success: bool = True
    result: dict = field(default_factory=dict)
    exception: dict | None = None

    def add(self, part: ExpectationValidationResult) -> None:
        self.success = self.success and bool(part.success)
        if part.exception_info and part.exception_info.get("raised_exception") and not self.exception:
            self.exception = part.exception_info
        result, mine = part.result or {}, self.result
        if "element_count" in result:
            for key in ("element_count", "unexpected_count", "missing_count"):
                mine[key] = mine.get(key, 0) + int(result.get(key) or 0)
            mine["partial_unexpected_list"] = (mine.get("partial_unexpected_list", [])
                                               + list(result.get("partial_unexpected_list", [])))[:EXAMPLES]
            mine["unexpected_percent"] = 100.0 * mine["unexpected_count"] / mine["element_count"] if mine["element_count"] else 0.0
        elif "observed_value" in result and (not part.success or "observed_value" not in mine):
            mine["observed_value"] = result["observed_value"]

    def as_gx(self) -> ExpectationValidationResult:
        return ExpectationValidationResult(success=self.success, expectation_config=self.config, result=self.result,
                                           exception_info=self.exception)


def run_suite(suite: gx.ExpectationSuite, context: ReleaseContext,
              batch_rows: int = BATCH_ROWS) -> ExpectationSuiteValidationResult:
    """Every expectation of `suite` over its table's shards, as one GX suite result."""
    from great_expectations.core.run_identifier import RunIdentifier

    directory = context.root / suite.meta["table"]
    per_batch = [e for e in suite.expectations if not isinstance(e, ReleaseExpectation)]
    over_table = [e for e in suite.expectations if isinstance(e, ReleaseExpectation)]
    runner = BatchRunner(suite.name, per_batch, context) if per_batch else None
    combined = {rule_name(e.configuration): Combined(e.configuration) for e in per_batch}
    accumulators = [e.start(context) for e in over_table]
    for frame in iter_batches(directory, batch_rows):
        if runner:
            for part in runner.run(frame):
                combined[rule_name(part.expectation_config)].add(part)
        for accumulator in accumulators:
            accumulator.update(frame)
    results = {name: c.as_gx() for name, c in combined.items()}
    for expectation, accumulator in zip(over_table, accumulators):
        success, result = accumulator.finish(lambda: iter_batches(directory, batch_rows))
        results[rule_name(expectation.configuration)] = ExpectationValidationResult(
            success=success, expectation_config=expectation.configuration, result=result)
    ordered = [results[rule_name(e.configuration)] for e in suite.expectations]
    passed = sum(bool(r.success) for r in ordered)
    return ExpectationSuiteValidationResult(
        success=passed == len(ordered), results=ordered, suite_name=suite.name,
        statistics={"evaluated_expectations": len(ordered), "successful_expectations": passed,
                    "unsuccessful_expectations": len(ordered) - passed,
                    "success_percent": 100.0 * passed / len(ordered) if ordered else 100.0},
        meta={"great_expectations_version": gx.__version__, "run_id": RunIdentifier(run_name="lifeqa"),
              "active_batch_definition": {"datasource_name": "release", "data_connector_name": "parquet_shards",
                                          "data_asset_name": suite.meta["table"], "batch_identifiers": {}},
              "release": {"dataset": context.manifest.get("dataset"), "version": context.manifest.get("version")}})


@dataclass
class Validation:
    """The suites a release was validated with and their results."""

    suites: list[gx.ExpectationSuite]
    results: list[ExpectationSuiteValidationResult]

    def failures(self, severity: str | None = None) -> list[dict]:
        """Failed expectations (of `severity`, or all): suite, rule, severity, counts and examples."""
        found = []
        for suite_result in self.results:
            for r in suite_result.results:
                config = r.expectation_config
                if r.success or (severity and severity_of(config) != severity):
                    continue
                result = r.result or {}
                found.append({"suite": suite_result.suite_name, "rule": rule_name(config),
                              "severity": severity_of(config), "type": config.type,
                              "description": config.description,
                              "unexpected_count": result.get("unexpected_count"),
                              "examples": result.get("partial_unexpected_list", [])[:EXAMPLES],
                              "observed_value": result.get("observed_value"),
                              "details": result.get("details"),
                              "exception": (r.exception_info or {}).get("exception_message")})
        return found

    @property
    def passed(self) -> bool:
        return not self.failures("error")

    def summary(self) -> dict:
        """What the manifest and the card say about the validation."""
        suites = []
        for suite, result in zip(self.suites, self.results):
            failed = [r for r in result.results if not r.success]
            suites.append({"suite": result.suite_name, "table": suite.meta["table"],
                           "expectations": len(result.results),
                           "failed_errors": sorted(rule_name(r.expectation_config) for r in failed
                                                   if severity_of(r.expectation_config) == "error"),
                           "failed_warnings": sorted(rule_name(r.expectation_config) for r in failed
                                                     if severity_of(r.expectation_config) == "warn")})
        return {"passed": self.passed, "great_expectations_version": gx.__version__, "suites": suites}

    def as_json(self) -> dict:
        return {**self.summary(), "failures": self.failures(),
                "results": [r.to_json_dict() for r in self.results]}


def validate_release(root: Path, manifest: dict | None = None, suite_files: list[Path] | None = None,
                     batch_rows: int = BATCH_ROWS) -> Validation:
    """Validate the release at `root` with the suites of `suite_files` (default: the generated ones)."""
    context = release_context(root, manifest)
    dataset_rules(context.dataset)  # its derived columns and expectation classes, which a suite file may name
    suites = [load_suite(path) for path in suite_files] if suite_files else generated_suites(context)
    return Validation(suites, [run_suite(suite, context, batch_rows) for suite in suites])

"""One build, any dataset: run its stages, reconcile the counts, write the release."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from etl import __version__
from etl.build.inputs import ResolvedInputs
from etl.fileio import file_sha256
from etl.config import config_document, config_hash
from etl.release.card import CardInfo, render_card
from etl.release.writer import rows_sha256, staged_directory, write_json, write_sorted_parquet, write_split_data
from etl.schema import table


class AccountingError(RuntimeError):
    """Records in != records released + records rejected: a bug, never shipped."""


class RejectFloodError(RuntimeError):
    """More records rejected than `quality.max_reject_fraction` allows."""


@dataclass
class DatasetSpec:
    name: str
    gold_table: str
    sort_keys: list[str]
    card: CardInfo
    build: Callable  # (spark, ResolvedInputs, config) -> (gold df, rejects df, [StageResult])
    # (gold df) -> lines for the card's licence list, for datasets whose rows carry their own licence
    licenses: Callable | None = None


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def default_version() -> str:
    return datetime.now(timezone.utc).strftime("%Y.%m.%d")


def reconcile(stages) -> dict:
    """Counts of the whole build; raises if any record went missing between stages."""
    rejected_by_reason: Counter[str] = Counter()
    for stage in stages:
        rejected_by_reason.update(stage.rejected)
        expected = stage.records_out + sum(stage.rejected.values())
        if stage.records_in != expected:
            raise AccountingError(f"stage {stage.name}: {stage.records_in} in but {stage.records_out} out "
                                  f"+ {sum(stage.rejected.values())} rejected")
    for before, after in zip(stages, stages[1:]):
        if after.records_in != before.records_out:
            raise AccountingError(f"{before.name} passed {before.records_out} records, {after.name} got {after.records_in}")
    records_in, released = stages[0].records_in, stages[-1].records_out
    if records_in != released + sum(rejected_by_reason.values()):
        raise AccountingError(f"{records_in} in != {released} released + {sum(rejected_by_reason.values())} rejected")
    return {"records_in": records_in, "records_released": released,
            "records_rejected": sum(rejected_by_reason.values()),
            "rejected_by_reason": dict(sorted(rejected_by_reason.items()))}


def check_reject_fraction(counts: dict, quality) -> None:
    counted = Counter({reason: n for reason, n in counts["rejected_by_reason"].items()
                       if reason not in quality.not_counted_reasons})
    rejected, total = sum(counted.values()), counts["records_in"]
    if total and rejected / total > quality.max_reject_fraction:
        top = ", ".join(f"{r}: {n}" for r, n in counted.most_common(3))
        raise RejectFloodError(
            f"{rejected} of {total} records rejected ({rejected / total:.1%}), more than "
            f"quality.max_reject_fraction={quality.max_reject_fraction:.1%} allows (most common: {top}). "
            "Nothing was written. Check the inputs, or raise the threshold in the config if this is expected.")


def records_per_input(parsed) -> dict[str, int]:
    """{input path: records read}, kept and rejected alike, from a parse stage's output."""
    from pyspark.sql import functions as F

    origin = F.coalesce(F.col("origin_file"), F.regexp_extract("reject_origin", r"^(.*)#\d+$", 1))
    return {row["file"]: row["count"] for row in parsed.groupBy(origin.alias("file")).count().collect()}


def run_build(spec: DatasetSpec, spark, inputs: ResolvedInputs, config, out: Path, version: str | None,
              force: bool, report: Callable[[str], None] = lambda step: None) -> dict:
    """Build `spec` from `inputs` into the release directory `out`; return its manifest.
    `report` hears the name of each step as it starts (the CLI shows it)."""
    from pyspark import StorageLevel

    started = utc_now()
    gold, rejects, stages = spec.build(spark, inputs, config)
    # Counted, listed and written split by split: computed once.
    gold = gold.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = reconcile(stages)
        check_reject_fraction(counts, config.quality)
        per_input = records_per_input(stages[0].df)
        rows_by_split = {row["split"]: row["count"] for row in gold.groupBy("split").count().collect()}
        counts |= {"rows": sum(rows_by_split.values()), "rows_by_split": dict(sorted(rows_by_split.items()))}
        gold_schema = table(spec.gold_table)
        source_releases = sorted(r["source_release"] for r in gold.select("source_release").distinct().collect()
                                 if r["source_release"])
        with staged_directory(out, force) as staging:
            report("writing the release")
            data = write_split_data(gold.select(*gold_schema.names), staging, spec.sort_keys, rows_by_split,
                                    config.release.rows_per_shard, gold_schema.arrow())
            reject_files = write_sorted_parquet(
                rejects.select(*table("rejects").names), staging / "rejects", "rejects",
                ["stage", "origin", "reason"], counts["records_rejected"], config.release.rows_per_shard,
                table("rejects").arrow())
            data_files = [p for paths in data.values() for p in paths]
            manifest = {
                "dataset": spec.name,
                "version": version or default_version(),
                "created": utc_now(),
                "build_started": started,
                "lifeqa_version": __version__,
                "spark": {"version": spark.version, "master": spark.sparkContext.master},
                "config": config_document(config),
                "config_sha256": config_hash(config),
                "inputs": [entry | {"records": per_input.get(entry["path"], 0)} for entry in inputs.manifest_entries()],
                "skipped_inputs": inputs.skipped,
                "snapshots": inputs.snapshots,
                "source_releases": source_releases,
                "stages": {stage.name: stage.as_manifest() for stage in stages},
                "counts": counts,
                "reconciled": True,
                "files": {str(p.relative_to(staging)): file_sha256(p) for p in data_files + reject_files},
                "content_sha256": rows_sha256(data_files, staging),
            }
            write_json(staging / "manifest.json", manifest)
            card = replace(spec.card, licenses_detail=spec.licenses(gold)) if spec.licenses else spec.card
            (staging / "README.md").write_text(render_card(card, manifest))
        return manifest
    finally:
        # A long-lived session (a notebook, the test suite) runs many builds; what one build
        # cached must not crowd the next one's aggregations out of memory.
        for df in [gold] + [stage.df for stage in stages]:
            df.unpersist()

"""One build, any dataset: run its stages, reconcile the counts, write the release."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from etl import __version__
from etl.config import config_document, config_hash
from etl.fileio import file_sha256
from etl.pipeline.accounting import check_reject_fraction, reconcile, records_per_input
from etl.pipeline.dataset import Dataset
from etl.pipeline.inputs import ResolvedInputs
from etl.pipeline.progress import step_started
from etl.release.card import render_card
from etl.release.leakage import leakage_report
from etl.release.plots import draw_plots
from etl.release.statistics import release_statistics
from etl.release.writer import rows_sha256, staged_directory, write_json, write_sorted_parquet, write_split_data
from etl.schema import TableSchema, table


class NullInRequiredColumnError(ValueError):
    """A column that its schema declares `nullable: false` holds nulls."""


class EmptyReleaseError(ValueError):
    """No record survived the build, and the config does not allow an empty release."""


def check_not_empty(counts: dict, release_settings) -> None:
    if counts["records_released"] or release_settings.allow_empty:
        return
    reasons = ", ".join(f"{r}: {n}" for r, n in sorted(counts["rejected_by_reason"].items(), key=lambda x: -x[1])[:3])
    raise EmptyReleaseError(
        f"no record survived the build ({counts['records_in']} in, all rejected; most common: {reasons or 'none'}). "
        "Nothing was written; set release.allow_empty in the config to write an empty release.")


def incomplete_inputs(rejects) -> list[str]:
    """Origins of files whose reading stopped early (a remainder that could not be read)."""
    from pyspark.sql import functions as F

    rows = rejects.filter(F.col("reason") == "unreadable_remainder").select("origin").distinct().collect()
    return sorted(row["origin"] for row in rows)


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def default_version() -> str:
    return datetime.now(timezone.utc).strftime("%Y.%m.%d")


def previous_release(path: str | None) -> dict | None:
    """The identity of the release whose splits this build kept, as its manifest gives it."""
    if path is None:
        return None
    manifest = json.loads((Path(path) / "manifest.json").read_text())
    return {"path": str(Path(path).resolve()), "version": manifest.get("version"),
            "content_sha256": manifest.get("content_sha256")}


def check_not_null(df, schema: TableSchema) -> None:
    """Every `nullable: false` column of `schema` is free of nulls in `df` (one pass), or raise naming them."""
    from pyspark.sql import functions as F

    required = [c.name for c in schema.columns if not c.nullable]
    if not required:
        return
    nulls = df.select(*[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in required]).first()
    found = {c: nulls[c] for c in required if nulls[c]}
    if found:
        listed = ", ".join(f"{c} ({n} rows)" for c, n in found.items())
        raise NullInRequiredColumnError(
            f"table {schema.name}: nulls in columns declared nullable: false (schemas/{schema.name}.yaml): "
            f"{listed}. Nothing was written.")


def build_release(dataset: Dataset, spark, inputs: ResolvedInputs, config, out: Path, version: str | None,
                  force: bool, command: str = "") -> dict:
    """Build `dataset` from `inputs` into the release directory `out`; return its manifest.
    `command` is the command line that asked for the build, recorded in the manifest and the card.
    Its stages and release steps are told to the progress watching it (progress.watching), if any."""
    from pyspark import StorageLevel

    started = utc_now()
    gold, rejects, stages = dataset.build(spark, inputs, config)
    gold_schema, rejects_schema = table(dataset.gold_table), table("rejects")
    # Checked, counted, listed and written split by split: computed once.
    gold = gold.persist(StorageLevel.MEMORY_AND_DISK_DESER)
    try:
        step_started("checking the counts")  # also where the gold rows are computed, on their first use
        counts = reconcile(stages)
        check_reject_fraction(counts, config.quality)
        check_not_empty(counts, config.release)
        check_not_null(gold, gold_schema)
        check_not_null(rejects, rejects_schema)
        per_input = records_per_input(stages[0].df)
        rows_by_split = {row["split"]: row["count"] for row in gold.groupBy("split").count().collect()}
        counts |= {"rows": sum(rows_by_split.values()), "rows_by_split": dict(sorted(rows_by_split.items()))}
        step_started("counting for the card")
        statistics = release_statistics(gold, dataset, config.release.license)
        source_releases = sorted(r["source_release"] for r in gold.select("source_release").distinct().collect()
                                 if r["source_release"])
        with staged_directory(out, force) as staging:
            step_started("writing the release")
            data = write_split_data(gold.select(*gold_schema.names), staging, list(dataset.sort_keys), rows_by_split,
                                    config.release.rows_per_shard, gold_schema.arrow())
            # Sorted on every column, so that equal rejects give equal rows in equal order (rejects_sha256).
            reject_files = write_sorted_parquet(
                rejects.select(*rejects_schema.names), staging / "rejects", "rejects",
                ["stage", "origin", "reason", *[c for c in rejects_schema.names if c not in ("stage", "origin", "reason")]],
                counts["records_rejected"], config.release.rows_per_shard, rejects_schema.arrow())
            data_files = [p for paths in data.values() for p in paths]
            manifest = {
                "dataset": dataset.name,
                "version": version or default_version(),
                "created": utc_now(),
                "build_started": started,
                "lifeqa_version": __version__,
                "command": command,
                "spark": {"version": spark.version, "master": spark.sparkContext.master},
                "config": config_document(config),
                "config_sha256": config_hash(config),
                "inputs": [entry | {"records": per_input.get(entry["path"], 0)} for entry in inputs.manifest_entries()],
                "skipped_inputs": inputs.skipped,
                "snapshots": inputs.snapshots,
                "previous_release": previous_release(config.split.previous),
                "source_releases": source_releases,
                "stages": {stage.name: stage.as_manifest() for stage in stages},
                "counts": counts,
                "reconciled": True,
                "incomplete_inputs": incomplete_inputs(rejects),
                "files": {str(p.relative_to(staging)): file_sha256(p) for p in data_files + reject_files},
                "content_sha256": rows_sha256(data_files, staging, spark),
                "rejects_sha256": rows_sha256(reject_files, staging, spark),
                "statistics": statistics,
                "plots": draw_plots(statistics, staging),
            }
            step_started("validating the release")
            from etl.quality.gate import quality_gate  # Great Expectations loads only when a build gets here

            manifest["quality"] = quality_gate(staging, manifest)
            step_started("measuring leakage")
            manifest["leakage"] = leakage_report(staging, dataset, config.split)
            write_json(staging / "manifest.json", manifest)
            card = dataset.card(config)
            if dataset.licenses:
                card = replace(card, licenses_detail=dataset.licenses(gold))
            (staging / "README.md").write_text(render_card(card, manifest))
        return manifest
    finally:
        # A long-lived session (a notebook, the test suite) runs many builds; what one build
        # cached must not crowd the next one's aggregations out of memory.
        for df in [gold] + [stage.df for stage in stages]:
            df.unpersist()

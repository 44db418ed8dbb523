"""The accounting of a build: every record in is released or rejected, stage by stage."""

from __future__ import annotations

from collections import Counter


class AccountingError(RuntimeError):
    """Records in != records released + records rejected: a bug, never shipped."""


class RejectFloodError(RuntimeError):
    """More records rejected than `quality.max_reject_fraction` allows."""


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

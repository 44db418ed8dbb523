"""The quality gate of a build: the staged release validated before it is committed."""

from __future__ import annotations

import time
from pathlib import Path

from etl.quality.validate import Validation, validate_release

# How many failed expectations, and offending values of each, the error message shows.
SHOWN_FAILURES, SHOWN_EXAMPLES = 10, 3


class QualityGateError(ValueError):
    """An error-level expectation failed: the release is not written."""


def describe_failure(failure: dict) -> str:
    """One line: suite/rule, how many rows broke it, a few offending values (or what was observed)."""
    head = f"{failure['suite']}/{failure['rule']} ({failure['description'] or failure['type']})"
    if failure["exception"]:
        return f"{head}: could not be evaluated: {failure['exception']}"
    if failure["unexpected_count"] is not None:
        examples = ", ".join(repr(e) for e in failure["examples"][:SHOWN_EXAMPLES])
        return f"{head}: {failure['unexpected_count']} unexpected" + (f", e.g. {examples}" if examples else "")
    details = failure["details"] or {}
    listed = next((v for v in details.values() if v), None)
    shown = "; ".join(map(str, listed[:SHOWN_EXAMPLES])) if isinstance(listed, list) else listed
    return f"{head}: observed {failure['observed_value']}" + (f" ({shown})" if shown else "")


def failure_report(validation: Validation, severity: str = "error") -> str:
    failures = validation.failures(severity)
    lines = [f"  {describe_failure(f)}" for f in failures[:SHOWN_FAILURES]]
    if len(failures) > SHOWN_FAILURES:
        lines.append(f"  ... and {len(failures) - SHOWN_FAILURES} more")
    return "\n".join(lines)


def quality_gate(staging: Path, manifest: dict) -> dict:
    """Validate the staged release; raise QualityGateError naming the failed error-level
    expectations, or write quality/ into it and return the summary for the manifest."""
    from etl.quality.docs import write_quality

    started = time.perf_counter()
    validation = validate_release(staging, manifest)
    if not validation.passed:
        raise QualityGateError(f"the release failed {len(validation.failures('error'))} error-level "
                               f"expectation(s); nothing was written:\n{failure_report(validation)}")
    summary = write_quality(validation, staging)
    return summary | {"seconds": round(time.perf_counter() - started, 3)}

"""`lifeqa build` off a terminal (CI, a log; CliRunner is one): no live display, one line per
finished stage with the manifest's counts, one per release step, then the summary as before."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from etl.cli import app

pytestmark = [pytest.mark.spark, pytest.mark.slow]

RELEASE_STEPS = ["checking the counts", "counting for the card", "writing the release", "validating the release",
                 "measuring leakage"]
ELAPSED = r"(\d+\.\d s|\d+:\d\d(:\d\d)?)"


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    out = tmp_path_factory.mktemp("progress") / "uniprotqa"
    result = CliRunner().invoke(app, ["build", "uniprotqa", "--out", str(out), "--master", "local[2]"])
    assert result.exit_code == 0, result.output
    return result.output.splitlines(), json.loads((out / "manifest.json").read_text())


def progress_lines(lines: list[str]) -> list[str]:
    """The lines before the summary's first table."""
    return lines[:next(i for i, line in enumerate(lines) if "records per stage" in line)]


def test_one_line_per_stage_with_the_manifests_counts_then_one_per_release_step(built):
    lines, manifest = built
    shown = progress_lines(lines)
    stages, steps = shown[:-len(RELEASE_STEPS)], shown[-len(RELEASE_STEPS):]
    by_stage = {line.split(":")[0]: line for line in stages}
    assert len(by_stage) == len(stages) and by_stage.keys() == manifest["stages"].keys(), shown
    for name, counts in manifest["stages"].items():
        assert re.fullmatch(rf"{name}: {counts['records_in']:,} in, {counts['records_out']:,} out, "
                            rf"{counts['rejected_total']:,} rejected, {ELAPSED}", by_stage[name]), by_stage[name]
    assert stages[0].startswith("parse: ") and stages[-1].startswith("qa: ")  # in the order they ran
    for line, step in zip(steps, RELEASE_STEPS):
        assert re.fullmatch(rf"{step}: {ELAPSED}", line), line


def test_the_summary_follows_as_before_with_no_live_display(built):
    lines, manifest = built
    assert not any("\x1b" in line or "✓" in line for line in lines)  # no cursor moves, no live rows
    summary = lines[len(progress_lines(lines)):]
    assert summary[0].strip() == f"{manifest['dataset']} {manifest['version']}: records per stage"
    assert any("rejected by reason" in line for line in summary) and any("QA rows by split" in line for line in summary)
    assert any(line.startswith("wrote ") for line in summary)

"""Starting Spark quietly prints nothing, not even Java's incubator-module notice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def start_spark(verbose: bool) -> subprocess.CompletedProcess:
    # In a process of its own: the test session's SparkSession has started its JVM already.
    script = f"from etl.spark import get_spark; get_spark(master='local[1]', verbose={verbose}).range(3).count()"
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.spark
def test_a_quiet_start_prints_nothing() -> None:
    result = start_spark(verbose=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.spark
def test_a_verbose_start_shows_the_jvm_notices() -> None:
    result = start_spark(verbose=True)
    assert result.returncode == 0, result.stderr
    assert "WARNING: Using incubator modules: jdk.incubator.vector" in result.stderr

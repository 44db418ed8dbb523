"""The quality gate inside `lifeqa build`: a release whose rows break an error-level expectation is not written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from etl.cli import app

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_build_that_breaks_an_error_expectation_writes_nothing(spark, shared_data, tmp_path, monkeypatch):
    # The real entries are good, so the rule is made stricter than they are: accessions must start with Q.
    monkeypatch.setattr("etl.quality.uniprotqa_suite.ACCESSION", r"^Q")
    out = tmp_path / "uniprotqa"
    result = CliRunner().invoke(app, ["build", "uniprotqa", "--input", str(shared_data / "uniprot/json/O00115.json"),
                                      "--input", str(shared_data / "uniprot/json/A4Q9F3.json"), "--out", str(out),
                                      "--master", "local[2]", "--split-strategy", "hash"])
    assert result.exit_code == 1, result.output
    assert "accession_format" in result.output and "nothing was written" in result.output
    assert "'O00115'" in result.output  # an offending value is shown
    assert not out.exists()
    assert not list(tmp_path.glob(".uniprotqa.*"))  # no staging directory left behind

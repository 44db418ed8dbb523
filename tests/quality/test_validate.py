"""Seeded corruptions of good releases, each caught by the expectation named for it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from etl.cli import app
from etl.quality.validate import validate_release
from tests.quality.conftest import copy_release, edit_manifest

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def failed_rules(release) -> set[str]:
    return {f["rule"] for f in validate_release(release).failures("error")}


def set_cell(column, value, row=0):
    def mutate(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return mutate


def duplicate_first_row(frame):
    import pandas as pd

    return pd.concat([frame, frame.iloc[[0]]], ignore_index=True)


def other_split_for_one_row(frame):
    """One row of a protein with several QA rows moved to another split than its other rows."""
    shared = frame[frame.duplicated("sequence_sha256", keep=False)].index[0]
    frame["split"] = frame["split"].astype(object)
    frame.loc[shared, "split"] = "test" if frame.loc[shared, "split"] != "test" else "train"
    return frame


def residue_outside_alphabet(frame):
    frame["sequence"] = frame["sequence"].astype(object)
    frame.loc[0, "sequence"] = frame.loc[0, "sequence"] + "1"
    return frame


def evidence_tag(frame):
    frame["answer"] = frame["answer"].astype(object)
    frame.loc[0, "answer"] = frame.loc[0, "answer"] + " {ECO:0000269|PubMed:12345}"
    return frame


UNIPROT_CORRUPTIONS = {
    "null key": ("data", set_cell("accession", None), "accession_not_null"),
    "duplicate key": ("data", duplicate_first_row, "unique_key"),
    "residue outside the alphabet": ("data", residue_outside_alphabet, "sequence_alphabet"),
    "sha256 that does not match": ("data", set_cell("sequence_sha256", "0" * 64), "sha256_mismatch"),
    "evidence tag in an answer": ("data", evidence_tag, "no_evidence_tags"),
    "group in two splits": ("data", other_split_for_one_row, "sequence_sha256_in_one_split"),
    "unknown question": ("data", set_cell("question", "What colour is this protein?"), "question_in_templates"),
    "count that does not reconcile": ("rejects", lambda frame: frame.iloc[1:], "counts_reconcile"),
    "unknown reject reason": ("rejects", set_cell("reason", "lost_somewhere"), "known_reason"),
}


def test_clean_releases_pass_and_carry_their_validation(uniprotqa_release, pubchemqa_release):
    for release in (uniprotqa_release, pubchemqa_release):
        validation = validate_release(release)
        assert validation.passed, validation.failures()
        manifest = json.loads((release / "manifest.json").read_text())
        assert manifest["quality"]["passed"]
        assert (release / manifest["quality"]["data_docs"]).is_file()
        assert (release / manifest["quality"]["results"]).is_file()
        assert "## Quality" in (release / "README.md").read_text()


@pytest.mark.parametrize("corruption", sorted(UNIPROT_CORRUPTIONS))
def test_uniprotqa_corruption_is_caught_by_name(corruption, uniprotqa_release, corrupted):
    table, mutate, rule = UNIPROT_CORRUPTIONS[corruption]
    assert rule in failed_rules(corrupted(uniprotqa_release, table, mutate))


def test_manifest_that_does_not_add_up_is_caught(uniprotqa_release, tmp_path):
    release = copy_release(uniprotqa_release, tmp_path)
    edit_manifest(release, lambda m: m["counts"].update(records_in=m["counts"]["records_in"] + 1))
    assert "counts_reconcile" in failed_rules(release)


def test_warning_is_recorded_and_does_not_fail(uniprotqa_release, tmp_path):
    """Split shares far from the ratios break a warn-level expectation: reported, not a failure."""
    release = copy_release(uniprotqa_release, tmp_path)
    edit_manifest(release, lambda m: m["config"]["split"].update(ratios={"train": 0.1, "validation": 0.1, "test": 0.8}))
    validation = validate_release(release)
    assert validation.passed
    assert [f["rule"] for f in validation.failures("warn")] == ["split_proportions"]
    assert validation.summary()["suites"][0]["failed_warnings"] == ["split_proportions"]


def test_validate_command_exit_codes_and_names(uniprotqa_release, corrupted):
    runner = CliRunner()
    clean = runner.invoke(app, ["validate", str(uniprotqa_release)])
    assert clean.exit_code == 0, clean.output
    broken = corrupted(uniprotqa_release, "data", set_cell("sequence_sha256", "0" * 64))
    result = runner.invoke(app, ["validate", str(broken), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert not report["passed"] and "sha256_mismatch" in {f["rule"] for f in report["failures"]}
    assert "sha256_mismatch" in runner.invoke(app, ["validate", str(broken)]).output


def test_validate_with_a_suite_file(uniprotqa_release, corrupted):
    """A suite file (the release's own, edited) replaces the generated suites: here the sha256 rule
    is dropped, so a release whose only fault is a sha256 passes it."""
    broken = corrupted(uniprotqa_release, "data", set_cell("sequence_sha256", "0" * 64))
    suite = json.loads((broken / "quality/expectations/uniprotqa_gold.json").read_text())
    suite["expectations"] = [e for e in suite["expectations"] if e["meta"].get("rule") != "sha256_mismatch"]
    path = broken / "edited.json"
    path.write_text(json.dumps(suite))
    result = CliRunner().invoke(app, ["validate", str(broken), "--suite", str(path)])
    assert result.exit_code == 0, result.output


def test_release_built_before_validation_existed(uniprotqa_release, tmp_path):
    """A release without quality/ and without manifest['quality'] validates the same."""
    import shutil

    release = copy_release(uniprotqa_release, tmp_path)
    shutil.rmtree(release / "quality")
    edit_manifest(release, lambda m: m.pop("quality"))
    assert validate_release(release).passed


def test_not_a_release_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2 and "no manifest.json" in result.output

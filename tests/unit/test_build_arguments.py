"""`lifeqa build` checks its arguments before Spark starts: one line and exit 2 (usage) or 1 each."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from etl.cli import app


@pytest.fixture(autouse=True)
def no_spark(monkeypatch):
    """Any check that lets the build reach Spark fails the test (and it would not be quick)."""

    def started(*args, **kwargs):
        raise AssertionError("Spark was started")

    monkeypatch.setattr("etl.spark.get_spark", started)


def build(*args: str):
    started = time.monotonic()
    result = CliRunner().invoke(app, ["build", "uniprotqa", *args])
    assert time.monotonic() - started < 1.0, "argument checks must answer at once"
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError), result.output
    return result


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_an_existing_release_needs_force(tmp_path):
    result = build("--out", str(tmp_path))
    assert result.exit_code == 1 and "already exists; pass --force" in error_line(result)


def test_out_that_is_a_file_is_a_usage_error_even_with_force(tmp_path):
    (tmp_path / "release").write_text("not a directory")
    result = build("--out", str(tmp_path / "release"), "--force")
    assert result.exit_code == 2 and "is a file, not a directory" in error_line(result)


def test_out_under_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "plain").write_text("")
    result = build("--out", str(tmp_path / "plain" / "sub" / "release"))
    assert result.exit_code == 2 and "plain is a file" in error_line(result)


def test_out_where_nothing_can_be_written_is_a_usage_error():
    # /proc refuses new files even to root, for whom permission bits alone would not.
    result = build("--out", "/proc/1/lifeqa-release")
    assert result.exit_code == 2 and "cannot write in /proc/1" in error_line(result)


def test_a_group_by_naming_no_column_fails_at_load(tmp_path):
    config = tmp_path / "uniprotqa.yaml"
    config.write_text("split:\n  group_by: sequence_md5\n")
    result = build("--config", str(config), "--out", str(tmp_path / "release"))
    assert result.exit_code == 1 and "'sequence_md5' names no column of uniprot_silver" in result.output


def test_a_missing_input_is_named(tmp_path):
    result = build("--input", str(tmp_path / "nowhere.dat"), "--out", str(tmp_path / "release"))
    assert result.exit_code == 1 and "input not found" in error_line(result)


def test_a_build_clears_only_its_own_leftovers(tmp_path, monkeypatch):
    mine = [tmp_path / ".release.staging-0badf00d", tmp_path / ".release.replaced-0badf00d"]
    other = tmp_path / ".other.staging-0badf00d"
    for leftover in [*mine, other]:
        (leftover / "data").mkdir(parents=True)
    monkeypatch.setattr("etl.spark.get_spark", lambda *a, **k: (_ for _ in ()).throw(ValueError("stop here")))
    result = build("--out", str(tmp_path / "release"))
    assert result.exit_code == 1 and "stop here" in result.output
    assert not any(p.exists() for p in mine) and other.exists()
    assert not (tmp_path / ".release.lock").exists()


def test_a_homology_split_without_mmseqs_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = build("--out", str(tmp_path / "release"), "--split-strategy", "homology")
    assert result.exit_code == 1 and "apt-get install -y mmseqs2" in error_line(result)


def test_a_strategy_that_does_not_fit_the_entity_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["build", "pubchemqa", "--out", str(tmp_path / "r"), "--split-strategy", "homology"])
    assert result.exit_code == 1 and "does not split molecules; one of: scaffold, hash" in result.output


def test_a_previous_release_must_be_a_release_of_the_same_dataset(tmp_path):
    previous = tmp_path / "previous"
    previous.mkdir()
    result = build("--out", str(tmp_path / "release"), "--previous", str(previous))
    assert result.exit_code == 1 and "is not a release directory" in error_line(result)
    (previous / "manifest.json").write_text('{"dataset": "pubchemqa", "config": {"split": {}}}')
    result = build("--out", str(tmp_path / "release"), "--previous", str(previous))
    assert result.exit_code == 1 and "is a pubchemqa release, not uniprotqa" in error_line(result)


def test_a_hash_split_keeps_a_previous_release_only_with_its_settings(tmp_path):
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "manifest.json").write_text(
        '{"dataset": "uniprotqa", "config": {"split": {"strategy": "hash", "salt": "another"}}}')
    result = build("--out", str(tmp_path / "release"), "--previous", str(previous), "--split-strategy", "hash")
    assert result.exit_code == 1 and "these differ: salt" in error_line(result)

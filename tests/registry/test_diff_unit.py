"""The diff over hand-made UniProtQA releases (Arrow only, no Spark): every kind of change, and the
same answer whatever the number of buckets."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.release.diff import DiffError, diff_releases
from etl.release.registry import directory_location
from etl.schema import table

from conftest import lifeqa

QUESTION = {"function": "What is the function of this protein?", "family": "What is the protein family?"}


def release(root: Path, version: str, rows: list[tuple[str, str, str, str]], rejected: dict, inputs: list[dict],
            config: dict) -> Path:
    """A release directory of (accession, field, answer, split) rows, one shard per split."""
    schema = table("uniprotqa_gold").arrow()
    directory = root / version
    (directory / "data").mkdir(parents=True)
    for split in ("train", "validation", "test"):
        chosen = [r for r in rows if r[3] == split]
        columns = {"accession": [r[0] for r in chosen], "sequence": ["MK" for _ in chosen],
                   "sequence_sha256": ["0" * 64 for _ in chosen], "field": [r[1] for r in chosen],
                   "question": [QUESTION[r[1]] for r in chosen], "answer": [r[2] for r in chosen],
                   "reviewed": [True for _ in chosen], "organism": [None for _ in chosen],
                   "taxon_id": [None for _ in chosen], "entry_version": [1 for _ in chosen],
                   "source_release": ["2026_05" for _ in chosen], "split": [split for _ in chosen]}
        pq.write_table(pa.table(columns, schema=schema), directory / "data" / f"{split}-00000-of-00001.parquet")
    manifest = {"dataset": "uniprotqa", "version": version, "content_sha256": version * 8,
                "counts": {"rows": len(rows), "rejected_by_reason": rejected}, "inputs": inputs,
                "source_releases": sorted({i["source_release"] for i in inputs}), "config": config}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


@pytest.fixture
def two_versions(tmp_path):
    first = [{"path": "a.dat", "sha256": "a" * 64, "source_release": "2026_04", "records": 3}]
    second = [{"path": "a.dat", "sha256": "b" * 64, "source_release": "2026_05", "records": 4}]
    old = release(tmp_path, "2026.11", [("P1", "function", "binds", "train"), ("P1", "family", "kinase", "train"),
                                        ("P2", "function", "cuts", "test"), ("P3", "function", "gone", "validation")],
                  {"not_reviewed": 2}, first, {"split": {"seed": 1, "strategy": "homology"}, "dataset": "uniprotqa"})
    new = release(tmp_path, "2026.12", [("P1", "function", "binds ATP", "train"), ("P1", "family", "kinase", "train"),
                                        ("P2", "function", "cuts", "train"), ("P2", "family", "protease", "train"),
                                        ("P4", "function", "new", "test")],
                  {"not_reviewed": 1, "invalid_residue": 1}, second,
                  {"split": {"seed": 2, "strategy": "homology"}, "dataset": "uniprotqa"})
    return old, new


@pytest.mark.parametrize("rows_per_bucket", [1_000_000, 1])
def test_the_diff_counts_every_kind_of_change(two_versions, rows_per_bucket):
    old, new = two_versions
    report = diff_releases(directory_location(old), directory_location(new), rows_per_bucket=rows_per_bucket)
    assert report["entities"]["added"] == {"test": 1} and report["entities"]["removed"] == {"validation": 1}
    assert report["entities"]["split_changed"] == {"test -> train": 1} and report["entities"]["unchanged"] == 1
    assert report["examples"]["added"] == ["P4"] and report["examples"]["split_changed"] == ["P2"]
    assert report["rows"]["added"] == {"test": {"function": 1}, "train": {"family": 1}}
    assert report["rows"]["removed"] == {"validation": {"function": 1}}
    assert report["rows"]["changed"] == {"train": {"function": 1}} and report["rows"]["unchanged"] == 2
    assert report["examples"]["answer_changed"] == ["P1 function"]
    assert report["rejects"] == {"invalid_residue": {"before": 0, "after": 1}, "not_reviewed": {"before": 2, "after": 1}}
    assert [i["sha256"][0] for i in report["inputs"]["added"]] == ["b"]
    assert report["inputs"]["source_releases"] == {"before": ["2026_04"], "after": ["2026_05"]}
    assert report["config"] == {"split.seed": {"before": 1, "after": 2}}


def test_the_diff_command_prints_tables_or_json(two_versions):
    old, new = two_versions
    shown = lifeqa("diff", str(old), str(new))
    assert shown.exit_code == 0, shown.output
    assert "test -> train" in shown.output and "split.seed" in shown.output and "invalid_residue" in shown.output
    as_json = lifeqa("diff", str(old), str(new), "--json")
    assert json.loads(as_json.stdout)["rows"]["totals"] == {"added": 2, "removed": 1, "changed": 1}


def test_releases_of_two_datasets_or_no_release_are_refused(two_versions, tmp_path):
    old, new = two_versions
    manifest = json.loads((new / "manifest.json").read_text()) | {"dataset": "pubchemqa"}
    (new / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DiffError, match="one dataset"):
        diff_releases(directory_location(old), directory_location(new))
    missing = lifeqa("diff", str(old), str(tmp_path / "nothing"))
    assert missing.exit_code == 1 and "not a release directory" in missing.output
    unknown = lifeqa("diff", "uniprotqa@2026.01", str(old), "--registry", str(tmp_path))
    assert unknown.exit_code == 1 and "no version of uniprotqa" in unknown.output

"""The diff of two real versions: 2026.11 from the first records of the UniProt flat file, 2026.12 from
the whole directory with splits pinned to 2026.11; the diff is what those inputs imply."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from conftest import lifeqa

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def released_accessions(release) -> dict[str, str]:
    """{accession: split} of a release, read column by column."""
    found = {}
    for shard in sorted((release / "data").glob("*.parquet")):
        columns = pq.read_table(shard, columns=["accession", "split"]).to_pydict()
        found |= dict(zip(columns["accession"], columns["split"]))
    return found


def flat_accessions(flat) -> set[str]:
    """Every accession on the AC lines of a flat file (primary and secondary)."""
    return {ac.strip() for line in flat.read_text().splitlines() if line.startswith("AC   ")
            for ac in line[5:].split(";") if ac.strip()}


def test_the_diff_of_a_subset_and_its_superset_adds_only_the_new_entries(registry_versions, subset_input):
    shown = lifeqa("diff", "uniprotqa@2026.11", "uniprotqa@latest", "--registry", str(registry_versions))
    assert shown.exit_code == 0, shown.output
    print(shown.output)  # the text a person reads (pytest -s shows it)
    report = json.loads(lifeqa("diff", "uniprotqa@2026.11", "uniprotqa@latest", "--registry",
                               str(registry_versions), "--json").stdout)
    old = released_accessions(registry_versions / "uniprotqa" / "2026.11")
    new = released_accessions(registry_versions / "uniprotqa" / "2026.12")
    # The superset's entries that pass and were not in the subset's records.
    expected = set(new) - flat_accessions(subset_input)
    assert report["entities"]["totals"] == {"added": len(expected), "removed": 0, "split_changed": 0}
    assert set(report["examples"]["added"]) <= expected and len(expected) > 0
    assert set(old) <= set(new) and report["entities"]["unchanged"] == len(old)
    assert report["rows"]["totals"]["removed"] == 0 and report["rows"]["totals"]["changed"] == 0
    assert report["rows"]["totals"]["added"] == report["new"]["rows"] - report["old"]["rows"]
    assert report["inputs"]["removed"] and report["inputs"]["added"]  # one cut file out, the directory's files in
    assert list(report["config"]) == ["split.previous"]
    for split, n in report["entities"]["added"].items():
        assert n == sum(1 for a in expected if new[a] == split)

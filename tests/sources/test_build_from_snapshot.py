"""A build reads what a pull wrote: `lifeqa build uniprotqa --input SNAPSHOT`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_services import RELEASE, SourceServer, fast_settings

from etl.sources.snapshot import Snapshot
from etl.sources.uniprot import UniProtQuery, pull_uniprot

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.mark.parametrize("fmt, page_size", [("txt", 40), ("json", 25)])
def test_uniprotqa_builds_from_a_pulled_snapshot(build, source_server: SourceServer, tmp_path: Path, fmt, page_size):
    snapshot_dir = tmp_path / "snapshot"
    summary = pull_uniprot(snapshot_dir, UniProtQuery(format=fmt, page_size=page_size, base_url=source_server.url),
                           fast_settings())
    release = build("uniprotqa", tmp_path / "release", "--input", str(snapshot_dir))
    manifest = json.loads((release / "manifest.json").read_text())
    identity = Snapshot.open(snapshot_dir).identity()
    (recorded,) = manifest["snapshots"]
    assert recorded["manifest_sha256"] == identity["manifest_sha256"] and recorded["service"] == "uniprot"
    assert manifest["source_releases"] == [RELEASE]
    assert manifest["counts"]["records_in"] == summary.records
    assert {i["snapshot"] for i in manifest["inputs"]} == {str(snapshot_dir.resolve())}
    assert manifest["counts"]["records_released"] > 0.9 * summary.records

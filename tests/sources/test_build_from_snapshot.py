"""A build reads what a pull wrote: `lifeqa build {uniprotqa,pubchemqa} --input SNAPSHOT`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_services import RELEASE, SourceServer, fast_settings

from etl.sources.pubchem import PubChemQuery, pull_pubchem
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


@pytest.mark.parametrize("structures", ["pug-rest", "bulk"])
def test_pubchemqa_builds_from_a_pulled_snapshot(build, source_server: SourceServer, tmp_path: Path, structures):
    snapshot_dir = tmp_path / "snapshot"
    pull_pubchem(snapshot_dir, PubChemQuery(base_url=source_server.url, structures=structures, max_pages=2,
                                            bulk_url=f"{source_server.url}/pubchem/Compound/Extras/CID-SMILES.gz"),
                 fast_settings())
    release = build("pubchemqa", tmp_path / "release", "--input", str(snapshot_dir))
    manifest = json.loads((release / "manifest.json").read_text())
    identity = Snapshot.open(snapshot_dir).identity()
    (recorded,) = manifest["snapshots"]
    assert recorded["manifest_sha256"] == identity["manifest_sha256"] and recorded["service"] == "pubchem"
    formats = {i["format"] for i in manifest["inputs"]}
    assert "pug_view_annotations" in formats
    assert formats & {"pug_rest_json", "cid_smiles"}
    counts = manifest["counts"]
    assert counts["records_in"] == counts["records_released"] + counts["records_rejected"]
    assert counts["rows"] > 0
    descriptions = manifest["stages"]["parse"]["records_out"]
    assert counts["rows"] <= descriptions

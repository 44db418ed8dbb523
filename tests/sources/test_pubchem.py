"""PubChem pulls against the fake service: annotation pages, structures, bulk file, faults."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from fake_services import SourceServer, fast_settings

from etl.sources.http import PullError
from etl.sources.pubchem import PubChemQuery, pull_pubchem, row_smiles
from etl.sources.settings import PullSettings
from etl.sources.snapshot import Snapshot


def _query(server: SourceServer, **overrides: object) -> PubChemQuery:
    values: dict[str, object] = dict(base_url=server.url, batch_size=15, bulk_url=f"{server.url}/pubchem/Compound/Extras/CID-SMILES.gz")
    values.update(overrides)
    return PubChemQuery(**values)


def _bodies(snapshot: Snapshot, kind: str) -> list[dict]:
    return [json.loads(body) for body in snapshot.pages_of_kind(kind)]


def test_every_annotation_page_then_the_structures_of_their_cids(source_server: SourceServer, tmp_path: Path) -> None:
    data = source_server.data.pubchem
    total_pages = data.annotation_page(1, source_server.options.annotations_per_page)["Annotations"]["TotalPages"]
    summary = pull_pubchem(tmp_path / "s", _query(source_server), fast_settings())

    snapshot = Snapshot.open(tmp_path / "s")
    assert summary.complete and total_pages > 3
    pages = _bodies(snapshot, "annotations")
    assert [page["Annotations"]["Page"] for page in pages] == list(range(1, total_pages + 1))
    assert [a for page in pages for a in page["Annotations"]["Annotation"]] == data.annotations
    rows = [row for table in _bodies(snapshot, "properties") for row in table["PropertyTable"]["Properties"]]
    assert [row["CID"] for row in rows] == data.linked_cids()
    assert all(row_smiles(row) for row in rows)
    assert snapshot.manifest["details"] == {"total_pages": total_pages, "linked_cids": len(data.linked_cids())}
    assert snapshot.release == source_server.options.last_modified
    first = snapshot.requests[0]["url"]
    assert first.endswith("/rest/pug_view/annotations/heading/JSON?heading=Record%20Description&heading_type=Compound&page=1")
    assert {r["method"] for r in snapshot.requests if r["kind"] == "properties"} == {"POST"}


def test_max_pages_limits_the_annotations_and_so_the_cids(source_server: SourceServer, tmp_path: Path) -> None:
    pull_pubchem(tmp_path / "s", _query(source_server, max_pages=2), fast_settings())
    snapshot = Snapshot.open(tmp_path / "s")
    assert len(_bodies(snapshot, "annotations")) == 2
    rows = [row for table in _bodies(snapshot, "properties") for row in table["PropertyTable"]["Properties"]]
    assert [row["CID"] for row in rows] == source_server.data.pubchem.linked_cids(pages=2)


def test_faults_change_nothing_in_the_snapshot(source_server: SourceServer, tmp_path: Path) -> None:
    reference = pull_pubchem(tmp_path / "clean", _query(source_server), fast_settings())
    source_server.faults.once("page=1", "slow")
    source_server.faults.once("page=2", "503", "reset")
    source_server.faults.once("page=5", "gzip_truncated")
    source_server.faults.once("/property/", "truncate", "502")
    faulty = pull_pubchem(tmp_path / "faulty", _query(source_server), fast_settings())
    assert faulty.stats.retries == 6
    assert faulty.content_sha256 == reference.content_sha256
    assert Snapshot.open(tmp_path / "faulty").stable_manifest() == Snapshot.open(tmp_path / "clean").stable_manifest()


def test_a_stopped_pull_resumes_in_the_structure_stage(source_server: SourceServer, tmp_path: Path) -> None:
    reference = pull_pubchem(tmp_path / "clean", _query(source_server), fast_settings())
    source_server.faults.once("/property/", *["503"] * 3, "503")  # the first batch fails for good
    with pytest.raises(PullError, match="resume"):
        pull_pubchem(tmp_path / "s", _query(source_server), fast_settings())
    assert Snapshot.open(tmp_path / "s").state == {"stage": "structures", "next_batch": 0}
    hits = len(source_server.hits)
    resumed = pull_pubchem(tmp_path / "s", _query(source_server), fast_settings())
    assert all("/property/" in hit.url for hit in source_server.hits[hits:])
    assert resumed.content_sha256 == reference.content_sha256


def test_older_smiles_property_names_are_accepted(source_server: SourceServer, tmp_path: Path) -> None:
    source_server.options.old_smiles_names = True
    pull_pubchem(tmp_path / "s", _query(source_server, max_pages=1), fast_settings())
    snapshot = Snapshot.open(tmp_path / "s")
    rows = [row for table in _bodies(snapshot, "properties") for row in table["PropertyTable"]["Properties"]]
    assert rows and all("SMILES" not in row and row_smiles(row) == row["IsomericSMILES"] for row in rows)
    assert all(r["without_smiles"] == 0 for r in snapshot.requests if r["kind"] == "properties")


def test_bulk_structures_are_kept_as_downloaded_and_md5_checked(source_server: SourceServer, tmp_path: Path) -> None:
    source_server.faults.once("CID-SMILES.gz$", "corrupt")
    summary = pull_pubchem(tmp_path / "s", _query(source_server, structures="bulk", max_pages=2), fast_settings())
    snapshot = Snapshot.open(tmp_path / "s")
    bulk = snapshot.data_files()[-1]
    served = source_server.data.pubchem.bulk_file()
    assert bulk.name == "000002-cid-smiles.tsv.gz" and bulk.read_bytes() == served
    assert snapshot.requests[-1]["records"] == gzip.decompress(served).count(b"\n")
    assert snapshot.requests[-1]["attempts"] == 2 and summary.complete
    snapshot.verify()


def test_a_bulk_file_that_never_matches_its_md5_stops_the_pull(source_server: SourceServer, tmp_path: Path) -> None:
    source_server.faults.always("CID-SMILES.gz$", "corrupt")
    with pytest.raises(PullError, match="MD5"):
        pull_pubchem(tmp_path / "s", _query(source_server, structures="bulk", max_pages=1), fast_settings(attempts=2))
    stopped = Snapshot.open(tmp_path / "s")
    assert not stopped.complete and not any("cid-smiles" in path.name for path in stopped.data_files())

    source_server.faults.clear()
    pull_pubchem(tmp_path / "s", _query(source_server, structures="bulk", max_pages=1), fast_settings(attempts=2))
    assert Snapshot.open(tmp_path / "s").complete
    assert not list((tmp_path / "s" / "data").glob(".*.tmp"))  # the broken download was cleared on resume


def test_the_default_policy_holds_five_requests_per_second(source_server: SourceServer, tmp_path: Path) -> None:
    settings = fast_settings(pubchem_limits=PullSettings().pubchem_limits)
    pull_pubchem(tmp_path / "s", _query(source_server, max_pages=7, batch_size=100), settings)
    times = [hit.time for hit in source_server.hits]
    assert len(times) == 8
    assert all(later - earlier >= 0.97 for earlier, later in zip(times, times[5:], strict=False))

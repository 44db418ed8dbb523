"""UniProt pulls against the fake service: paging, formats, counts, faults and resuming."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
from fake_services import RELEASE, SourceServer, fast_settings

from etl.sources.http import PullError, RetriesExhausted
from etl.sources.snapshot import MANIFEST_NAME, Snapshot
from etl.sources.uniprot import UniProtQuery, pull_uniprot

PAGE_SIZE = 40


def _query(server: SourceServer, fmt: str = "txt", page_size: int = PAGE_SIZE) -> UniProtQuery:
    return UniProtQuery(format=fmt, page_size=page_size, base_url=server.url)


def _pages(snapshot: Snapshot) -> list[bytes]:
    return [gzip.decompress(path.read_bytes()) for path in snapshot.data_files()]


@pytest.mark.parametrize("fmt", ["json", "txt", "xml"])
def test_a_pull_follows_the_cursor_to_the_last_page(source_server: SourceServer, tmp_path: Path, fmt: str) -> None:
    entries = source_server.data.uniprot.select(fmt, "reviewed:true")
    page_size = 4 if fmt != "txt" else PAGE_SIZE
    summary = pull_uniprot(tmp_path / "s", _query(source_server, fmt, page_size), fast_settings())

    snapshot = Snapshot.open(tmp_path / "s")
    assert summary.complete and snapshot.complete
    assert snapshot.records == summary.records == snapshot.manifest["expected_records"] == len(entries)
    assert len(snapshot.data_files()) == math.ceil(len(entries) / page_size) > 1
    assert snapshot.release == RELEASE
    pages = _pages(snapshot)
    if fmt == "json":
        assert [entry for page in pages for entry in json.loads(page)["results"]] == entries
    elif fmt == "txt":
        assert b"".join(pages).decode() == "".join(entries)
    else:
        assert all(page.startswith(b"<?xml") and page.rstrip().endswith(b"</uniprot>") for page in pages)
    first = snapshot.requests[0]
    assert first["url"] == f"{source_server.url}/uniprotkb/search?query=reviewed%3Atrue&format={fmt}&size={page_size}"
    assert first["headers"]["X-UniProt-Release"] == RELEASE
    assert all(path.name.endswith(f"-search.{fmt}.gz") for path in snapshot.data_files())


def test_faults_change_nothing_in_the_snapshot(source_server: SourceServer, tmp_path: Path) -> None:
    reference = pull_uniprot(tmp_path / "clean", _query(source_server), fast_settings())
    for cursor, faults in {"40": ("429",), "80": ("503", "reset"), "120": ("gzip_truncated", "slow"), "160": ("truncate",)}.items():
        source_server.faults.once(f"cursor={cursor}", *faults)
    faulty = pull_uniprot(tmp_path / "faulty", _query(source_server), fast_settings())

    assert faulty.stats.retries == 6
    assert faulty.content_sha256 == reference.content_sha256
    clean, bumpy = Snapshot.open(tmp_path / "clean"), Snapshot.open(tmp_path / "faulty")
    assert bumpy.stable_manifest() == clean.stable_manifest()
    assert [p.read_bytes() for p in bumpy.data_files()] == [p.read_bytes() for p in clean.data_files()]
    assert [r["attempts"] for r in bumpy.requests][:5] == [1, 2, 3, 3, 2]


def test_a_page_that_never_stops_failing_leaves_a_resumable_snapshot(source_server: SourceServer, tmp_path: Path) -> None:
    reference = pull_uniprot(tmp_path / "clean", _query(source_server), fast_settings())
    source_server.faults.always("cursor=120", "503")
    with pytest.raises(RetriesExhausted, match="run the same command again to resume"):
        pull_uniprot(tmp_path / "s", _query(source_server), fast_settings())
    stopped = Snapshot.open(tmp_path / "s")
    assert not stopped.complete and len(stopped.requests) == 3
    assert stopped.state["next_url"].endswith("cursor=120")

    source_server.faults.clear()
    hits_before = len(source_server.hits)
    resumed = pull_uniprot(tmp_path / "s", _query(source_server), fast_settings())
    assert resumed.resumed_at_page == 3
    assert "cursor=120" in source_server.hits[hits_before].url  # no page fetched twice
    assert resumed.content_sha256 == reference.content_sha256
    assert Snapshot.open(tmp_path / "s").stable_manifest() == Snapshot.open(tmp_path / "clean").stable_manifest()


def test_a_crash_between_page_and_manifest_resumes_to_the_same_content(
    source_server: SourceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = pull_uniprot(tmp_path / "clean", _query(source_server), fast_settings())
    original = Snapshot._record

    def crash_on_third_page(self: Snapshot, entry: dict, state: dict) -> None:
        if entry["seq"] == 2:
            raise SystemExit("power loss")  # the page file is on disk, the manifest is not updated
        original(self, entry, state)

    monkeypatch.setattr(Snapshot, "_record", crash_on_third_page)
    with pytest.raises(SystemExit):
        pull_uniprot(tmp_path / "s", _query(source_server), fast_settings())
    monkeypatch.setattr(Snapshot, "_record", original)
    orphan = tmp_path / "s" / "data" / "000002-search.txt.gz"
    assert orphan.exists() and len(Snapshot.open(tmp_path / "s").requests) == 2

    resumed = pull_uniprot(tmp_path / "s", _query(source_server), fast_settings())
    assert resumed.complete and resumed.content_sha256 == reference.content_sha256


def test_a_count_that_does_not_match_the_announced_total_is_not_complete(source_server: SourceServer, tmp_path: Path) -> None:
    source_server.options.total_results_offset = 1
    with pytest.raises(PullError, match="but the server announced"):
        pull_uniprot(tmp_path / "s", _query(source_server), fast_settings())
    assert not Snapshot.open(tmp_path / "s").complete


def test_a_new_release_mid_pull_is_refused(source_server: SourceServer, tmp_path: Path) -> None:
    source_server.faults.always("cursor=80", "503")
    with pytest.raises(RetriesExhausted):
        pull_uniprot(tmp_path / "s", _query(source_server), fast_settings(attempts=1))
    source_server.faults.clear()
    source_server.options.release = "2024_06"
    with pytest.raises(PullError, match="release 2024_05 .* now 2024_06"):
        pull_uniprot(tmp_path / "s", _query(source_server), fast_settings())


def test_a_complete_snapshot_is_never_written_again(source_server: SourceServer, tmp_path: Path) -> None:
    pull_uniprot(tmp_path / "s", _query(source_server), fast_settings())
    manifest = (tmp_path / "s" / MANIFEST_NAME).read_bytes()
    hits = len(source_server.hits)
    again = pull_uniprot(tmp_path / "s", _query(source_server), fast_settings())
    assert again.complete and again.resumed_at_page == again.pages
    assert len(source_server.hits) == hits
    assert (tmp_path / "s" / MANIFEST_NAME).read_bytes() == manifest


def test_resuming_with_another_query_is_refused(source_server: SourceServer, tmp_path: Path) -> None:
    source_server.faults.always("cursor=40", "503")
    with pytest.raises(RetriesExhausted):
        pull_uniprot(tmp_path / "s", _query(source_server), fast_settings(attempts=1))
    with pytest.raises(PullError, match="cannot be resumed"):
        pull_uniprot(tmp_path / "s", _query(source_server, fmt="json"), fast_settings())

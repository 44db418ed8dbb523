"""The snapshot store: layout, identity, immutability, locking and crash leftovers."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from etl.sources.http import Fetched
from etl.sources.snapshot import (
    MANIFEST_NAME,
    Snapshot,
    SnapshotCompleteError,
    SnapshotError,
    is_snapshot,
    stable_manifest,
)

QUERY = {"query": "reviewed:true", "format": "txt"}


def _fetched(body: bytes, url: str = "http://127.0.0.1/p") -> Fetched:
    headers = {"x-uniprot-release": "2024_05", "Content-Type": "text/plain"}
    return Fetched("GET", url, 200, headers, body, "2024-05-14T00:00:00.000+00:00", 0.1, 1)


def _two_pages(path: Path) -> Snapshot:
    snapshot = Snapshot.start(path, "uniprot", QUERY)
    snapshot.update(release="2024_05", expected_records=2)
    snapshot.add_page(_fetched(b"ID   A\n//\n"), kind="search", ext="txt", records=1, state={"next_url": "u2"})
    snapshot.add_page(_fetched(b"ID   B\n//\n"), kind="search", ext="txt", records=1, state={"next_url": None})
    return snapshot


def test_layout_identity_and_digests(tmp_path: Path) -> None:
    with _two_pages(tmp_path / "s") as snapshot:
        snapshot.finish()
    assert is_snapshot(tmp_path / "s") and not is_snapshot(tmp_path)
    opened = Snapshot.open(tmp_path / "s")
    assert [p.name for p in opened.data_files()] == ["000000-search.txt.gz", "000001-search.txt.gz"]
    assert gzip.decompress(opened.data_files()[1].read_bytes()) == b"ID   B\n//\n"
    identity = opened.identity()
    assert identity["service"] == "uniprot" and identity["release"] == "2024_05" and identity["complete"]
    assert identity["query"] == QUERY and identity["records"] == 2 and identity["finished"]
    assert identity["manifest_sha256"] == hashlib.sha256((tmp_path / "s" / MANIFEST_NAME).read_bytes()).hexdigest()
    request = opened.requests[0]
    assert request["sha256"] == hashlib.sha256(b"ID   A\n//\n").hexdigest()
    assert request["headers"] == {"X-UniProt-Release": "2024_05"}  # kept, under its canonical name
    opened.verify()


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    _two_pages(tmp_path / "a").close()
    _two_pages(tmp_path / "b").close()
    a, b = Snapshot.open(tmp_path / "a"), Snapshot.open(tmp_path / "b")
    assert a.content_sha256() == b.content_sha256()
    assert stable_manifest(a.manifest) == stable_manifest(b.manifest)
    assert a.manifest["created"] != b.manifest["created"] or a.manifest == b.manifest


def test_a_completed_snapshot_refuses_every_write(tmp_path: Path) -> None:
    with _two_pages(tmp_path / "s") as snapshot:
        snapshot.finish()
        with pytest.raises(SnapshotCompleteError, match="never written again"):
            snapshot.add_page(_fetched(b"x"), kind="search", ext="txt", records=0, state={})
        with pytest.raises(SnapshotCompleteError):
            snapshot.finish()
    with Snapshot.start(tmp_path / "s", "uniprot", QUERY) as reopened, pytest.raises(SnapshotCompleteError):
        reopened.update(release="other")


def test_a_snapshot_opened_for_reading_cannot_be_written(tmp_path: Path) -> None:
    _two_pages(tmp_path / "s").close()
    with pytest.raises(SnapshotError, match="read-only"):
        Snapshot.open(tmp_path / "s").finish()


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    with _two_pages(tmp_path / "s"), pytest.raises(SnapshotError, match="another pull is writing"):
        Snapshot.start(tmp_path / "s", "uniprot", QUERY)


def test_a_foreign_directory_or_query_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(SnapshotError, match="not a snapshot"):
        Snapshot.start(tmp_path / "other", "uniprot", QUERY)
    _two_pages(tmp_path / "s").close()
    with pytest.raises(SnapshotError, match="cannot be resumed"):
        Snapshot.start(tmp_path / "s", "pubchem", QUERY)


def test_leftovers_of_a_killed_write_are_ignored_then_replaced(tmp_path: Path) -> None:
    _two_pages(tmp_path / "s").close()
    data = tmp_path / "s" / "data"
    (data / ".000002-search.txt.gz.tmp").write_bytes(b"half a pa")
    (data / "000002-search.txt.gz").write_bytes(b"written, never recorded")
    reopened = Snapshot.start(tmp_path / "s", "uniprot", QUERY)
    assert len(reopened.data_files()) == 2 and not (data / ".000002-search.txt.gz.tmp").exists()
    reopened.add_page(_fetched(b"ID   C\n//\n"), kind="search", ext="txt", records=1, state={})
    assert gzip.decompress((data / "000002-search.txt.gz").read_bytes()) == b"ID   C\n//\n"
    reopened.close()


def test_verify_finds_a_changed_file(tmp_path: Path) -> None:
    _two_pages(tmp_path / "s").close()
    snapshot = Snapshot.open(tmp_path / "s")
    snapshot.data_files()[0].write_bytes(gzip.compress(b"tampered"))
    with pytest.raises(SnapshotError, match="does not match the manifest"):
        snapshot.verify()


def test_the_manifest_is_plain_sorted_json(tmp_path: Path) -> None:
    _two_pages(tmp_path / "s").close()
    text = (tmp_path / "s" / MANIFEST_NAME).read_text()
    manifest = json.loads(text)
    assert list(manifest) == sorted(manifest) and manifest["format_version"] == 1

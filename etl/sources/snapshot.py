"""The snapshot store: one immutable directory per pull.

Layout of a snapshot directory::

    DIR/
      snapshot.json                   the manifest (see below); its presence makes DIR a snapshot
      data/000000-search.json.gz      one file per response, in page order, gzip-compressed,
      data/000001-search.json.gz      each holding the body exactly as the service sent it
      ...                             (after undoing Content-Encoding)
      .lock                           held (flock) while a pull writes; not part of the content

File names are `{seq:06d}-{kind}.{ext}.gz`. Kinds: UniProt `search` (ext `json`: a page
`{"results": [...]}`, `txt`: flat-file entries, `xml`: a `<uniprot>` document); PubChem
`annotations` (PUG-View annotation page JSON), `properties` (PUG REST property table JSON)
and `cid-smiles` (PubChem's bulk CID-SMILES file, stored as downloaded: it is gzip already).
Readers should detect the format from the content; the name is a convenience.

The manifest (`snapshot.json`, JSON with sorted keys) holds the whole and each request:
`service`, `query` (every parameter that shapes the content), `release`, `created`,
`finished`, `complete`, `expected_records`, `details` (service facts such as
`total_pages`), `state` (where a resumed pull continues), and `requests`, a list of
`{seq, file, kind, method, url, time, status, bytes, sha256, file_sha256, records,
headers, elapsed_s, attempts, ...}` where `sha256` is of the body and `file_sha256` of the
stored file, and `headers` keeps the release-identifying response headers.

Crash safety: a page is written to a temporary file, fsynced and renamed into place,
and only then is the manifest rewritten the same way. A kill at any moment leaves either
the old manifest (the new page file, if present, is not listed and gets overwritten on
resume) or the new one. A completed snapshot refuses every write.

Determinism: file names, compression (gzip, mtime 0) and manifest content depend only on
the responses, so a resumed pull and an uninterrupted one end with byte-identical data
files and manifests that differ only in `VOLATILE_FIELDS` (timings and attempt counts);
`content_sha256()` and `stable_manifest()` are what to compare.

API used by the builds: `is_snapshot(path)`, `Snapshot.open(path)`, `.identity()`,
`.data_files()`, `.content_sha256()`, `.verify()`.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from etl.fileio import file_sha256, fsync_dir
from etl.sources.http import ClientStats, Downloaded, Fetched, PullError, utc_now

MANIFEST_NAME = "snapshot.json"
DATA_DIR = "data"
LOCK_NAME = ".lock"
FORMAT_VERSION = 1
VOLATILE_FIELDS = frozenset({"created", "finished", "time", "elapsed_s", "attempts"})
# Response headers that identify what was served; kept per request in the manifest.
KEPT_HEADERS = ("X-UniProt-Release", "X-UniProt-Release-Date", "X-Total-Results", "Last-Modified", "ETag")


class SnapshotError(PullError):
    """The directory cannot be used as asked (not a snapshot, another query, locked...)."""


class SnapshotCompleteError(SnapshotError):
    """A write was attempted on a completed, hence immutable, snapshot."""


def is_snapshot(path: Path) -> bool:
    return (Path(path) / MANIFEST_NAME).is_file()


def kept_headers(headers: dict[str, str]) -> dict[str, str]:
    lowered = {name.lower(): value for name, value in headers.items()}
    return {name: lowered[name.lower()] for name in KEPT_HEADERS if name.lower() in lowered}


def stable_manifest(manifest: Any) -> Any:
    """The manifest without timing and attempt fields: equal for equal content."""
    if isinstance(manifest, dict):
        return {key: stable_manifest(value) for key, value in manifest.items() if key not in VOLATILE_FIELDS}
    if isinstance(manifest, list):
        return [stable_manifest(item) for item in manifest]
    return manifest


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class PullObserver(Protocol):
    """What a pull reports while it runs (the CLI draws progress bars from it)."""

    def on_plan(self, stage: str, total_pages: int | None, done_pages: int, done_records: int) -> None:
        """A stage starts (or resumes) with `total_pages` to pull, when known."""

    def on_page(self, stage: str, records: int) -> None:
        """One more page of `records` records was stored."""


class SilentObserver:
    def on_plan(self, stage: str, total_pages: int | None, done_pages: int, done_records: int) -> None:
        pass

    def on_page(self, stage: str, records: int) -> None:
        pass


@dataclass
class PullSummary:
    service: str
    path: Path
    release: str | None
    pages: int
    records: int
    expected_records: int | None
    complete: bool
    resumed_at_page: int
    content_sha256: str
    stats: ClientStats = field(default_factory=ClientStats)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, snapshot: Snapshot, stats: ClientStats, resumed_at_page: int) -> PullSummary:
        return cls(
            service=snapshot.service,
            path=snapshot.path,
            release=snapshot.release,
            pages=len(snapshot.requests),
            records=snapshot.records,
            expected_records=snapshot.manifest["expected_records"],
            complete=snapshot.complete,
            resumed_at_page=resumed_at_page,
            content_sha256=snapshot.content_sha256(),
            stats=stats,
            details=dict(snapshot.manifest["details"]),
        )


class Snapshot:
    """A snapshot directory; open it read-only with `open`, or for a pull with `start`."""

    def __init__(self, path: Path, manifest: dict[str, Any], lock: IO[bytes] | None = None) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self._lock = lock

    # -- reading (the builds) -------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> Snapshot:
        path = Path(path)
        if not is_snapshot(path):
            raise SnapshotError(f"{path} is not a lifeqa snapshot (no {MANIFEST_NAME})")
        manifest = json.loads((path / MANIFEST_NAME).read_bytes())
        if manifest.get("format_version") != FORMAT_VERSION:
            raise SnapshotError(f"{path}: snapshot format {manifest.get('format_version')} is not {FORMAT_VERSION}")
        return cls(path, manifest)

    @property
    def service(self) -> str:
        return self.manifest["service"]

    @property
    def complete(self) -> bool:
        return bool(self.manifest["complete"])

    @property
    def release(self) -> str | None:
        return self.manifest["release"]

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.manifest["requests"]

    @property
    def state(self) -> dict[str, Any]:
        return self.manifest["state"]

    @property
    def records(self) -> int:
        return sum(request["records"] for request in self.requests)

    def data_files(self) -> list[Path]:
        return [self.path / request["file"] for request in self.requests]

    def pages_of_kind(self, kind: str) -> Iterator[bytes]:
        """The decompressed bodies of one kind, in page order."""
        for request in self.requests:
            if request["kind"] == kind:
                yield gzip.decompress((self.path / request["file"]).read_bytes())

    def manifest_sha256(self) -> str:
        return hashlib.sha256((self.path / MANIFEST_NAME).read_bytes()).hexdigest()

    def content_sha256(self) -> str:
        """One digest over the data files' names and digests, in page order."""
        digest = hashlib.sha256()
        for request in self.requests:
            digest.update(f"{request['file']} {request['file_sha256']}\n".encode())
        return digest.hexdigest()

    def verify(self) -> None:
        """Re-hash every data file and compare it with the manifest."""
        for request in self.requests:
            actual = file_sha256(self.path / request["file"])
            if actual != request["file_sha256"]:
                raise SnapshotError(f"{self.path / request['file']}: sha256 {actual} does not match the manifest")

    def identity(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "query": self.manifest["query"],
            "release": self.release,
            "manifest_sha256": self.manifest_sha256(),
            "content_sha256": self.content_sha256(),
            "complete": self.complete,
            "created": self.manifest["created"],
            "finished": self.manifest["finished"],
            "pages": len(self.requests),
            "records": self.records,
        }

    def stable_manifest(self) -> dict[str, Any]:
        return stable_manifest(self.manifest)

    # -- writing (a pull) -----------------------------------------------------

    @classmethod
    def start(cls, path: Path, service: str, query: dict[str, Any]) -> Snapshot:
        """Create a snapshot, or reopen an unfinished one pulled with the same query.

        The returned snapshot holds an exclusive lock until `close`, so two pulls never
        write to one directory. A complete snapshot is returned as is, still read-only."""
        path = Path(path)
        if path.exists() and not is_snapshot(path) and any(path.iterdir()):
            raise SnapshotError(f"{path} exists, is not empty and is not a snapshot: choose a new directory")
        (path / DATA_DIR).mkdir(parents=True, exist_ok=True)
        lock = cls._acquire_lock(path)
        if is_snapshot(path):
            snapshot = cls.open(path)
            snapshot._lock = lock
            snapshot._check_same_pull(service, query)
            snapshot._remove_temporaries()
            return snapshot
        manifest = {
            "format_version": FORMAT_VERSION,
            "service": service,
            "query": query,
            "release": None,
            "created": utc_now(),
            "finished": None,
            "complete": False,
            "expected_records": None,
            "details": {},
            "state": {},
            "requests": [],
        }
        snapshot = cls(path, manifest, lock)
        snapshot._write_manifest()
        return snapshot

    @staticmethod
    def _acquire_lock(path: Path) -> IO[bytes]:
        lock = open(path / LOCK_NAME, "ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise SnapshotError(f"another pull is writing to {path}; wait for it or use another directory") from None
        return lock

    def _check_same_pull(self, service: str, query: dict[str, Any]) -> None:
        if self.service != service or self.manifest["query"] != query:
            raise SnapshotError(
                f"{self.path} holds a {self.service} pull of {json.dumps(self.manifest['query'], sort_keys=True)}; "
                f"it cannot be resumed as {service} {json.dumps(query, sort_keys=True)}. Use a new directory."
            )

    def _remove_temporaries(self) -> None:
        # Leftovers of a write that was killed before its rename; never listed in the manifest.
        for leftover in (self.path / DATA_DIR).glob(".*.tmp"):
            leftover.unlink()

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def temp_path(self, name: str) -> Path:
        """A scratch file inside the snapshot for a streamed download (removed on resume)."""
        return self.path / DATA_DIR / f".{name}.tmp"

    def add_page(
        self, fetched: Fetched, *, kind: str, ext: str, records: int, state: dict[str, Any], **extra: Any
    ) -> Path:
        """Store one response body (gzip-compressed) and record it with the state to resume from."""
        self._check_writable()
        target = self._next_file(kind, ext)
        compressed = gzip.compress(fetched.body, compresslevel=6, mtime=0)
        _atomic_write(target, compressed)
        entry = self._request_entry(fetched, target, kind, records, extra)
        entry.update(bytes=len(fetched.body), sha256=hashlib.sha256(fetched.body).hexdigest(),
                     file_sha256=hashlib.sha256(compressed).hexdigest())
        self._record(entry, state)
        return target

    def add_download(
        self, downloaded: Downloaded, *, kind: str, ext: str, records: int, state: dict[str, Any], **extra: Any
    ) -> Path:
        """Move a streamed download that is gzip already into place, unchanged."""
        self._check_writable()
        target = self._next_file(kind, ext)
        with open(downloaded.path, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(downloaded.path, target)
        fsync_dir(target.parent)
        entry = self._request_entry(downloaded, target, kind, records, extra)
        entry.update(bytes=downloaded.bytes, sha256=downloaded.sha256, file_sha256=downloaded.sha256)
        self._record(entry, state)
        return target

    def update(self, **fields: Any) -> None:
        """Set top-level facts (release, expected_records, details) and persist them."""
        self._check_writable()
        unknown = set(fields) - {"release", "expected_records", "details"}
        if unknown:
            raise ValueError(f"not a snapshot field: {sorted(unknown)}")
        self.manifest.update(fields)
        self._write_manifest()

    def finish(self) -> None:
        """Mark the snapshot complete; from now on it is read-only."""
        self._check_writable()
        self.manifest["complete"] = True
        self.manifest["finished"] = utc_now()
        self.manifest["state"] = {}
        self._write_manifest()

    def _check_writable(self) -> None:
        if self.complete:
            raise SnapshotCompleteError(f"{self.path} is a completed snapshot and is never written again")
        if self._lock is None:
            raise SnapshotError(f"{self.path} was opened read-only; use Snapshot.start to write")

    def _next_file(self, kind: str, ext: str) -> Path:
        return self.path / DATA_DIR / f"{len(self.requests):06d}-{kind}.{ext}.gz"

    def _request_entry(
        self, response: Fetched | Downloaded, target: Path, kind: str, records: int, extra: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "seq": len(self.requests),
            "file": target.relative_to(self.path).as_posix(),
            "kind": kind,
            "method": getattr(response, "method", "GET"),
            "url": response.url,
            "time": response.time,
            "status": response.status,
            "records": records,
            "headers": kept_headers(response.headers),
            "elapsed_s": round(response.elapsed_s, 3),
            "attempts": response.attempts,
            **extra,
        }

    def _record(self, entry: dict[str, Any], state: dict[str, Any]) -> None:
        self.manifest["requests"].append(entry)
        self.manifest["state"] = state
        self._write_manifest()

    def _write_manifest(self) -> None:
        data = json.dumps(self.manifest, sort_keys=True, indent=1, ensure_ascii=False).encode() + b"\n"
        _atomic_write(self.path / MANIFEST_NAME, data)

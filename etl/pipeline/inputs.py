"""Resolving `--input` paths: files, directories and pull snapshots, formats detected by content.

The driver only looks at each file's first bytes (to tell its format) and
streams it once for its sha256 (the manifest names every input by checksum),
cutting a file of a splittable format into chunks on the way (etl/pipeline/chunks.py);
records are read by Spark tasks.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from etl.pipeline.chunks import Chunk, RecordEnds, scan_file
from etl.quality.rejects import Rejected
from etl.sources.snapshot import Snapshot, is_snapshot

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 64 * 1024
UNKNOWN = "unknown"
# Files that travel with data but are not data: reported as skipped, never parsed.
DOCUMENTATION_NAMES = ("readme", "license", "licence", "attribution", "notice")
DOCUMENTATION_SUFFIXES = (".md", ".rst", ".html")


@dataclass(frozen=True)
class InputFile:
    path: str
    format: str
    compressed: bool
    size: int
    sha256: str
    detail: str = ""
    snapshot: str | None = None
    release: str | None = None
    # Where tasks read the file side by side (the file itself, or its decompressed copy);
    # empty: one task reads it whole. Not in the manifest: how a build ran, not what it read.
    chunks: tuple[Chunk, ...] = ()


@dataclass
class ResolvedInputs:
    files: list[InputFile] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    snapshots: list[dict] = field(default_factory=list)

    def manifest_entries(self) -> list[dict]:
        return [{k: v for k, v in asdict(f).items() if k != "chunks"} for f in self.files]


def is_documentation(path: Path) -> bool:
    name = path.name.lower()
    return name.startswith(DOCUMENTATION_NAMES) or name.endswith(DOCUMENTATION_SUFFIXES)


def read_head(path: Path) -> tuple[bytes, bool]:
    """The first bytes of the file's content (decompressed when gzip) and whether it was gzip."""
    with open(path, "rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
    opener = gzip.open if compressed else open
    with opener(path, "rb") as stream:
        try:
            return stream.read(SNIFF_BYTES), compressed
        except (EOFError, OSError):  # truncated gzip: what could be read is still a head
            return b"", compressed


def describe_file(path: Path, detect: Callable[[bytes, str], str], snapshot: str | None = None,
                  release: str | None = None, record_ends: dict[str, RecordEnds] | None = None,
                  scratch: Path | None = None) -> InputFile:
    """The file's format, size and checksum; for a format in `record_ends` (format -> where its
    records end, see chunks.RecordEnds) also its chunks, a gzip file decompressed into `scratch`
    (None: such a file is read whole by one task)."""
    head, compressed = read_head(path)
    try:
        fmt, detail = detect(head, path.name), ""
    except Rejected as rejected:
        fmt, detail = UNKNOWN, rejected.detail
    scanned = scan_file(str(path.resolve()), compressed, (record_ends or {}).get(fmt), scratch)
    return InputFile(path=str(path.resolve()), format=fmt, compressed=compressed, size=path.stat().st_size,
                     sha256=scanned.sha256, detail=detail, snapshot=snapshot, release=release, chunks=scanned.chunks)


def resolve_inputs(paths: list[Path], detect: Callable[[bytes, str], str],
                   record_ends: dict[str, RecordEnds] | None = None, scratch: Path | None = None) -> ResolvedInputs:
    """Expand files, directories (recursively, sorted) and snapshots into described input files
    (`record_ends` and `scratch` as for describe_file)."""
    cutting = {"record_ends": record_ends, "scratch": scratch}
    resolved = ResolvedInputs()
    seen: set[Path] = set()
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"input not found: {path}")
        if is_snapshot(path):
            snapshot = Snapshot.open(path)
            identity = snapshot.identity()
            if not identity.get("complete"):
                raise ValueError(f"snapshot {path} is incomplete: finish it with `lifeqa pull` before building")
            resolved.snapshots.append({"path": str(path.resolve()), **identity})
            for data_file in snapshot.data_files():
                resolved.files.append(describe_file(data_file, detect, str(path.resolve()), identity.get("release"), **cutting))
                seen.add(data_file.resolve())
            continue
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.resolve() in seen or any(part.startswith(".") for part in candidate.parts[-1:]):
                continue
            seen.add(candidate.resolve())
            if is_documentation(candidate):
                resolved.skipped.append({"path": str(candidate.resolve()), "reason": "documentation, not data"})
                continue
            resolved.files.append(describe_file(candidate, detect, **cutting))
    if not resolved.files:
        raise ValueError(f"no input files found in {[str(p) for p in paths]}")
    return resolved

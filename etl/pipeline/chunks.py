"""Cutting a file of records into byte ranges that Spark tasks parse side by side.

The driver reads every input once anyway, for the sha256 the manifest names it by. In
that same pass it counts the records of a splittable format (one whose records end at line
ends that a `RecordEnds` finds: UniProt's `//` line, or every non-blank line of a bulk
CID-SMILES file) and cuts the file into chunks of about `CHUNK_BYTES` at record ends, so
that each chunk knows the index of its first record and how many lines come before it. A
task then reads its own byte range straight from the file and parses it: no record crosses
a chunk, and record indices, line numbers, origins and a truncated last record come out as
a single reader of the whole file would give them.

A gzip file is one stream that no reader can split. The driver decompresses it in the
same pass into a plain copy in a scratch directory (a path every node sees: next to the
release), which is then cut like a plain file. A file the pass cannot cut has no chunks and
is read whole, by one task, by the dataset's streaming reader, which reports exactly where
any damage is: CR line ends or a leading byte order mark (which the parsers read and the
counting here does not), a line longer than `MAX_LINE_BYTES`, no record end at all, a
damaged gzip stream, or no scratch directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from etl.pipeline.streams import open_binary

CHUNK_BYTES = 32 << 20
READ_BYTES = 8 << 20
MAX_LINE_BYTES = 64 << 20
GZIP_WINDOW = 16 + zlib.MAX_WBITS  # wbits for a gzip header and trailer
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Chunk:
    """Bytes [start, end) of `path`, starting at a record's first line; `first_record` is the
    index in the file of its first record, `lines_before` the number of lines before `start`."""

    path: str
    start: int
    end: int
    first_record: int
    lines_before: int


@dataclass(frozen=True)
class ScannedFile:
    sha256: str  # of the file's own bytes (compressed, if it is gzip)
    chunks: tuple[Chunk, ...]  # empty: read the file whole; of a gzip file, they name its decompressed copy


class RecordEnds(Protocol):
    """Where a format's records end, in bytes that start at a line's start and end with a newline."""

    def count(self, lines: bytes) -> int:
        """The number of records that end in `lines`."""

    def next_end(self, lines: bytes, line_start: int) -> int | None:
        """The offset past the newline of the first record end whose line starts at or after
        `line_start` (a line's start); None if `lines` has none."""


class LinesMatching:
    """Lines whose whole text the regex `text` matches. They are found by the newline before them,
    a literal that the regex engine scans for fast, and the first line on its own."""

    def __init__(self, text: bytes):
        self.after_newline = re.compile(rb"\n(?:" + text + rb")(?=\n)")
        self.first_line = re.compile(rb"(?:" + text + rb")\n")

    def count(self, lines: bytes) -> int:
        first = self.first_line.match(lines) is not None
        return first + sum(1 for _ in self.after_newline.finditer(lines))

    def next_end(self, lines: bytes, line_start: int) -> int | None:
        if match := self.first_line.match(lines, line_start):
            return match.end()
        match = self.after_newline.search(lines, line_start)
        return None if match is None else match.end() + 1


class EndLine(LinesMatching):
    """Records that each end with a line of exactly `text` (a UniProt flat file's `//`)."""

    def __init__(self, text: bytes):
        super().__init__(re.escape(text))


class NonBlankLine:
    """Records of one line each; a blank line (whitespace only) is none, as the line parsers skip it."""

    blank_lines = LinesMatching(rb"[ \t\f\v]*")

    def count(self, lines: bytes) -> int:
        return lines.count(b"\n") - self.blank_lines.count(lines)

    def next_end(self, lines: bytes, line_start: int) -> int | None:
        while (line_end := lines.find(b"\n", line_start)) != -1:
            if lines[line_start:line_end].strip():
                return line_end + 1
            line_start = line_end + 1
        return None


class RecordCutter:
    """Fed a file's (decompressed) bytes in order, counts its records and lines, and cuts a chunk
    at the first record end `chunk_bytes` or more past the chunk's start.

    Only whole lines are counted: the start of a line that no newline has ended yet waits for
    the next block, so that where blocks fall changes nothing."""

    def __init__(self, path: str, ends: RecordEnds, chunk_bytes: int | None = None):
        self.path, self.ends, self.chunk_bytes = path, ends, chunk_bytes or CHUNK_BYTES
        self.chunks: list[Chunk] = []
        self.pending = b""
        self.offset = 0  # of `pending` in the file: what precedes it is counted
        self.records = self.lines = 0  # record ends and newlines before `offset`
        self.chunk_start = self.chunk_first_record = self.chunk_lines_before = 0
        self.cuttable = True

    def update(self, block: bytes) -> None:
        if not self.cuttable:
            return
        data = self.pending + block
        complete = data.rfind(b"\n") + 1
        self.pending = data[complete:]
        if b"\r" in block or len(self.pending) > MAX_LINE_BYTES or (self.offset == 0 and data.startswith(BOM)):
            self.cuttable = False
        elif complete:
            self._take(data[:complete])

    def _take(self, lines: bytes) -> None:
        base, taken = self.offset, 0
        while True:
            # Cut at the first record end whose newline lies `chunk_bytes` or more into the chunk:
            # search from the start of the line that holds that byte.
            newline_at = max(self.chunk_start + self.chunk_bytes - 1 - base, taken)
            if newline_at >= len(lines):
                break
            end = self.ends.next_end(lines, lines.rfind(b"\n", 0, newline_at) + 1)
            if end is None:
                break
            self._count(lines[taken:end])
            self._cut()
            taken = end
        self._count(lines[taken:])

    def _count(self, lines: bytes) -> None:
        self.records += self.ends.count(lines)
        self.lines += lines.count(b"\n")
        self.offset += len(lines)

    def _cut(self) -> None:
        self.chunks.append(Chunk(self.path, self.chunk_start, self.offset, self.chunk_first_record,
                                 self.chunk_lines_before))
        self.chunk_start, self.chunk_first_record, self.chunk_lines_before = self.offset, self.records, self.lines

    def finish(self, size: int) -> tuple[Chunk, ...]:
        """The chunks of the file's `size` bytes; none if it cannot be cut."""
        if not self.cuttable or not self.records:
            return ()
        if size > self.chunk_start:
            self.offset = size  # a last line without its newline ends the last chunk
            self._cut()
        return tuple(self.chunks)


def scan_file(path: str, compressed: bool, ends: RecordEnds | None, scratch: Path | None) -> ScannedFile:
    """One pass over the file: its sha256 and, for a splittable format, its chunks (decompressing
    a gzip file into `scratch` on the way)."""
    digest = hashlib.sha256()
    with open_binary(path) as stream:
        blocks = _hashed_blocks(stream, digest)
        if ends is None or (compressed and scratch is None):
            chunks = ()
        elif compressed:
            chunks = _cut_decompressed(path, blocks, ends, scratch)
        else:
            chunks = _chunks_of(RecordCutter(path, ends), blocks)
        for _ in blocks:  # what the cutting did not read still counts in the checksum
            pass
    return ScannedFile(digest.hexdigest(), chunks)


def _hashed_blocks(stream, digest) -> Iterator[bytes]:
    while block := stream.read(READ_BYTES):
        digest.update(block)
        yield block


def _chunks_of(cutter: RecordCutter, blocks, copy_to=None) -> tuple[Chunk, ...]:
    """The chunks of the bytes `blocks` yield (written to `copy_to` on the way, if given)."""
    size = 0
    for block in blocks:
        if copy_to is not None:
            copy_to.write(block)
        cutter.update(block)
        size += len(block)
    return cutter.finish(size)


def _cut_decompressed(path: str, blocks: Iterator[bytes], ends: RecordEnds, scratch: Path) -> tuple[Chunk, ...]:
    scratch.mkdir(parents=True, exist_ok=True)
    handle, copy = tempfile.mkstemp(dir=scratch, suffix="-" + Path(path).name.removesuffix(".gz"))
    try:
        with open(handle, "wb") as out:
            chunks = _chunks_of(RecordCutter(copy, ends), _inflated(blocks), out)
    except (zlib.error, EOFError):
        chunks = ()
    if not chunks:
        os.unlink(copy)  # nothing will read it: the file is read whole, from the gzip
    return chunks


def _inflated(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file's blocks, member after member (as `cat a.gz b.gz`
    makes); zlib.error for a damaged stream, EOFError for one cut short."""
    inflater = None
    for block in blocks:
        while block:
            if inflater is None or inflater.eof:
                inflater = zlib.decompressobj(GZIP_WINDOW)
            yield inflater.decompress(block)
            block = inflater.unused_data  # bytes past a member's end: the next member
    if inflater is None or not inflater.eof:
        raise EOFError("compressed stream ends early")


def read_chunk(chunk: Chunk) -> bytes:
    with open_binary(chunk.path) as stream:
        stream.seek(chunk.start)
        return stream.read(chunk.end - chunk.start)


CHUNK_COLUMNS = ("chunk_path", "start", "end", "first_record", "lines_before")


def chunks_df(spark, files: list):
    """One row per chunk of the given input files (InputFile, chunks set), one chunk per partition:
    the file's own path (records are named by it), its format, and the chunk (`chunk_of` reads it back)."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    from etl.pipeline.stages import one_row_per_task

    schema = StructType([
        StructField("path", StringType(), False), StructField("format", StringType(), False),
        StructField("release", StringType(), True), StructField("chunk_path", StringType(), False),
        *[StructField(name, LongType(), False) for name in CHUNK_COLUMNS[1:]],
    ])
    return one_row_per_task(spark, [(f.path, f.format, f.release, c.path, c.start, c.end, c.first_record,
                                     c.lines_before) for f in files for c in f.chunks], schema)


def chunk_of(row: dict) -> Chunk:
    """The chunk of a `chunks_df` row."""
    return Chunk(*(row[name] for name in CHUNK_COLUMNS))

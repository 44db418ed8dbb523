"""Cutting a file of records into byte ranges that Spark tasks parse side by side.

The driver reads every input once anyway, for the sha256 the manifest names it by. In
that same pass it counts the records of a splittable format (one whose records end in a
line a byte pattern finds, such as UniProt's `//`) and cuts the file into chunks of about
`CHUNK_BYTES` at record ends, so that each chunk knows the index of its first record. A
task then reads its own byte range straight from the file and parses it: no record
crosses a chunk, and record indices, origins and a truncated last record come out as a
single reader of the whole file would give them.

A gzip file is one stream that no reader can split. The driver decompresses it in the
same pass into a plain copy in a scratch directory (a path every node sees: next to the
release), which is then cut like a plain file. A file the pass cannot cut — CR line ends
the pattern does not see, a damaged gzip stream, or no scratch directory — has no chunks
and is read whole, by one task, by the dataset's streaming reader, which reports exactly
where the damage is.
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

from etl.pipeline.streams import open_binary

CHUNK_BYTES = 32 << 20
READ_BYTES = 8 << 20
CARRIED_BYTES = 16  # longer than any record-end pattern with its lookahead
GZIP_WINDOW = 16 + zlib.MAX_WBITS  # wbits for a gzip header and trailer


@dataclass(frozen=True)
class Chunk:
    """Bytes [start, end) of `path`, starting at a record's first line; `first_record` is the
    index in the file of its first record."""

    path: str
    start: int
    end: int
    first_record: int


@dataclass(frozen=True)
class ScannedFile:
    sha256: str  # of the file's own bytes (compressed, if it is gzip)
    chunks: tuple[Chunk, ...]  # empty: read the file whole; of a gzip file, they name its decompressed copy


class RecordCutter:
    """Fed a file's (decompressed) bytes in order, counts record ends and cuts a chunk at the
    first record end after every `chunk_bytes`.

    `record_end` must match a record's end line (under CARRIED_BYTES long), its final newline as
    a lookahead (so that a match never consumes the newline the next end line starts with), and
    the cut lands past that newline. The bytes are seen as
    if a newline preceded the file, so that a file starting with an end line counts it."""

    def __init__(self, path: str, record_end: re.Pattern, chunk_bytes: int | None = None):
        self.path, self.record_end, self.chunk_bytes = path, record_end, chunk_bytes or CHUNK_BYTES
        self.chunks: list[Chunk] = []
        self.records = 0  # record ends seen so far
        self.chunk_start = self.chunk_first_record = 0
        self.carried, self.carried_at = b"\n", -1  # bytes kept from the last block, and their file offset
        self.last_counted = -2  # file offset of the last end line counted
        self.has_carriage_return = False

    def update(self, block: bytes) -> None:
        self.has_carriage_return = self.has_carriage_return or b"\r" in block
        data = self.carried + block
        for match in self.record_end.finditer(data):
            start = self.carried_at + match.start()
            if start <= self.last_counted:
                continue  # found in the carried bytes last time already
            self.records, self.last_counted = self.records + 1, start
            end = self.carried_at + match.end() + 1  # past the end line's newline
            if end - self.chunk_start >= self.chunk_bytes:
                self._cut(end)
        # An end line that this block cut off is found again with the next one.
        keep = min(len(data), CARRIED_BYTES)
        self.carried_at += len(data) - keep
        self.carried = data[len(data) - keep:]

    def _cut(self, end: int) -> None:
        self.chunks.append(Chunk(self.path, self.chunk_start, end, self.chunk_first_record))
        self.chunk_start, self.chunk_first_record = end, self.records

    def finish(self, size: int) -> tuple[Chunk, ...]:
        if size > self.chunk_start:
            self._cut(size)
        return tuple(self.chunks)


def scan_file(path: str, compressed: bool, record_end: re.Pattern | None, scratch: Path | None) -> ScannedFile:
    """One pass over the file: its sha256 and, for a splittable format, its chunks (decompressing
    a gzip file into `scratch` on the way)."""
    digest = hashlib.sha256()
    with open_binary(path) as stream:
        blocks = _hashed_blocks(stream, digest)
        if record_end is None or (compressed and scratch is None):
            chunks = ()
        elif compressed:
            chunks = _cut_decompressed(path, blocks, record_end, scratch)
        else:
            chunks = _cut(RecordCutter(path, record_end), blocks)
        for _ in blocks:  # what the cutting did not read still counts in the checksum
            pass
    return ScannedFile(digest.hexdigest(), chunks)


def _hashed_blocks(stream, digest) -> Iterator[bytes]:
    while block := stream.read(READ_BYTES):
        digest.update(block)
        yield block


def _cut(cutter: RecordCutter, blocks, copy_to=None) -> tuple[Chunk, ...]:
    """The chunks of the bytes `blocks` yield (written to `copy_to` on the way, if given); none
    for bytes holding a CR, which the record-end pattern would not see."""
    size = 0
    for block in blocks:
        if copy_to is not None:
            copy_to.write(block)
        cutter.update(block)
        size += len(block)
    return () if cutter.has_carriage_return else cutter.finish(size)


def _cut_decompressed(path: str, blocks: Iterator[bytes], record_end: re.Pattern, scratch: Path) -> tuple[Chunk, ...]:
    scratch.mkdir(parents=True, exist_ok=True)
    handle, copy = tempfile.mkstemp(dir=scratch, suffix="-" + Path(path).name.removesuffix(".gz"))
    try:
        with open(handle, "wb") as out:
            chunks = _cut(RecordCutter(copy, record_end), _inflated(blocks), out)
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


def chunks_df(spark, files: list):
    """One row per chunk of the given input files (InputFile, chunks set), one chunk per partition:
    the file's own path (records are named by it), where the chunk's bytes are, and its place."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    from etl.pipeline.stages import one_row_per_task

    schema = StructType([
        StructField("path", StringType(), False), StructField("release", StringType(), True),
        StructField("chunk_path", StringType(), False), StructField("start", LongType(), False),
        StructField("end", LongType(), False), StructField("first_record", LongType(), False),
    ])
    return one_row_per_task(spark, [(f.path, f.release, c.path, c.start, c.end, c.first_record)
                                    for f in files for c in f.chunks], schema)

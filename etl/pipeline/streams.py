"""Opening input files inside Spark tasks, local or remote, plain or gzip."""

from __future__ import annotations

import gzip
from typing import BinaryIO


def open_binary(path: str) -> BinaryIO:
    """A local path with the builtin `open`; `s3://`, `hdfs://`... through pyarrow's filesystems."""
    if "://" in path and not path.startswith("file://"):
        from pyarrow import fs

        filesystem, inner = fs.FileSystem.from_uri(path.replace("s3a://", "s3://", 1))
        return filesystem.open_input_stream(inner)
    return open(path.removeprefix("file://"), "rb")


def open_content(path: str, compressed: bool) -> BinaryIO:
    stream = open_binary(path)
    return gzip.GzipFile(fileobj=stream) if compressed else stream


def unterminated_tail_offset(path: str, terminator: bytes = b"\n//\n", window: int = 1 << 22) -> int:
    """Byte offset where a last record without its terminator starts, or -1 if the file ends cleanly.

    A plain flat file split by Hadoop cannot tell its tasks which record is the
    last; the driver looks at the file's tail once and passes this offset along."""
    with open_binary(path) as stream:
        stream.seek(0, 2)
        size = stream.tell()
        start = max(0, size - window)
        stream.seek(start)
        tail = stream.read()
    if tail.rstrip().endswith(terminator.strip()) or not tail.strip():
        return -1
    cut = tail.rfind(terminator)
    if cut >= 0:
        return start + cut + len(terminator)
    if start == 0:
        return 0  # one record and no terminator at all
    return unterminated_tail_offset(path, terminator, window * 4)



def has_carriage_returns(path: str, window: int = 1 << 16) -> bool:
    """Whether a plain file's first bytes hold a CR (CRLF or CR line endings), which a record
    delimiter written with LF alone would never match."""
    with open_binary(path) as stream:
        return b"\r" in stream.read(window)

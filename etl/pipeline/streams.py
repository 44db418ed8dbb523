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

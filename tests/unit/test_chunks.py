"""Cutting flat files into chunks (etl/pipeline/chunks.py), without Spark."""

from __future__ import annotations

import gzip
import hashlib
import io
from dataclasses import replace

import pytest

from etl.parse.uniprot import FLAT_RECORD_END, iter_flat_records
from etl.pipeline.chunks import RecordCutter, read_chunk, scan_file


def cut(data: bytes, block: int, chunk_bytes: int) -> tuple:
    cutter = RecordCutter("f", FLAT_RECORD_END, chunk_bytes)
    for start in range(0, len(data), block):
        cutter.update(data[start:start + block])
    return cutter.finish(len(data))


def records_in(data: bytes) -> list[tuple[int, bytes]]:
    return [(index, record) for index, _, record, _ in iter_flat_records(io.BytesIO(data))]


@pytest.fixture(scope="module")
def sample(shared_data) -> bytes:
    return (shared_data / "uniprot" / "uniprotkb_sample.dat").read_bytes()


@pytest.mark.parametrize("block", [1, 3, 4, 7, 4096, 1 << 20])
def test_chunks_do_not_depend_on_how_the_bytes_arrive(sample, block):
    data = sample[:200_000] if block < 8 else sample
    assert cut(data, block, 50_000) == cut(data, len(data), 50_000)


def test_chunks_hold_the_records_of_the_whole_file_with_their_indices(sample, tmp_path):
    path = tmp_path / "sample.dat"
    path.write_bytes(sample)
    pieces = [replace(chunk, path=str(path)) for chunk in cut(sample, 1 << 16, 300_000)]
    found = [(chunk.first_record + index, record) for chunk in pieces for index, record in records_in(read_chunk(chunk))]
    assert len(pieces) >= 10
    assert found == records_in(sample)


def test_end_lines_in_a_row_and_at_the_start_are_each_a_record():
    # What iter_flat_records counts: an empty record at the start, and one between two `//` lines.
    data = b"//\nID   A\n//\n//\nID   B\n//\nID   C\n//\n"
    boundaries = cut(data, 5, 1)
    assert [c.first_record for c in boundaries] == [0, 1, 2, 3, 4]
    assert [index for index, _ in records_in(data)] == [0, 1, 2, 3, 4]


def test_a_file_with_carriage_returns_is_not_cut(sample, tmp_path):
    path = tmp_path / "crlf.dat"
    path.write_bytes(sample.replace(b"\n", b"\r\n"))
    assert scan_file(str(path), False, FLAT_RECORD_END, None).chunks == ()


def test_gzip_members_in_a_row_decompress_into_one_copy(sample, tmp_path):
    path = tmp_path / "two.dat.gz"
    half = sample.index(b"\n//\n", len(sample) // 2) + 4
    path.write_bytes(gzip.compress(sample[:half]) + gzip.compress(sample[half:]))
    scanned = scan_file(str(path), True, FLAT_RECORD_END, tmp_path / "scratch")
    copy = scanned.chunks[0].path
    assert copy != str(path) and open(copy, "rb").read() == sample
    assert all(c.path == copy for c in scanned.chunks)
    assert scanned.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()  # of the file, not the copy

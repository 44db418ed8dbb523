"""Cutting flat files into chunks (etl/pipeline/chunks.py), without Spark."""

from __future__ import annotations

import gzip
import hashlib
import io
from dataclasses import replace

import pytest

from etl.parse.uniprot import FLAT_END_TEXT, iter_flat_records
from etl.parse.pubchem import iter_line_records
from etl.pipeline.chunks import EndLine, NonBlankLine, RecordCutter, read_chunk, scan_file

FLAT_ENDS = EndLine(FLAT_END_TEXT)


def cut(data: bytes, block: int, chunk_bytes: int) -> tuple:
    cutter = RecordCutter("f", FLAT_ENDS, chunk_bytes)
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
    assert scan_file(str(path), False, FLAT_ENDS, None).chunks == ()


def test_gzip_members_in_a_row_decompress_into_one_copy(sample, tmp_path):
    path = tmp_path / "two.dat.gz"
    half = sample.index(b"\n//\n", len(sample) // 2) + 4
    path.write_bytes(gzip.compress(sample[:half]) + gzip.compress(sample[half:]))
    scanned = scan_file(str(path), True, FLAT_ENDS, tmp_path / "scratch")
    copy = scanned.chunks[0].path
    assert copy != str(path) and open(copy, "rb").read() == sample
    assert all(c.path == copy for c in scanned.chunks)
    assert scanned.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()  # of the file, not the copy


def line_records(data: bytes, chunk=None) -> list[dict]:
    if chunk is None:
        return list(iter_line_records(io.BytesIO(data), "cid_smiles"))
    return list(iter_line_records(io.BytesIO(data), "cid_smiles", chunk.first_record, chunk.lines_before, chunk.start))


def cut_lines(data: bytes, block: int, chunk_bytes: int) -> tuple:
    cutter = RecordCutter("f", NonBlankLine(), chunk_bytes)
    for start in range(0, len(data), block):
        cutter.update(data[start:start + block])
    return cutter.finish(len(data))


@pytest.mark.parametrize("block", [1, 5, 4096, 1 << 20])
def test_line_chunks_do_not_depend_on_how_the_bytes_arrive(cid_smiles, block):
    data = cid_smiles[:60_000] if block < 8 else cid_smiles
    assert cut_lines(data, block, 5_000) == cut_lines(data, len(data), 5_000)


def test_line_chunks_give_the_records_indices_line_numbers_and_offsets_of_the_whole_file(cid_smiles):
    chunks = cut_lines(cid_smiles, 1 << 16, 20_000)
    assert len(chunks) >= 10
    assert [c.end for c in chunks[:-1]] == [c.start for c in chunks[1:]] and chunks[-1].end == len(cid_smiles)
    found = [record for c in chunks for record in line_records(cid_smiles[c.start:c.end], c)]
    whole = line_records(cid_smiles)
    assert found == whole
    # The damage is rejected where it is, in whichever chunk holds it.
    assert [(r["reason"], r["record_index"]) for r in whole if r["kind"] == "reject"] == [
        ("not_utf8", 698), ("parse_error", 1498)]
    assert "line 1501" in whole[1498]["detail"]


def test_a_file_of_blank_lines_or_with_a_byte_order_mark_is_not_cut():
    assert cut_lines(b"\n  \n\t\n" * 1000, 100, 10) == ()
    assert cut_lines(b"\xef\xbb\xbf1\tC\n2\tCC\n" * 100, 100, 10) == ()
    assert len(cut_lines(b"1\tC\n2\tCC\n" * 100, 100, 10)) > 10

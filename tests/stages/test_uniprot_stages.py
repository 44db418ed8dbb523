"""UniProt stages on local Spark."""

from __future__ import annotations

import gzip
import shutil

import pytest

from etl.datasets.uniprotqa import DATASET, ParseFlatChunk, ParseUniProtFile, UniProtQAConfig, build_uniprotqa
from etl.pipeline.chunks import chunks_df
from etl.parse.uniprot import detect_format
from etl.pipeline.inputs import describe_file, resolve_inputs
from etl.pipeline.stages import files_df
from etl.pipeline.steps import apply_step

pytestmark = pytest.mark.spark


def parsed_rows(df):
    rows = df.select("accession", "record_index", "sequence", "reject_reason").collect()
    return sorted(((r["accession"] or "", r["record_index"] or -1, r["sequence"] or "", r["reject_reason"])
                   for r in rows), key=lambda r: r[:3])


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 512 KiB, so that the 4.2 MB sample is cut in several."""
    from etl.pipeline import chunks

    monkeypatch.setattr(chunks, "CHUNK_BYTES", 512 * 1024)


def chunked(path, tmp_path):
    return describe_file(path, detect_format, record_ends=DATASET.record_ends, scratch=tmp_path / "scratch")


def test_flat_files_are_parsed_in_chunks_that_match_the_stream(spark, shared_data, tmp_path, small_chunks):
    sample = shared_data / "uniprot" / "uniprotkb_sample.dat"
    compressed = tmp_path / "sample.dat.gz"
    compressed.write_bytes(gzip.compress(sample.read_bytes()))
    plain, gunzipped = chunked(sample, tmp_path), chunked(compressed, tmp_path)
    assert len(plain.chunks) >= 8 and len(gunzipped.chunks) == len(plain.chunks)
    assert gunzipped.chunks[0].path != str(compressed)  # a decompressed copy, cut like the plain file
    streamed = parsed_rows(apply_step(files_df(spark, [describe_file(compressed, detect_format)]), ParseUniProtFile()))
    for file in (plain, gunzipped):
        records = chunks_df(spark, [file])
        assert records.rdd.getNumPartitions() == len(file.chunks)
        rows = parsed_rows(apply_step(records, ParseFlatChunk()))
        assert len(rows) == 247 and rows == streamed


def test_truncated_plain_flat_file_rejects_only_the_cut_record(spark, shared_data, tmp_path, small_chunks):
    data = (shared_data / "uniprot" / "uniprotkb_sample.dat").read_bytes()
    cut = tmp_path / "cut.dat"
    cut.write_bytes(data[:1_300_000])
    file = chunked(cut, tmp_path)
    assert len(file.chunks) >= 2
    parsed = apply_step(chunks_df(spark, [file]), ParseFlatChunk())
    complete = data[:1_300_000].count(b"\n//\n")
    assert [r[3] for r in parsed_rows(parsed)].count(None) == complete
    rejects = parsed.filter("reject_reason IS NOT NULL").collect()
    assert [(r["reject_reason"], r["reject_origin"]) for r in rejects] == [("truncated_input", f"{cut}#{complete}")]


def test_a_damaged_gzip_flat_file_is_read_whole_by_the_stream_reader(shared_data, tmp_path):
    data = gzip.compress((shared_data / "uniprot" / "uniprotkb_sample.dat").read_bytes())
    cut = tmp_path / "cut.dat.gz"
    cut.write_bytes(data[: len(data) // 2])
    assert chunked(cut, tmp_path).chunks == ()
    assert list((tmp_path / "scratch").iterdir()) == []  # the partial copy is gone


def test_every_record_of_every_file_is_released_or_rejected(spark, shared_data, tmp_path):
    inputs = resolve_inputs([shared_data / "uniprot"], detect_format, DATASET.record_ends)
    gold, rejects, stages = build_uniprotqa(spark, inputs, UniProtQAConfig())
    released = {r["accession"] for r in gold.select("accession").distinct().collect()}
    rejected = rejects.collect()
    assert stages[0].records_in == len(released) + len(rejected)
    by_reason = {}
    for row in rejected:
        by_reason.setdefault(row["reason"], []).append(row)
    assert len(by_reason["unsupported_legacy_format"]) == 39  # 37 legacy entries + sp012 + sp013
    assert [r["record_id"] for r in by_reason["parse_error"]] == ["SOMETHING_ELSE1"]
    assert {r["origin"].rsplit("/", 1)[-1] for r in by_reason["unknown_format"]} == {"keywlist.txt#0", "subcell.txt#0"}
    # The 8 entries both in the flat sample and in XML are kept once.
    duplicates = {r["record_id"] for r in by_reason["duplicate_accession"]}
    assert {"H2CNN8", "P00750", "Q8NE62"} <= duplicates
    assert all(r["record_id"] in released for r in by_reason["duplicate_accession"])
    # An entry that is released has every QA row in one split.
    from pyspark.sql import functions as F

    splits = gold.groupBy("accession").agg(F.countDistinct("split").alias("n")).collect()
    assert splits and all(row["n"] == 1 for row in splits)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_plain_flat_files_with_crlf_or_a_non_utf8_byte_lose_nothing(spark, shared_data, tmp_path):
    from etl.datasets.uniprotqa import parse_stage

    clean = (shared_data / "uniprot" / "uniprotkb_sample.dat").read_bytes()
    crlf = tmp_path / "crlf.dat"
    crlf.write_bytes(clean.replace(b"\n", b"\r\n"))
    # One Latin-1 byte in the CC lines of the 3rd record: that record, and only it, is rejected.
    records = clean.split(b"\n//\n")
    records[2] = records[2].replace(b"CC   -!- ", b"CC   -!- \xe9", 1)
    latin1 = tmp_path / "latin1.dat"
    latin1.write_bytes(b"\n//\n".join(records))
    expected = parsed_rows(apply_step(files_df(spark, [describe_file(shared_data / "uniprot" / "uniprotkb_sample.dat",
                                                                     detect_format)]), ParseUniProtFile()))
    assert parsed_rows(parse_stage(spark, resolve_inputs([crlf], detect_format, DATASET.record_ends)).df) == expected
    damaged = parse_stage(spark, resolve_inputs([latin1], detect_format, DATASET.record_ends)).df
    rejects = damaged.filter("reject_reason IS NOT NULL").select("reject_reason", "reject_origin").collect()
    assert [(r["reject_reason"], r["reject_origin"].rsplit("#", 1)[1]) for r in rejects] == [("not_utf8", "2")]
    assert [r for r in parsed_rows(damaged) if not r[3]] == [r for r in expected if r[1] != 2]

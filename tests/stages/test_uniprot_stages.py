"""UniProt stages on local Spark."""

from __future__ import annotations

import gzip
import shutil

import pytest

from etl.datasets.uniprotqa import (ParseFlatRecord, ParseUniProtFile, UniProtQAConfig, build_uniprotqa, files_df,
                                    flat_records_df)
from etl.parse.uniprot import detect_format
from etl.pipeline.inputs import describe_file, resolve_inputs
from etl.pipeline.steps import apply_step

pytestmark = pytest.mark.spark


def parsed_rows(df):
    rows = df.select("accession", "record_index", "sequence", "reject_reason").collect()
    return sorted(((r["accession"] or "", r["record_index"] or -1, r["sequence"] or "", r["reject_reason"])
                   for r in rows), key=lambda r: r[:3])


def test_large_flat_file_is_split_across_partitions_and_matches_the_stream(spark, shared_data, tmp_path):
    sample = shared_data / "uniprot" / "uniprotkb_sample.dat"
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    hadoop.set("mapreduce.input.fileinputformat.split.maxsize", str(512 * 1024))
    try:
        records = flat_records_df(spark, describe_file(sample, detect_format))
        assert records.rdd.getNumPartitions() >= 8  # 4.2 MB in 512 KiB splits
        split_rows = parsed_rows(apply_step(records, ParseFlatRecord()))
    finally:
        hadoop.unset("mapreduce.input.fileinputformat.split.maxsize")
    compressed = tmp_path / "sample.dat.gz"
    compressed.write_bytes(gzip.compress(sample.read_bytes()))
    streamed = parsed_rows(apply_step(files_df(spark, [describe_file(compressed, detect_format)]), ParseUniProtFile()))
    assert len(split_rows) == 247
    assert [r[0] for r in split_rows] == [r[0] for r in streamed]
    assert [r[1:3] for r in split_rows] == [r[1:3] for r in streamed]


def test_truncated_plain_flat_file_rejects_only_the_cut_record(spark, shared_data, tmp_path):
    data = (shared_data / "uniprot" / "uniprotkb_sample.dat").read_bytes()
    cut = tmp_path / "cut.dat"
    cut.write_bytes(data[:300_000])
    rows = parsed_rows(apply_step(flat_records_df(spark, describe_file(cut, detect_format)), ParseFlatRecord()))
    complete = data[:300_000].count(b"\n//\n")
    assert [r[3] for r in rows].count(None) == complete
    assert [r[3] for r in rows if r[3]] == ["truncated_input"]


def test_every_record_of_every_file_is_released_or_rejected(spark, shared_data, tmp_path):
    inputs = resolve_inputs([shared_data / "uniprot"], detect_format)
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
    assert parsed_rows(parse_stage(spark, resolve_inputs([crlf], detect_format)).df) == expected
    damaged = parse_stage(spark, resolve_inputs([latin1], detect_format)).df
    rejects = damaged.filter("reject_reason IS NOT NULL").select("reject_reason", "reject_origin").collect()
    assert [(r["reject_reason"], r["reject_origin"].rsplit("#", 1)[1]) for r in rejects] == [("not_utf8", "2")]
    assert [r for r in parsed_rows(damaged) if not r[3]] == [r for r in expected if r[1] != 2]

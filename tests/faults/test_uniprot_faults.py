"""Fault injection over the real UniProt files: damage one record, and only that record is lost.

A clean real file of each format (flat file, XML, REST JSON search page, a
single-entry REST JSON, and JSON lines built from the page) is damaged in one
record: the record cut short, garbage bytes put into it, a non-UTF-8 byte put
into it, a value replaced with null, or the whole file turned to CRLF or CR line
ends. `parse_entries` must then give every other record exactly as it gives it
for the clean file, and the damaged record as a reject with a reason that fits
the damage: never an exception, never silence, never U+FFFD in a row.

The fixed cases below are the floor; where hypothesis is installed, the property
tests after them draw the record, the position and the bytes of the damage.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from etl.normalize.sequences import SequencePolicy, normalize_sequence
from etl.parse.uniprot import FLAT, JSON, JSONL, XML, parse_entries
from etl.quality.rejects import Rejected

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is a test dependency; without it the fixed cases still run
    st = None

needs_hypothesis = pytest.mark.skipif(st is None, reason="hypothesis is not installed")

SEARCH_PAGE = "json/uniprotkb_A0A0E3KBH3_OR_A0A072ULZ1_OR_A_2024_09_24.json"
# The rejects that stand for all the bytes from their start to the end of the file.
LOST_REASONS = {"truncated_input", "unreadable_remainder"}
# A flat record cut short can still parse: its sequence, cut or gone, fails the next stage's check.
SEQUENCE_CHECKS = {"empty_sequence", "length_mismatch", "crc64_mismatch"}
NON_UTF8 = [b"\x80", b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"]
FLAT_GARBAGE, XML_GARBAGE, JSON_GARBAGE = b"@@ \x01garbage line\n", b"<<\x01garbage", b"\x01garbage "
# JSON members whose null the parser cannot read past, and the reason it gives.
JSON_NULLS = {"primaryAccession": "missing_accession", "organism": "parse_error", "sequence": "parse_error",
              "proteinDescription": "parse_error", "entryAudit": "parse_error", "keywords": "parse_error"}


def parse(data: bytes, fmt: str) -> list:
    return list(parse_entries(io.BytesIO(data), fmt))


@dataclass(frozen=True)
class Sample:
    """A clean real file, the byte range of each of its records, and what it parses to."""

    fmt: str
    data: bytes
    spans: list[tuple[int, int]]
    clean: list

    @classmethod
    def of(cls, fmt: str, data: bytes, spans: list[tuple[int, int]]) -> Sample:
        return cls(fmt, data, spans, parse(data, fmt))

    def record(self, k: int) -> bytes:
        start, end = self.spans[k]
        return self.data[start:end]

    def with_record(self, k: int, damaged: bytes) -> bytes:
        start, end = self.spans[k]
        return self.data[:start] + damaged + self.data[end:]

    def ending_inside(self, k: int, length: int) -> bytes:
        """The file cut off `length` bytes into record k."""
        return self.data[:self.spans[k][0] + length]


# ---------------------------------------------------------------- the real files and their records


def flat_spans(data: bytes) -> list[tuple[int, int]]:
    """Each record from its first line up to its `//` line."""
    ends = [m.start() for m in re.finditer(rb"^//$", data, re.M)]
    return list(zip([0] + [end + len(b"//\n") for end in ends[:-1]], ends))


def xml_spans(data: bytes) -> list[tuple[int, int]]:
    return list(zip([m.start() for m in re.finditer(rb"<entry[ >]", data)],
                    [m.end() for m in re.finditer(rb"</entry>", data)]))


def page_spans(data: bytes) -> list[tuple[int, int]]:
    """Each element of a one-line search page's `results` (every UniProt entry starts with its entryType)."""
    starts = [m.start() for m in re.finditer(rb'\{"entryType"', data)]
    return list(zip(starts, [start - len(b",") for start in starts[1:]] + [data.rindex(b"]}")]))


def line_spans(data: bytes) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(rb"[^\n]+", data)]


def json_lines(page: bytes) -> bytes:
    return b"".join(json.dumps(entry).encode() + b"\n" for entry in json.loads(page)["results"])


@pytest.fixture(scope="module")
def samples(shared_data) -> dict[str, Sample]:
    uniprot = shared_data / "uniprot"
    flat = (uniprot / "uniprotkb_sample.dat").read_bytes()
    page = (uniprot / SEARCH_PAGE).read_bytes()
    single = (uniprot / "json" / "O00115.json").read_bytes()
    xml = (uniprot / "xml" / "multi_ex.xml").read_bytes()
    # The property tests parse hundreds of damaged copies: there the flat file is its first 40 records.
    flat_head = flat[:flat_spans(flat)[39][1] + len(b"//\n")]
    found = {"flat": Sample.of(FLAT, flat, flat_spans(flat)),
             "flat_head": Sample.of(FLAT, flat_head, flat_spans(flat_head)),
             "xml": Sample.of(XML, xml, xml_spans(xml)), "page": Sample.of(JSON, page, page_spans(page)),
             "single": Sample.of(JSON, single, [(0, len(single.rstrip()))]),
             "jsonl": Sample.of(JSONL, json_lines(page), line_spans(json_lines(page)))}
    for name, sample in found.items():  # clean files, whose spans are the records parse_entries finds
        assert not any(isinstance(row, Rejected) for _, _, row in sample.clean), name
        assert len(sample.spans) == len(sample.clean), name
        assert all(acc.encode() in sample.record(k) for k, (_, acc, _) in enumerate(sample.clean)), name
    return found


# ---------------------------------------------------------------- damage


def cut(record: bytes, length: int, fmt: str) -> bytes:
    # A flat record keeps the end of its last line: without it the `//` line would join it, and
    # the two records would run into one (another damage, not a cut).
    return record[:length] + b"\n" if fmt == FLAT else record[:length]


def insert(record: bytes, position: int, extra: bytes) -> bytes:
    return record[:position] + extra + record[position:]


def garbage_positions(record: bytes, fmt: str) -> list[int]:
    """Where garbage breaks the record's syntax: at a line start (flat), after a tag (XML),
    before a member (JSON; `{"` and `,"` never occur inside a JSON string)."""
    if fmt == FLAT:
        return [0] + [m.end() for m in re.finditer(rb"\n", record[:-1])]
    if fmt == XML:
        return [m.end() for m in re.finditer(rb">", record[:-1])]
    return [m.end() for m in re.finditer(rb'[{,](?=\s*")', record)]


def garbage(fmt: str) -> bytes:
    return {FLAT: FLAT_GARBAGE, XML: XML_GARBAGE}.get(fmt, JSON_GARBAGE)


def text_field_position(record: bytes, fmt: str) -> int:
    """A position inside the text of the protein's name, which every entry has."""
    marker = {FLAT: rb"\nDE   \w+: Full=", XML: rb"<fullName[^>]*>"}.get(fmt, rb'"fullName".*?"value": ?"')
    return re.search(marker, record, re.S).end() + 3


def null_accession(record: bytes, fmt: str) -> bytes:
    if fmt == FLAT:
        return re.sub(rb"^AC   [^\n]*", b"AC   ;", record, count=1, flags=re.M)
    if fmt == XML:
        return re.sub(rb"<accession>[^<]*</accession>", b"<accession/>", record, count=1)
    return null_member(record, "primaryAccession")


def null_member(record: bytes, key: str) -> bytes:
    return json.dumps(json.loads(record) | {key: None}).encode()


def with_line_ends(data: bytes, line_end: bytes) -> bytes:
    return data.replace(b"\n", line_end)


# ---------------------------------------------------------------- what must come out


def verdict(result) -> str:
    """Why a record is not released: its parse reject, or the sequence check that the next stage makes."""
    if isinstance(result, Rejected):
        return result.reason
    try:
        normalize_sequence(result["sequence"], result["declared_length"], result["declared_crc64"], SequencePolicy())
    except Rejected as rejected:
        return rejected.reason
    return "released"


def assert_only_record_lost(sample: Sample, k: int, damaged: bytes, reasons: set[str]) -> list:
    """Every record but k comes out as from the clean file; record k does not pass, for one of `reasons`."""
    results = parse(damaged, sample.fmt)
    clean = sample.clean
    assert len(results) == len(clean)
    assert results[:k] + results[k + 1:] == clean[:k] + clean[k + 1:]
    assert results[k][0] == k and verdict(results[k][2]) in reasons, results[k]
    return results


def assert_rest_rejected_explicitly(sample: Sample, k: int, damaged: bytes) -> None:
    """The records before k come out as from the clean file; from k on, what cannot be followed
    is rejected, the last reject naming the unread bytes up to the end of the file."""
    results = parse(damaged, sample.fmt)
    assert results[:k] == sample.clean[:k]
    rest = [result for _, _, result in results[k:]]
    assert rest and all(isinstance(result, Rejected) for result in rest)
    assert rest[-1].reason in LOST_REASONS and f"-{len(damaged)} of {len(damaged)}" in rest[-1].detail


def assert_file_ending_inside(sample: Sample, k: int, damaged: bytes) -> None:
    results = parse(damaged, sample.fmt)
    assert results[:k] == sample.clean[:k]
    (index, _, last), = results[k:]
    assert index == k and last.reason == "truncated_input"


def cut_reasons(sample: Sample, k: int) -> set[str]:
    if sample.fmt == FLAT:
        return {"parse_error"} | SEQUENCE_CHECKS
    # Nothing after the last XML entry or JSON line ends it but the end of the file.
    return {"parse_error", "truncated_input"} if k == len(sample.spans) - 1 else {"parse_error"}


# ---------------------------------------------------------------- the floor: fixed cases on every format

RESUMABLE = ["flat", "xml", "jsonl"]  # formats where a cut record ends where the next one starts
ALL = ["flat", "xml", "page", "jsonl"]


def middle(sample: Sample) -> int:
    return len(sample.spans) // 2


@pytest.mark.parametrize("name", RESUMABLE)
def test_a_record_cut_short_costs_that_record_only(samples, name):
    sample = samples[name]
    k = middle(sample)
    record = sample.record(k)
    assert_only_record_lost(sample, k, sample.with_record(k, cut(record, len(record) // 2, sample.fmt)),
                            cut_reasons(sample, k))


def test_a_page_element_cut_short_rejects_the_rest_explicitly(samples):
    sample = samples["page"]
    k = middle(sample)
    record = sample.record(k)
    assert_rest_rejected_explicitly(sample, k, sample.with_record(k, cut(record, len(record) // 2, JSON)))


@pytest.mark.parametrize("name", ALL + ["single"])
def test_a_file_ending_inside_a_record_reports_the_cut(samples, name):
    sample = samples[name]
    k = len(sample.spans) - 1
    assert_file_ending_inside(sample, k, sample.ending_inside(k, len(sample.record(k)) // 2))


@pytest.mark.parametrize("name", ALL + ["single"])
def test_garbage_in_a_record_costs_that_record_only(samples, name):
    sample = samples[name]
    k = middle(sample)
    record = sample.record(k)
    positions = garbage_positions(record, sample.fmt)
    damaged = insert(record, positions[len(positions) // 2], garbage(sample.fmt))
    assert_only_record_lost(sample, k, sample.with_record(k, damaged), {"parse_error"})


@pytest.mark.parametrize("name", ALL + ["single"])
def test_a_non_utf8_byte_in_a_text_field_rejects_that_record(samples, name):
    sample = samples[name]
    k = middle(sample)
    position = text_field_position(sample.record(k), sample.fmt)
    damaged = sample.with_record(k, insert(sample.record(k), position, b"\xe9"))
    results = assert_only_record_lost(sample, k, damaged, {"not_utf8"})
    assert f"offset {sample.spans[k][0] + position}" in results[k][2].detail
    assert results[k][1] == sample.clean[k][1]  # the reject still names its entry


@pytest.mark.parametrize("name", ALL + ["single"])
def test_a_null_accession_rejects_that_record(samples, name):
    sample = samples[name]
    k = middle(sample)
    results = assert_only_record_lost(sample, k, sample.with_record(k, null_accession(sample.record(k), sample.fmt)),
                                      {"missing_accession"})
    assert results[k][1] is None  # no other entry's accession stands in


@pytest.mark.parametrize("name", ["page", "jsonl", "single"])
@pytest.mark.parametrize("key", sorted(JSON_NULLS))
def test_a_null_json_member_rejects_that_record(samples, name, key):
    sample = samples[name]
    k = middle(sample)
    results = assert_only_record_lost(sample, k, sample.with_record(k, null_member(sample.record(k), key)),
                                      {JSON_NULLS[key]})
    assert results[k][1] == (None if key == "primaryAccession" else sample.clean[k][1])


@pytest.mark.parametrize("name", ALL + ["single"])
@pytest.mark.parametrize("line_end", [b"\r\n", b"\r"])
def test_crlf_or_cr_line_ends_change_nothing(samples, name, line_end):
    sample = samples[name]
    assert parse(with_line_ends(sample.data, line_end), sample.fmt) == sample.clean


# ---------------------------------------------------------------- properties: any record, any position

PROPERTY_SAMPLES = ["flat_head", "xml", "page", "jsonl"]


def check_property(check: Callable, examples: int = 25) -> None:
    """Run `check(draw)` on `examples` drawn cases (the samples fixture is shared, not per example)."""
    settings(max_examples=examples, deadline=None, derandomize=True,
             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])(
        given(st.data())(lambda data: check(data.draw)))()


def draw_record(draw, sample):
    """A record of `sample` chosen by hypothesis: (its index, its bytes)."""
    k = draw(st.integers(0, len(sample.spans) - 1))
    return k, sample.record(k)


@needs_hypothesis
@pytest.mark.parametrize("name", PROPERTY_SAMPLES)
def test_property_garbage_anywhere_costs_one_record(samples, name):
    sample = samples[name]

    def check(draw):
        k, record = draw_record(draw, sample)
        position = draw(st.sampled_from(garbage_positions(record, sample.fmt)))
        assert_only_record_lost(sample, k, sample.with_record(k, insert(record, position, garbage(sample.fmt))),
                                {"parse_error"})

    check_property(check)


@needs_hypothesis
@pytest.mark.parametrize("name", PROPERTY_SAMPLES)
def test_property_a_non_utf8_byte_anywhere_rejects_its_record(samples, name):
    sample = samples[name]

    def check(draw):
        k, record = draw_record(draw, sample)
        # Inside the record: not before its first byte (that is the gap before it) nor, in a
        # flat file, after its last line end (that is the start of its `//` line).
        position = draw(st.integers(1, len(record) - 1))
        damaged = sample.with_record(k, insert(record, position, draw(st.sampled_from(NON_UTF8))))
        results = assert_only_record_lost(sample, k, damaged, {"not_utf8"})
        assert f"offset {sample.spans[k][0] + position}" in results[k][2].detail

    check_property(check)


@needs_hypothesis
@pytest.mark.parametrize("name", ["flat_head", "xml", "jsonl"])
def test_property_a_record_cut_anywhere_costs_that_record(samples, name):
    sample = samples[name]

    def check(draw):
        k, record = draw_record(draw, sample)
        damaged = sample.with_record(k, cut(record, draw(st.integers(1, len(record) - 1)), sample.fmt))
        assert_only_record_lost(sample, k, damaged, cut_reasons(sample, k))

    check_property(check)


@needs_hypothesis
def test_property_a_page_element_cut_anywhere_rejects_the_rest(samples):
    sample = samples["page"]

    def check(draw):
        k, record = draw_record(draw, sample)
        assert_rest_rejected_explicitly(sample, k, sample.with_record(k, cut(record, draw(st.integers(1, len(record) - 1)), JSON)))

    check_property(check)


@needs_hypothesis
@pytest.mark.parametrize("name", PROPERTY_SAMPLES)
def test_property_a_file_ending_anywhere_in_a_record_reports_the_cut(samples, name):
    sample = samples[name]

    def check(draw):
        k, record = draw_record(draw, sample)
        # From the record's second byte: a file ending right before a record just has fewer records.
        assert_file_ending_inside(sample, k, sample.ending_inside(k, draw(st.integers(1, len(record) - 1))))

    check_property(check)


# ---------------------------------------------------------------- end to end: a damaged directory through the CLI


def qa_rows(release) -> set[tuple[str, str, str]]:
    import pyarrow.parquet as pq

    table = pq.read_table(release / "data", columns=["accession", "field", "answer"])
    return set(zip(*(table.column(name).to_pylist() for name in ("accession", "field", "answer"))))


def parse_rejects(release) -> dict[str, tuple[str, str]]:
    """record_id -> (reason, detail) of the parse stage's rejects."""
    import pyarrow.parquet as pq

    rows = pq.read_table(release / "rejects").to_pylist()
    return {row["record_id"]: (row["reason"], row["detail"]) for row in rows if row["stage"] == "parse"}


def damaged_sample(samples: dict[str, Sample], directory) -> tuple[object, dict[str, tuple[str, int]]]:
    """The bundled sample (the same real files) with one record damaged in three of its files:
    the directory, and accession -> (reason, offset of the damage)."""
    import gzip

    from etl.paths import SAMPLE_DIR

    flat, xml, page = samples["flat"], samples["xml"], samples["page"]
    flat_k, xml_k, page_k = 10, 4, 2  # A9N0W4; Q8NE62, the 5th of 8 entries; A0A0D1DWQ2, the 3rd of 6
    flat_at = flat.spans[flat_k][0] + text_field_position(flat.record(flat_k), FLAT)
    page_at = page.spans[page_k][0] + text_field_position(page.record(page_k), JSON)
    xml_at = xml.spans[xml_k][0] + garbage_positions(xml.record(xml_k), XML)[20]
    shutil.copytree(SAMPLE_DIR / "uniprot", directory, ignore=shutil.ignore_patterns("README.md", "*.dat"))
    # The flat file gzipped: a plain one is cut into records by Spark, not by parse_entries.
    (directory / "uniprotkb_sample.dat.gz").write_bytes(gzip.compress(insert(flat.data, flat_at, b"\xe9")))
    (directory / "xml" / "multi_ex.xml").write_bytes(insert(xml.data, xml_at, XML_GARBAGE))
    (directory / SEARCH_PAGE).write_bytes(insert(page.data, page_at, b"\xff"))
    return directory, {"A9N0W4": ("not_utf8", flat_at), "Q8NE62": ("parse_error", xml_at),
                       "A0A0D1DWQ2": ("not_utf8", page_at)}


@pytest.mark.spark
@pytest.mark.slow
def test_damaged_files_in_a_build_cost_their_damaged_records_only(samples, build, uniprotqa_release, tmp_path):
    """Built next to clean files: a damaged gzipped flat file, XML and JSON page. The clean
    build is the bundled sample's (`uniprotqa_release`), the same files undamaged."""
    directory, damage = damaged_sample(samples, tmp_path / "inputs")
    release = build("uniprotqa", tmp_path / "release", "--input", str(directory))
    manifests = [json.loads((path / "manifest.json").read_text()) for path in (release, uniprotqa_release)]

    for manifest in manifests:
        counts = manifest["counts"]
        assert manifest["reconciled"]
        assert counts["records_in"] == counts["records_released"] + counts["records_rejected"]
    # The damage turned three records into rejects: it made none vanish and none appear.
    assert manifests[0]["counts"]["records_in"] == manifests[1]["counts"]["records_in"]

    assert parse_rejects(uniprotqa_release) == {}
    rejects = parse_rejects(release)
    assert {accession: reason for accession, (reason, _) in rejects.items()} == {
        accession: reason for accession, (reason, _) in damage.items()}
    for accession in ("A9N0W4", "A0A0D1DWQ2"):
        assert f"offset {damage[accession][1]}" in rejects[accession][1]

    # Every other entry is answered as in the clean build: the XML entries after the broken one
    # (Q01436 is in no other file), and Q8NE62 itself, from its copy in the flat file.
    clean_rows = qa_rows(uniprotqa_release)
    lost = {"A9N0W4", "A0A0D1DWQ2"}
    assert {"Q01436", "Q8NE62"} <= {accession for accession, _, _ in clean_rows}
    assert qa_rows(release) == {row for row in clean_rows if row[0] not in lost}

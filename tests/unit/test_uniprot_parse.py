"""Parsing UniProt flat files, XML and REST JSON on the real files in shared/data/uniprot (no Spark)."""

from __future__ import annotations

import gzip
import io
import json
import re

import pytest

from etl.parse.uniprot import FLAT, JSON, JSONL, XML, detect_format, parse_entries
from etl.quality.rejects import Rejected


def read_all(path, fmt=None):
    data = path.read_bytes()
    fmt = fmt or detect_format(data[:65536], path.name)
    return list(parse_entries(io.BytesIO(data), fmt))


def entries(path):
    return {acc: row for _, acc, row in read_all(path) if not isinstance(row, Rejected)}


@pytest.fixture(scope="module")
def uniprot(shared_data):
    return shared_data / "uniprot"


@pytest.fixture(scope="module")
def flat_entries(uniprot):
    return entries(uniprot / "uniprotkb_sample.dat")


@pytest.fixture(scope="module")
def xml_entries(uniprot):
    found = {}
    for path in sorted((uniprot / "xml").glob("*.xml")):
        found.update(entries(path))
    return found


def test_flat_sample_parses_every_entry(flat_entries):
    assert len(flat_entries) == 247
    assert sum(row["reviewed"] for row in flat_entries.values()) == 224


def test_flat_entry_fields(uniprot):
    a8ezu1 = entries(uniprot / "malformed" / "A8EZU1_ERROR_D6RDV7.dat")["A8EZU1"]
    assert a8ezu1["entry_name"] == "YBEY_RICCK"
    assert a8ezu1["reviewed"] is True
    assert a8ezu1["recommended_name_full"] == "Endoribonuclease YbeY"
    assert a8ezu1["ec_numbers"] == ["3.1.-.-"]
    assert a8ezu1["gene_names"] == ["ybeY", "A1E_04765"]
    assert a8ezu1["organism"] == "Rickettsia canadensis (strain McKiel)"
    assert a8ezu1["taxon_id"] == 293613
    assert a8ezu1["function"] == (
        "Single strand-specific metallo-endoribonuclease involved in late-stage 70S ribosome quality "
        "control and in maturation of the 3' terminus of the 16S rRNA.")
    assert a8ezu1["family"] == "Belongs to the endoribonuclease YbeY family."
    assert a8ezu1["subcellular_locations"] == [
        {"molecule": None, "location": "Cytoplasm", "topology": None, "orientation": None}]
    assert a8ezu1["keywords"][:3] == ["Cytoplasm", "Endonuclease", "Hydrolase"]
    assert a8ezu1["declared_length"] == 172 == len(a8ezu1["sequence"])
    assert a8ezu1["declared_crc64"] == "914F463ED4CF260D"
    assert a8ezu1["entry_version"] == 76 and a8ezu1["entry_date"] == "2022-08-03"


def test_flat_isoform_locations_keep_their_molecule(flat_entries):
    locations = flat_entries["O75398"]["subcellular_locations"]
    assert {"molecule": "Isoform 2", "location": "Secreted", "topology": None, "orientation": None} in locations
    assert [loc["molecule"] for loc in locations].count("Isoform 1") == 2


def test_flat_membrane_topology(flat_entries):
    with_topology = [loc for row in flat_entries.values() for loc in row["subcellular_locations"] if loc["topology"]]
    assert {"molecule": None, "location": "Cell membrane", "topology": "Multi-pass membrane protein",
            "orientation": None} in with_topology


def test_xml_files_parse(xml_entries):
    assert {"H2CNN8", "F2CXE6", "Q13639", "P84001", "P97881", "R5HY77", "P00750"} <= set(xml_entries)
    q13639 = xml_entries["Q13639"]
    assert q13639["recommended_name_full"] == "5-hydroxytryptamine receptor 4"
    assert q13639["recommended_name_short"] == ["5-HT-4", "5-HT4"]
    assert q13639["alternative_names"] == ["Serotonin receptor 4"]
    assert q13639["organism"] == "Homo sapiens (Human)"


def test_same_entry_in_flat_file_and_xml_gives_the_same_row(flat_entries, xml_entries):
    shared = sorted(set(flat_entries) & set(xml_entries))
    # H2CNN8 has its own XML file; the others are in multi_ex.xml.
    assert shared == ["H2CNN8", "P00750", "P00981", "P28799", "P56540", "Q51481", "Q51858", "Q8NE62"]
    for accession in shared:
        assert flat_entries[accession] == xml_entries[accession], accession


def test_json_single_entry(uniprot):
    o00115 = entries(uniprot / "json" / "O00115.json")["O00115"]
    assert o00115["entry_name"] == "DNS2A_HUMAN"
    assert o00115["secondary_accessions"] == ["B2RD06", "B7Z4K6", "O43910"]
    assert o00115["recommended_name_full"] == "Deoxyribonuclease-2-alpha"
    assert o00115["alternative_names"][:2] == ["Acid DNase", "Deoxyribonuclease II alpha"]
    assert o00115["ec_numbers"] == ["3.1.22.1"]
    assert o00115["family"] == "Belongs to the DNase II family."
    assert o00115["function"].endswith("expelled from erythroid precursor cells (PubMed:29259162).")
    assert o00115["declared_crc64"] == "DF1BBFBA8A9676EA"
    assert o00115["entry_version"] == 196


def test_json_search_page_and_json_lines_agree(uniprot):
    page = uniprot / "json" / "uniprotkb_A0A0E3KBH3_OR_A0A072ULZ1_OR_A_2024_09_24.json"
    from_page = entries(page)
    assert len(from_page) == 6
    lines = "\n".join(json.dumps(entry) for entry in json.loads(page.read_bytes())["results"]).encode()
    assert detect_format(lines[:65536]) == JSONL
    from_lines = {acc: row for _, acc, row in parse_entries(io.BytesIO(lines), JSONL)}
    assert from_lines == from_page


def test_legacy_and_malformed_entries_are_rejected_with_reasons(uniprot):
    legacy = read_all(uniprot / "uniprotkb_legacy_pre2006.dat")
    assert len(legacy) == 37
    assert {row.reason for _, _, row in legacy} == {"unsupported_legacy_format"}
    assert all(acc for acc, in [(a,) for _, a, _ in legacy])
    malformed = read_all(uniprot / "malformed" / "A8EZU1_ERROR_D6RDV7.dat")
    reasons = [row.reason if isinstance(row, Rejected) else "ok" for _, _, row in malformed]
    assert reasons == ["ok", "parse_error", "ok"]
    assert "THIS_IS_WRONG" in malformed[1][2].detail


def test_format_is_detected_by_content_not_name(uniprot):
    flat = (uniprot / "uniprotkb_sample.dat").read_bytes()[:65536]
    xml = (uniprot / "xml" / "H2CNN8.xml").read_bytes()
    assert detect_format(flat, "misleading.xml") == FLAT
    assert detect_format(xml, "misleading.json") == XML
    assert detect_format((uniprot / "json" / "O00115.json").read_bytes()[:65536], "x.txt") == JSON
    with pytest.raises(Rejected) as info:
        detect_format((uniprot / "vocab" / "subcell.txt").read_bytes()[:65536], "subcell.txt")
    assert info.value.reason == "unknown_format"


@pytest.mark.parametrize("fmt, path, cut", [
    (FLAT, "uniprotkb_sample.dat", 100_000),
    (XML, "xml/multi_ex.xml", 100_000),
    (JSON, "json/uniprotkb_accession_F1MAB7_OR_O14975_2024_09_21.json", 50_000),
])
def test_truncated_file_keeps_complete_records_and_reports_the_cut(uniprot, fmt, path, cut):
    data = (uniprot / path).read_bytes()
    results = list(parse_entries(io.BytesIO(data[:cut]), fmt))
    last = results[-1][2]
    assert isinstance(last, Rejected) and last.reason == "truncated_input"
    complete = [r for _, _, r in results[:-1]]
    assert all(not isinstance(r, Rejected) for r in complete)
    if fmt == FLAT:
        assert len(complete) == data[:cut].count(b"\n//\n")


def test_truncated_gzip_stream(uniprot):
    data = (uniprot / "uniprotkb_sample.dat").read_bytes()
    cut = gzip.compress(data)[:200_000]
    results = list(parse_entries(gzip.GzipFile(fileobj=io.BytesIO(cut)), FLAT))
    assert results[-1][2].reason == "truncated_input"
    assert len(results) > 10
    assert all(not isinstance(r, Rejected) for _, _, r in results[:-1])


# ---------------------------------------------------------------- damaged files: the damage stays in its record

MULTI_XML = "xml/multi_ex.xml"
SEARCH_PAGE = "json/uniprotkb_A0A0E3KBH3_OR_A0A072ULZ1_OR_A_2024_09_24.json"


def parse_bytes(data: bytes, fmt: str) -> list:
    return list(parse_entries(io.BytesIO(data), fmt))


def outcomes(results) -> list:
    """(accession, reason or "ok") per record, in order."""
    return [(acc, row.reason if isinstance(row, Rejected) else "ok") for _, acc, row in results]


def rows_by_accession(results) -> dict:
    return {acc: row for _, acc, row in results if not isinstance(row, Rejected)}


def damage_between(data: bytes, start_marker: bytes, occurrence: int, damage) -> bytes:
    """`data` with the record starting at the `occurrence`-th `start_marker` replaced by damage(record)."""
    starts = [m.start() for m in re.finditer(re.escape(start_marker), data)]
    start = starts[occurrence]
    end = starts[occurrence + 1] if occurrence + 1 < len(starts) else len(data)
    return data[:start] + damage(data[start:end]) + data[end:]


def json_lines(page: bytes) -> bytes:
    return b"".join(json.dumps(entry).encode() + b"\n" for entry in json.loads(page)["results"])


def test_xml_entry_broken_in_the_middle_rejects_that_entry_only(uniprot):
    clean = (uniprot / MULTI_XML).read_bytes()
    broken = damage_between(clean, b"<entry ", 4, lambda entry: entry[: len(entry) // 2] + b"<<" + entry[len(entry) // 2:])
    results = parse_bytes(broken, XML)
    expected = outcomes(parse_bytes(clean, XML))
    expected[4] = (expected[4][0], "parse_error")
    assert outcomes(results) == expected
    assert rows_by_accession(results) == {acc: row for acc, row in rows_by_accession(parse_bytes(clean, XML)).items()
                                         if acc != expected[4][0]}


@pytest.mark.parametrize("damage, detail", [
    (lambda entry: entry.replace(b"</entry>", b""), "has no </entry> before the next <entry>"),
    (lambda entry: entry.replace(b"<entry ", b"<ent ", 1), "an </entry> without its <entry>"),
])
def test_xml_entry_missing_a_tag_rejects_that_entry_only(uniprot, damage, detail):
    clean = parse_bytes((uniprot / MULTI_XML).read_bytes(), XML)
    results = parse_bytes(damage_between((uniprot / MULTI_XML).read_bytes(), b"<entry ", 4, damage), XML)
    assert [r for r in results if isinstance(r[2], Rejected)] == [results[4]]
    assert results[4][2].reason == "parse_error" and detail in results[4][2].detail
    assert results[4][1] == clean[4][1]  # the reject still names its entry
    assert results[:4] + results[5:] == clean[:4] + clean[5:]


def test_xml_entries_keep_the_root_namespace(uniprot):
    """Each entry is parsed on its own; a namespace prefix declared on the root must still resolve."""
    clean = (uniprot / MULTI_XML).read_bytes()
    prefixed = re.sub(rb"<(/?)(?=[A-Za-z])", rb"<\1up:", clean).replace(b'xmlns="', b'xmlns:up="')
    assert parse_bytes(prefixed, XML) == parse_bytes(clean, XML)


def test_xml_reads_one_entry_at_a_time(uniprot):
    """A file many times the read-ahead (1 MiB) is never read far past the entry being yielded."""
    clean = (uniprot / MULTI_XML).read_bytes()
    body_start, body_end = clean.index(b"<entry "), clean.rindex(b"</entry>") + len(b"</entry>")
    big = clean[:body_start] + clean[body_start:body_end] * 40 + clean[body_end:]
    stream = io.BytesIO(big)
    read_when_yielded = [stream.tell() for _ in parse_entries(stream, XML)]
    entry_ends = [m.end() for m in re.finditer(rb"</entry>", big)]
    assert len(read_when_yielded) == len(entry_ends) == 320
    assert all(read <= end + 2 * (1 << 20) for read, end in zip(read_when_yielded, entry_ends))


def test_json_lines_with_a_cut_line_read_on_at_the_next_line(uniprot):
    lines = json_lines((uniprot / SEARCH_PAGE).read_bytes()).split(b"\n")
    lines[2] = lines[2][: len(lines[2]) // 2]
    results = parse_bytes(b"\n".join(lines), JSONL)
    clean = parse_bytes(json_lines((uniprot / SEARCH_PAGE).read_bytes()), JSONL)
    assert len(results) == 6
    assert results[2][2].reason == "parse_error" and results[2][1] == clean[2][1]
    assert results[:2] + results[3:] == clean[:2] + clean[3:]


def test_search_page_with_one_broken_entry_reads_the_others(uniprot):
    page = (uniprot / SEARCH_PAGE).read_bytes()
    broken = damage_between(page, b'{"entryType"', 2, lambda entry: entry.replace(b'"uniProtkbId":', b'"uniProtkbId"', 1))
    results = parse_bytes(broken, JSON)
    clean = parse_bytes(page, JSON)
    assert outcomes(results) == [(acc, "parse_error" if i == 2 else "ok") for i, (acc, _) in enumerate(outcomes(clean))]
    assert results[:2] + results[3:] == clean[:2] + clean[3:]


def test_json_whose_syntax_cannot_be_followed_rejects_the_unread_rest(uniprot):
    page = (uniprot / SEARCH_PAGE).read_bytes()
    second = page.index(b'{"entryType"', page.index(b'{"entryType"') + 1)
    broken = page[:second] + b'{"x": [}' + page[second:]  # a bracket closed by one of another kind
    results = parse_bytes(broken, JSON)
    assert results[0] == parse_bytes(page, JSON)[0]
    (_, _, last), = results[1:]
    assert last.reason == "unreadable_remainder" and f"bytes {second}-{len(broken)}" in last.detail


@pytest.mark.parametrize("path, fmt", [
    ("uniprotkb_sample.dat", FLAT), (MULTI_XML, XML), (SEARCH_PAGE, JSON), ("json/O00115.json", JSON)])
@pytest.mark.parametrize("line_end", [b"\r\n", b"\r"])
def test_crlf_and_cr_line_ends_read_like_lf(uniprot, path, fmt, line_end):
    data = (uniprot / path).read_bytes()
    assert parse_bytes(data.replace(b"\n", line_end), fmt) == parse_bytes(data, fmt)


def test_gzipped_flat_file_with_crlf_reads_like_lf(uniprot):
    data = (uniprot / "uniprotkb_sample.dat").read_bytes()
    five = data[: [m.end() for m in re.finditer(rb"\n//\n", data)][4]]
    crlf = gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(five.replace(b"\n", b"\r\n"))))
    assert list(parse_entries(crlf, FLAT)) == parse_bytes(five, FLAT)
    assert len(parse_bytes(five, FLAT)) == 5


@pytest.mark.parametrize("line_end", [b"\r\n", b"\r"])
def test_json_lines_with_crlf_and_cr_read_like_lf(uniprot, line_end):
    lines = json_lines((uniprot / SEARCH_PAGE).read_bytes())
    assert parse_bytes(lines.replace(b"\n", line_end), JSONL) == parse_bytes(lines, JSONL)


def test_flat_record_text_with_crlf_parses_like_lf(uniprot):
    from etl.parse.uniprot import parse_flat_record

    record = (uniprot / "uniprotkb_sample.dat").read_text().split("\n//\n")[0]
    assert parse_flat_record(record.replace("\n", "\r\n")) == parse_flat_record(record)


def test_non_utf8_byte_in_a_flat_record_rejects_that_record(uniprot):
    data = (uniprot / "uniprotkb_sample.dat").read_bytes()
    at = data.index(b"CC   -!- FUNCTION: ") + len(b"CC   -!- FUNCTION: ")
    results = parse_bytes(data[:at] + b"\xe9" + data[at:], FLAT)
    rejected = [(i, acc, r) for i, acc, r in results if isinstance(r, Rejected)]
    assert len(results) == 247 and len(rejected) == 1
    assert rejected[0][2].reason == "not_utf8" and f"offset {at}" in rejected[0][2].detail
    assert rejected[0][1] == parse_bytes(data, FLAT)[rejected[0][0]][1]
    assert not any("\ufffd" in json.dumps(row, ensure_ascii=False) for _, _, row in results if not isinstance(row, Rejected))


@pytest.mark.parametrize("path, fmt", [("json/O00115.json", JSON), (SEARCH_PAGE, JSON), (MULTI_XML, XML)])
def test_non_utf8_byte_in_json_or_xml_rejects_that_record(uniprot, path, fmt):
    data = (uniprot / path).read_bytes()
    text_field = re.compile(rb'"value": ?"' if fmt == JSON else rb"<text[^>]*>")
    at = text_field.search(data, len(data) // 2).end()
    results = parse_bytes(data[:at] + b"\xff" + data[at:], fmt)
    clean = parse_bytes(data, fmt)
    rejected = [i for i, (_, _, row) in enumerate(results) if isinstance(row, Rejected)]
    assert len(results) == len(clean) and len(rejected) == 1
    (i,) = rejected
    assert results[i][2].reason == "not_utf8" and f"offset {at}" in results[i][2].detail
    assert results[i][1] == clean[i][1]
    assert results[:i] + results[i + 1:] == clean[:i] + clean[i + 1:]


def test_non_utf8_byte_in_json_lines_rejects_that_line(uniprot):
    lines = json_lines((uniprot / SEARCH_PAGE).read_bytes()).split(b"\n")
    lines[1] = lines[1].replace(b'"value": "', b'"value": "\xc3', 1)
    data = b"\n".join(lines)
    results = parse_bytes(data, JSONL)
    assert [i for i, (_, _, r) in enumerate(results) if isinstance(r, Rejected)] == [1]
    bad_byte_at = data.index(b"\xc3")
    assert results[1][2].reason == "not_utf8" and f"offset {bad_byte_at}" in results[1][2].detail


@pytest.mark.parametrize("data, fmt", [
    (b"", FLAT), (b"\n\n", FLAT), (b"", XML), (b'<?xml version="1.0"?>\n<uniprot xmlns="http://uniprot.org/uniprot">\n</uniprot>\n', XML),
    (b"", JSONL), (b'{"results": []}', JSON), (b"", JSON)])
def test_a_file_without_records_says_so(data, fmt):
    (result,) = parse_bytes(data, fmt)
    assert result[2].reason == "no_records"


def test_xml_cut_between_entries_is_truncated(uniprot):
    data = (uniprot / MULTI_XML).read_bytes()
    cut = data[: data.rindex(b"</entry>") + len(b"</entry>")]
    results = parse_bytes(cut, XML)
    assert outcomes(results)[:-1] == outcomes(parse_bytes(data, XML))
    assert results[-1][2].reason == "truncated_input"


def test_json_lines_cut_in_the_last_line_is_truncated(uniprot):
    lines = json_lines((uniprot / SEARCH_PAGE).read_bytes()).rstrip(b"\n")
    results = parse_bytes(lines[:-100], JSONL)
    assert outcomes(results)[:5] == outcomes(parse_bytes(lines, JSONL))[:5]
    assert results[5][2].reason == "truncated_input"


def test_gzip_cut_at_a_record_boundary_is_still_reported(uniprot):
    data = (uniprot / "uniprotkb_sample.dat").read_bytes()
    first = data.index(b"\n//\n") + len(b"\n//\n")
    cut = gzip.compress(data[:first])[:-8]  # the stream's trailer (CRC, size) is missing
    results = list(parse_entries(gzip.GzipFile(fileobj=io.BytesIO(cut)), FLAT))
    assert outcomes(results)[-1] == (None, "truncated_input")


@pytest.mark.parametrize("path, fmt", [
    ("uniprotkb_sample.dat", FLAT), (MULTI_XML, XML), (SEARCH_PAGE, JSON), ("json/O00115.json", JSON)])
def test_a_byte_order_mark_changes_nothing(uniprot, path, fmt):
    data = (uniprot / path).read_bytes()
    assert detect_format(b"\xef\xbb\xbf" + data[:65536]) == fmt
    assert parse_bytes(b"\xef\xbb\xbf" + data, fmt) == parse_bytes(data, fmt)


def test_gzipped_search_page_cut_keeps_the_entries_before_the_cut(uniprot):
    page = (uniprot / SEARCH_PAGE).read_bytes()
    cut = gzip.compress(page)[:-2000]
    results = list(parse_entries(gzip.GzipFile(fileobj=io.BytesIO(cut)), JSON))
    clean = parse_bytes(page, JSON)
    assert 0 < len(results) - 1 < len(clean)
    assert results[:-1] == clean[: len(results) - 1]
    assert outcomes(results)[-1] == (None, "truncated_input")  # the cut, reported once

"""Parsing UniProt flat files, XML and REST JSON on the real files in shared/data/uniprot (no Spark)."""

from __future__ import annotations

import gzip
import io

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
    import json

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

"""PubChem formats on the real sample files (shared/data/pubchem) and the built annotation pages."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from etl.parse.pubchem import detect_pubchem_format, iter_pubchem_records
from etl.quality.rejects import REASONS, Rejected

SAMPLE_ANNOTATIONS = Path(__file__).resolve().parents[2] / "etl" / "sample" / "pubchem" / "annotations"
ANNOTATION_PAGES = sorted(SAMPLE_ANNOTATIONS.glob("annotations_built_from_real_descriptions_page*.json"))

# Record Description items per whole PUG-View record: (CID, descriptions, "See Also" items).
RECORDS = {
    "pubchem/pug_view/benzene.json": (241, 9, 1),
    "pubchem/pug_view/bromopentane.json": (8057, 1, 0),
    "pubchem/pug_view/ethyleneglycol.json": (174, 11, 1),
    "pubchem/pug_view/penicillin.json": (2349, 1, 0),
    "pubchem/pug_view/triethylamine.json": (8471, 3, 1),
    "pubchem/cid4/COMPOUND_CID_4.json": (4, 6, 1),
}


def records_of(path: Path, fmt: str | None = None) -> list[dict]:
    data = path.read_bytes()
    fmt = fmt or detect_pubchem_format(data[:65536], path.name)
    return list(iter_pubchem_records(io.BytesIO(data), path.name, fmt))


def records_of_bytes(data: bytes, name: str, fmt: str) -> list[dict]:
    return list(iter_pubchem_records(io.BytesIO(data), name, fmt))


def kinds(records: list[dict]) -> Counter:
    return Counter(r["kind"] if r["kind"] != "reject" else f"reject:{r['reason']}" for r in records)


def sdf_record_texts(path: Path) -> list[str]:
    return [block + "$$$$\n" for block in path.read_text().split("$$$$\n") if block.strip()]


# ------------------------------------------------------------------ detection


@pytest.mark.parametrize("relative, expected", [
    ("pubchem/pug_view/benzene.json", "pug_view_record"),  # bare record (cheminfo mirror)
    ("pubchem/pug_view/penicillin.json", "pug_view_record"),  # {"Record": {...}}
    ("pubchem/cid4/COMPOUND_CID_4.json", "pug_view_record"),
    ("pubchem/pug_rest/aspirin_properties.json", "pug_rest_json"),
    ("pubchem/sdf/rcpi_tyrphostin.sdf", "sdf"),
    ("pubchem/cid4/Structure2D_COMPOUND_CID_4.sdf", "sdf"),
    ("pubchem/chebi20_test.tsv", "chebi20_tsv"),
])
def test_detects_real_files_by_content(shared_data, relative, expected):
    head = (shared_data / relative).read_bytes()[:65536]
    assert detect_pubchem_format(head, "no-hint.bin") == expected


def test_detects_annotation_pages():
    for page in ANNOTATION_PAGES:
        assert detect_pubchem_format(page.read_bytes()[:65536], "x") == "pug_view_annotations"


def test_tells_cid_smiles_from_cid_title_by_content(shared_data):
    rows = (shared_data / "pubchem/chebi20_test.tsv").read_text().splitlines()[1:200]
    smiles_lines = "".join(f"{cid}\t{smiles}\n" for cid, smiles, _ in (r.split("\t") for r in rows))
    titles = "241\tBenzene\n174\tEthylene Glycol\n8057\t1-Bromopentane\n8471\tTriethylamine\n4\t1-Amino-2-propanol\n"
    # misleading names: content wins
    assert detect_pubchem_format(smiles_lines.encode(), "CID-Title") == "cid_smiles"
    assert detect_pubchem_format(titles.encode(), "CID-SMILES") == "cid_title"


def test_name_breaks_a_tie_between_cid_smiles_and_cid_title():
    ambiguous = b"1\tCO\n2\tCCO\n3\tAcetone dimer\n4\tBenzene\n"  # half parse as SMILES
    assert detect_pubchem_format(ambiguous, "CID-SMILES.gz") == "cid_smiles"
    assert detect_pubchem_format(ambiguous, "CID-Title.gz") == "cid_title"
    with pytest.raises(Rejected) as raised:
        detect_pubchem_format(ambiguous, "data.tsv")
    assert raised.value.reason == "unknown_format"


def test_detects_pug_rest_csv():
    csv_text = b'"CID","MolecularFormula","SMILES"\n2244,"C9H8O4","CC(=O)OC1=CC=CC=C1C(=O)O"\n'
    assert detect_pubchem_format(csv_text, "x") == "pug_rest_csv"


@pytest.mark.parametrize("head", [b"", b"hello world\n", b'{"Fault": {"Code": "PUGREST.NotFound"}}'])
def test_unknown_content_is_rejected(head):
    with pytest.raises(Rejected) as raised:
        detect_pubchem_format(head, "x.json")
    assert raised.value.reason == "unknown_format"


# ------------------------------------------------------------------ PUG-View


@pytest.mark.parametrize("relative", sorted(RECORDS))
def test_record_description_items_of_real_records(shared_data, relative):
    cid, descriptions, see_also = RECORDS[relative]
    records = records_of(shared_data / relative)
    expected = {"description": descriptions, "structure": 1} | ({"reject:not_a_description": see_also} if see_also else {})
    assert kinds(records) == Counter(expected)
    assert [r["record_index"] for r in records] == list(range(descriptions + see_also + 1))
    assert all(r["cid"] == cid for r in records if r["kind"] in ("description", "structure"))


@pytest.mark.parametrize("relative, smiles, inchikey", [
    ("pubchem/pug_view/benzene.json", "C1=CC=CC=C1", "UHOVQNZJYSORNB-UHFFFAOYSA-N"),
    ("pubchem/cid4/COMPOUND_CID_4.json", "CC(CN)O", "HXKKHQJGJAFBHI-UHFFFAOYSA-N"),
])
def test_record_carries_its_own_structure(shared_data, relative, smiles, inchikey):
    (structure,) = [r for r in records_of(shared_data / relative) if r["kind"] == "structure"]
    assert (structure["smiles"], structure["inchikey"]) == (smiles, inchikey)


def test_record_smiles_of_either_generation():
    from etl.parse.pubchem import record_structure

    def section(heading, value):
        return {"TOCHeading": heading, "Information": [{"Value": {"StringWithMarkup": [{"String": value}]}}]}

    older = [{"TOCHeading": "Computed Descriptors", "Section": [
        section("Canonical SMILES", "CC(O)CN"), section("Isomeric SMILES", "C[C@@H](O)CN")]}]
    assert record_structure(4, "x", older, 0)["smiles"] == "C[C@@H](O)CN"
    assert record_structure(4, "x", [], 0) is None


def test_record_description_carries_source_and_licence(shared_data):
    records = records_of(shared_data / "pubchem/pug_view/triethylamine.json")
    chebi = next(r for r in records if r["kind"] == "description" and r["source_name"] == "ChEBI")
    assert chebi["text"] == ("Triethylamine is a tertiary amine that is ammonia in which each hydrogen "
                             "atom is substituted by an ethyl group.")
    assert chebi["title"] == "Triethylamine"
    assert (chebi["source_id"], chebi["anid"], chebi["license_url"]) == ("CHEBI:OBO:8471", 2449063, None)
    cameo = records[0]
    assert (cameo["source_name"], cameo["source_id"], cameo["anid"]) == ("CAMEO Chemicals", "4691", 761273)
    assert cameo["license_url"].startswith("https://cameochemicals.noaa.gov/help/reference/terms_and_conditions")
    assert cameo["license_note"].startswith("CAMEO Chemicals and all other CAMEO products")
    assert cameo["names"] == ["Triethylamine"]  # reference Name TRIETHYLAMINE folds into the title


def test_record_description_names_include_the_depositors_name(shared_data):
    records = records_of(shared_data / "pubchem/cid4/COMPOUND_CID_4.json")
    assert records[0]["names"] == ["1-Amino-2-propanol", "MONOISOPROPANOLAMINE"]
    assert records[0]["text"].startswith("Monoisopropanolamine appears as a colorless liquid")


def test_annotation_pages_parse_to_all_their_descriptions():
    total = Counter()
    for page in ANNOTATION_PAGES:
        document = json.loads(page.read_text())
        records = records_of(page)
        assert len(records) == len(document["Annotations"]["Annotation"])
        total += kinds(records)
    assert total == Counter({"description": 31 + 300})


def test_annotation_fields_map_to_description_dict():
    records = records_of(ANNOTATION_PAGES[0])
    benzene_chebi = next(r for r in records if r["cid"] == 241 and r["source_name"] == "ChEBI")
    assert benzene_chebi["text"].startswith("Benzene is a six-carbon aromatic annulene")
    assert benzene_chebi["title"] == "Benzene" and benzene_chebi["names"] == ["Benzene"]
    assert benzene_chebi["anid"] == 2490461 and benzene_chebi["source_id"] == "CHEBI:OBO:241"
    atsdr = records[0]
    assert (atsdr["source_name"], atsdr["source_id"], atsdr["anid"]) == (
        "Agency for Toxic Substances and Disease Registry (ATSDR)", "tsp-5", 756188)
    assert atsdr["license_url"] == "https://www.cdc.gov/Other/disclaimer.html"


def test_annotation_linked_to_several_cids_gives_one_description_each():
    page = json.loads(ANNOTATION_PAGES[0].read_text())
    annotation = page["Annotations"]["Annotation"][0]
    annotation["LinkedRecords"] = {"CID": [241, "oops", 7]}
    unlinked = dict(annotation, LinkedRecords={"SID": [1]})
    page["Annotations"]["Annotation"] = [annotation, unlinked]
    records = records_of_bytes(json.dumps(page).encode(), "p.json", "pug_view_annotations")
    assert [(r["kind"], r.get("cid"), r.get("reason"), r["record_index"]) for r in records] == [
        ("description", 241, None, 0),
        ("reject", None, "invalid_cid", 0),
        ("description", 7, None, 0),
        ("reject", None, "missing_accession", 1),
    ]


# ------------------------------------------------------------------ structures


def test_pug_rest_json_aspirin(shared_data):
    records = records_of(shared_data / "pubchem/pug_rest/aspirin_properties.json")
    assert records == [{
        "kind": "structure", "cid": 2244, "smiles": "CC(=O)OC1=CC=CC=C1C(=O)O",
        "inchikey": "BSYNRYMUTXBXSQ-UHFFFAOYSA-N", "title": None, "record_index": 0,
    }]


def test_pug_rest_prefers_isomeric_smiles_under_both_naming_generations():
    old = {"PropertyTable": {"Properties": [
        {"CID": 5, "CanonicalSMILES": "CC(N)O", "IsomericSMILES": "C[C@H](N)O", "Title": "x"}]}}
    new = {"PropertyTable": {"Properties": [
        {"CID": 5, "ConnectivitySMILES": "CC(N)O", "SMILES": "C[C@H](N)O"}]}}
    for document in (old, new):
        [record] = records_of_bytes(json.dumps(document).encode(), "p.json", "pug_rest_json")
        assert record["smiles"] == "C[C@H](N)O"


def test_pug_rest_csv_rows_and_bad_rows():
    text = ('"CID","SMILES","InChIKey","Title"\n'
            '2244,"CC(=O)OC1=CC=CC=C1C(=O)O","BSYNRYMUTXBXSQ-UHFFFAOYSA-N","Aspirin"\n'
            'x12,"CCO","",""\n'
            '702,"","",""\n')
    records = records_of_bytes(text.encode(), "p.csv", "pug_rest_csv")
    assert records[0]["title"] == "Aspirin" and records[0]["cid"] == 2244
    assert [(r["kind"], r.get("reason")) for r in records[1:]] == [
        ("reject", "invalid_cid"), ("reject", "empty_smiles")]


def test_sdf_tyrphostin_has_105_structures_with_old_generation_tags(shared_data):
    path = shared_data / "pubchem/sdf/rcpi_tyrphostin.sdf"
    records = records_of(path)
    assert kinds(records) == Counter({"structure": 105})
    assert len({r["cid"] for r in records}) == 105
    first = records[0]
    # PUBCHEM_OPENEYE_ISO_SMILES (isomeric) is preferred over PUBCHEM_OPENEYE_CAN_SMILES
    assert first["cid"] == 60165832 and "/C(=C/" in first["smiles"]
    assert first["inchikey"] == "FOHAFJPXBXGINE-RIYZIHGNSA-N"


def rename_to_new_generation_tags(record: str) -> str:
    """A real old-generation SDF record with its SMILES tags renamed as PubChem did in July 2025."""
    return (record.replace("<PUBCHEM_OPENEYE_ISO_SMILES>", "<PUBCHEM_SMILES>")
                  .replace("<PUBCHEM_OPENEYE_CAN_SMILES>", "<PUBCHEM_CONNECTIVITY_SMILES>"))


def test_sdf_new_generation_tags_renamed_from_a_real_record(shared_data):
    old_record = sdf_record_texts(shared_data / "pubchem/sdf/rcpi_tyrphostin.sdf")[0]
    new_generation_fixture = rename_to_new_generation_tags(old_record)
    assert "PUBCHEM_OPENEYE" not in new_generation_fixture
    [old] = records_of_bytes(old_record.encode(), "old.sdf", "sdf")
    [new] = records_of_bytes(new_generation_fixture.encode(), "renamed_new_generation.sdf", "sdf")
    assert new == old


def test_sdf_real_new_generation_record_of_cid4(shared_data):
    [record] = records_of(shared_data / "pubchem/cid4/Structure2D_COMPOUND_CID_4.sdf")
    assert (record["cid"], record["smiles"], record["inchikey"]) == (4, "CC(CN)O", "HXKKHQJGJAFBHI-UHFFFAOYSA-N")


def test_sdf_without_smiles_tags_falls_back_to_the_molblock(shared_data):
    # The 3D conformer SDF carries no SMILES tag; its coordinates pick one enantiomer of a
    # compound whose stereocentre PubChem leaves undefined, so no stereo is read from them.
    [record] = records_of(shared_data / "pubchem/cid4/Conformer3D_COMPOUND_CID_4_1.sdf")
    assert (record["cid"], record["smiles"], record["inchikey"]) == (4, "CC(O)CN", None)


def test_sdf_without_smiles_tags_keeps_2d_wedge_stereo(shared_data):
    records = sdf_record_texts(shared_data / "pubchem/sdf/rcpi_tyrphostin.sdf")
    chiral = next(r for r in records if "<PUBCHEM_COMPOUND_CID>\n5328772\n" in r)
    without_smiles = "\n".join(line for line in chiral.split("\n") if "SMILES" not in line)
    [record] = records_of_bytes(without_smiles.encode(), "x.sdf", "sdf")
    assert "@" in record["smiles"]


def test_sdf_broken_record_does_not_stop_the_file(shared_data):
    records = sdf_record_texts(shared_data / "pubchem/sdf/rcpi_tyrphostin.sdf")[:3]
    broken = "garbage\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n"
    no_cid = records[1].replace("<PUBCHEM_COMPOUND_CID>", "<OTHER>").split("\n", 1)[1]
    text = records[0] + broken + "x\n" + no_cid + records[2]
    result = records_of_bytes(text.encode(), "x.sdf", "sdf")
    assert [(r["kind"], r.get("reason"), r["record_index"]) for r in result] == [
        ("structure", None, 0), ("reject", "invalid_cid", 1), ("reject", "invalid_cid", 2), ("structure", None, 3)]


def test_chebi20_tsv_3300_rows(shared_data):
    records = records_of(shared_data / "pubchem/chebi20_test.tsv")
    assert kinds(records) == Counter({"structure": 3300, "description": 3300})
    first_structure, first_description = records[0], records[1]
    assert first_structure["cid"] == first_description["cid"] == 5354212
    assert first_structure["record_index"] == first_description["record_index"] == 0
    # MolT5 escaped backslashes in the TSV; the parser gives back the SMILES bond symbol
    assert "\\\\" not in first_structure["smiles"] and "[C@]\\4(" in first_structure["smiles"]
    assert first_description["text"].startswith("The molecule is a steroid ester")
    assert first_description["source_name"] == "ChEBI-20 (MolT5)" and first_description["names"] == []


def test_cid_smiles_and_cid_title_lines():
    smiles = records_of_bytes(b"241\tC1=CC=CC=C1\nabc\tCCO\n174\t\n", "CID-SMILES", "cid_smiles")
    assert [(r["kind"], r.get("cid"), r.get("reason")) for r in smiles] == [
        ("structure", 241, None), ("reject", None, "invalid_cid"), ("reject", None, "empty_smiles")]
    titles = records_of_bytes(b"241\tBenzene\n174\tEthylene Glycol\n", "CID-Title", "cid_title")
    assert titles == [
        {"kind": "title", "cid": 241, "title": "Benzene", "record_index": 0},
        {"kind": "title", "cid": 174, "title": "Ethylene Glycol", "record_index": 1},
    ]


# ------------------------------------------------------------------ truncation


def test_truncated_gzip_sdf_ends_with_truncated_input(shared_data):
    data = gzip.compress((shared_data / "pubchem/sdf/rcpi_tyrphostin.sdf").read_bytes())
    cut = gzip.GzipFile(fileobj=io.BytesIO(data[: len(data) // 2]))
    records = list(iter_pubchem_records(cut, "tyrphostin.sdf.gz", "sdf"))
    assert 0 < len(records) < 106
    assert records[-1]["kind"] == "reject" and records[-1]["reason"] == "truncated_input"
    assert all(r["kind"] == "structure" for r in records[:-1])


def test_sdf_cut_inside_a_record_gives_truncated_input(shared_data):
    text = (shared_data / "pubchem/sdf/rcpi_tyrphostin.sdf").read_text()
    cut = text[: text.index("$$$$") + 5 + 2000]
    records = records_of_bytes(cut.encode(), "x.sdf", "sdf")
    assert [(r["kind"], r.get("reason")) for r in records] == [("structure", None), ("reject", "truncated_input")]


def assert_cut_keeps_what_came_before(records: list[dict], clean: list[dict]) -> None:
    """A cut file: what is released is exactly as from the whole file, what is not is a
    truncated_input reject (the last one naming the cut), nothing is corrupted."""
    assert records[-1]["kind"] == "reject" and records[-1]["reason"] == "truncated_input"
    assert all(r in clean for r in records if r["kind"] != "reject")
    assert {r["reason"] for r in records if r["kind"] == "reject" and r not in clean} == {"truncated_input"}


@pytest.mark.parametrize("relative", ["pubchem/pug_view/bromopentane.json", "pubchem/pug_rest/aspirin_properties.json"])
@pytest.mark.parametrize("fraction", [0.3, 0.999])
def test_truncated_json_gives_truncated_input(shared_data, relative, fraction):
    data = (shared_data / relative).read_bytes()
    fmt = detect_pubchem_format(data[:65536], relative)
    records = records_of_bytes(data[: int(len(data) * fraction)], relative, fmt)
    assert_cut_keeps_what_came_before(records, records_of_bytes(data, relative, fmt))


def test_truncated_json_keeps_the_records_before_the_cut(shared_data):
    # bromopentane at 30%: its description's Reference (at the end) is not read, its structure is.
    data = (shared_data / "pubchem/pug_view/bromopentane.json").read_bytes()
    records = records_of_bytes(data[: int(len(data) * 0.3)], "b.json", "pug_view_record")
    assert [(r["kind"], r.get("reason")) for r in records] == [
        ("reject", "truncated_input"), ("structure", None), ("reject", "truncated_input")]
    assert "Reference 14" in records[0]["detail"]
    assert records[-1]["detail"].startswith("PUG-View record: bytes 58178-58178 of 58178: the file ends")


def test_truncated_gzip_json_gives_truncated_input(shared_data):
    whole = (shared_data / "pubchem/pug_view/bromopentane.json").read_bytes()
    cut = gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(whole)[:-100]))
    records = list(iter_pubchem_records(cut, "b.json.gz", "pug_view_record"))
    assert [(r["kind"], r.get("reason")) for r in records] == [
        ("description", None), ("structure", None), ("reject", "truncated_input")]
    assert_cut_keeps_what_came_before(records, records_of_bytes(whole, "b.json", "pug_view_record"))


def test_gzip_cut_before_any_byte_is_one_truncated_input():
    data = gzip.compress(b'{"PropertyTable": {"Properties": []}}')
    records = list(iter_pubchem_records(gzip.GzipFile(fileobj=io.BytesIO(data[:12])), "p.json.gz", "pug_rest_json"))
    assert [(r["kind"], r["reason"]) for r in records] == [("reject", "truncated_input")]


def test_complete_but_malformed_json_is_a_parse_error():
    records = records_of_bytes(b'{"PropertyTable": {"Properties": [1 2]}}', "x.json", "pug_rest_json")
    assert [(r["kind"], r["reason"]) for r in records] == [("reject", "parse_error")]
    assert records[0]["detail"] == "property row 0, bytes 34-37 of 40: Extra data at byte 36"


def test_every_reject_reason_is_a_known_code(shared_data):
    data = (shared_data / "pubchem/pug_view/ethyleneglycol.json").read_bytes()
    reasons = {r["reason"] for r in records_of_bytes(data, "e.json", "pug_view_record") if r["kind"] == "reject"}
    assert reasons == {"not_a_description"} and reasons <= set(REASONS)


# ------------------------------------------------------------------ damaged input: one bad record, one reject


def first_annotations(count: int) -> dict:
    page = json.loads(ANNOTATION_PAGES[0].read_text())
    page["Annotations"]["Annotation"] = page["Annotations"]["Annotation"][:count]
    return page


def rejects(records: list[dict]) -> list[tuple]:
    return [(r["reason"], r["record_index"]) for r in records if r["kind"] == "reject"]


def test_null_value_in_one_annotation_rejects_only_that_annotation():
    page = first_annotations(8)
    clean = records_of_bytes(json.dumps(page).encode(), "p.json", "pug_view_annotations")
    page["Annotations"]["Annotation"][2]["Data"][0]["Value"] = None
    records = records_of_bytes(json.dumps(page).encode(), "p.json", "pug_view_annotations")
    assert rejects(records) == [("parse_error", 2)]
    assert records[2]["detail"].startswith("annotation 2: unexpected JSON layout (AttributeError")
    assert [r for r in records if r["kind"] != "reject"] == [r for r in clean if r["record_index"] != 2]


@pytest.mark.parametrize("damage", ["item", "value"])
def test_null_description_item_rejects_only_that_item(shared_data, damage):
    record = json.loads((shared_data / "pubchem/pug_view/ethyleneglycol.json").read_text())
    clean = records_of_bytes(json.dumps(record).encode(), "e.json", "pug_view_record")
    names = next(s for s in record["Section"] if s["TOCHeading"] == "Names and Identifiers")
    items = next(s for s in names["Section"] if s["TOCHeading"] == "Record Description")["Information"]
    if damage == "item":
        items[3] = None
    else:
        items[3]["Value"] = None
    records = records_of_bytes(json.dumps(record).encode(), "e.json", "pug_view_record")
    assert [r for r in records if r["record_index"] != 3] == [r for r in clean if r["record_index"] != 3]
    (reject,) = [r for r in records if r["record_index"] == 3]
    assert reject["reason"] == "parse_error"
    assert reject["detail"].startswith("Record Description item 3: unexpected JSON layout")


def test_record_without_section_is_a_no_records_reject(shared_data):
    record = json.loads((shared_data / "pubchem/pug_view/penicillin.json").read_text())
    del record["Record"]["Section"]
    records = records_of_bytes(json.dumps(record).encode(), "p.json", "pug_view_record")
    assert [(r["kind"], r["reason"]) for r in records] == [("reject", "no_records")]
    assert records[0]["detail"] == "p.json: read to its end, it holds no pug_view_record record"


@pytest.mark.parametrize("data, fmt", [
    (b'{"Annotations": {"Annotation": []}}', "pug_view_annotations"),
    (b'{"Annotations": {"Page": 1}}', "pug_view_annotations"),
    (b'{"PropertyTable": {"Properties": []}}', "pug_rest_json"),
    (b'"CID","SMILES"\n', "pug_rest_csv"),
    (b"CID\tSMILES\tdescription\n", "chebi20_tsv"),
    (b"\n\n", "cid_smiles"),
])
def test_a_file_without_records_is_one_no_records_reject(data, fmt):
    assert rejects(records_of_bytes(data, "x", fmt)) == [("no_records", 0)]


def cid_smiles_lines(shared_data, count: int = 199) -> list[str]:
    rows = (shared_data / "pubchem/chebi20_test.tsv").read_text().splitlines()[1:count + 1]
    return [f"{cid}\t{smiles}" for cid, smiles, _ in (row.split("\t") for row in rows)]


@pytest.mark.parametrize("damaged_line", [1, 17, 199])
def test_cid_smiles_detection_tolerates_a_damaged_line_which_is_rejected_alone(shared_data, damaged_line):
    lines = cid_smiles_lines(shared_data)
    lines[damaged_line - 1] += "\tC"
    data = "\n".join(lines).encode() + b"\n"
    assert detect_pubchem_format(data, "x.tsv") == "cid_smiles"
    records = records_of_bytes(data, "x.tsv", "cid_smiles")
    assert len(records) == 199 and rejects(records) == [("parse_error", damaged_line - 1)]
    assert records[damaged_line - 1]["detail"] == f"line {damaged_line} has 3 tab-separated fields instead of 2"


def test_cid_pair_detection_failure_says_why(shared_data):
    lines = cid_smiles_lines(shared_data)
    for number in range(16, 199, 4):  # every 4th line from line 17 on has a third field
        lines[number] += "\tC"
    with pytest.raises(Rejected) as raised:
        detect_pubchem_format("\n".join(lines).encode(), "x.tsv")
    assert raised.value.reason == "unknown_format"
    assert raised.value.detail == ("x.tsv: 46 of the first 198 lines are not CID<TAB>text, "
                                   "e.g. line 17 has 3 tab-separated fields instead of 2")


def test_cid_pair_tie_says_why():
    with pytest.raises(Rejected) as raised:
        detect_pubchem_format(b"1\tCO\n2\tCCO\n3\tAcetone dimer\n4\tBenzene\n5\tx\n", "data.tsv")
    assert "2 of 5 CID<TAB>text lines hold a SMILES" in raised.value.detail


# Every format, a non-UTF-8 byte in one record's text: (format, text, the record the byte is in).
NON_UTF8 = {
    "cid_smiles": (b"241\tC1=CC=CC=C1\n174\tC(CO)\xffO\n8057\tCCCCCBr\n", 1),
    "cid_title": (b"241\tBenzene\n174\tEthylene Gl\xffcol\n8057\t1-Bromopentane\n", 1),
    "chebi20_tsv": (b"CID\tSMILES\tdescription\n241\tC1=CC=CC=C1\tThe molecule is an annulene.\n"
                    b"174\tOCCO\tThe molecule is a di\xffol.\n", 1),
    "pug_rest_csv": (b'"CID","SMILES"\n241,"C1=CC=CC=C1"\n174,"OC\xffCO"\n8057,"CCCCCBr"\n', 1),
    "pug_rest_json": (b'{"PropertyTable": {"Properties": [{"CID": 241, "SMILES": "C1=CC=CC=C1"},\n'
                      b'{"CID": 174, "SMILES": "OC\xffCO"}, {"CID": 8057, "SMILES": "CCCCCBr"}]}}', 1),
}


@pytest.mark.parametrize("fmt", sorted(NON_UTF8))
def test_non_utf8_byte_rejects_the_record_that_holds_it(fmt):
    data, damaged = NON_UTF8[fmt]
    offset = data.index(b"\xff")
    records = records_of_bytes(data, "x", fmt)
    assert rejects(records) == [("not_utf8", damaged)]
    (reject,) = [r for r in records if r["kind"] == "reject"]
    assert f"byte 0xff at offset {offset} is not UTF-8" in reject["detail"]
    assert "\ufffd" not in json.dumps(records, ensure_ascii=False)


def test_non_utf8_byte_in_an_sdf_record_rejects_that_record(shared_data):
    texts = sdf_record_texts(shared_data / "pubchem/sdf/rcpi_tyrphostin.sdf")[:3]
    damaged = texts[1].replace("<PUBCHEM_IUPAC_NAME>\n", "<PUBCHEM_IUPAC_NAME>\n\udcff", 1)
    data = "".join(texts[:1] + [damaged] + texts[2:]).encode("utf-8", "surrogateescape")
    records = records_of_bytes(data, "x.sdf", "sdf")
    assert [(r["kind"], r.get("reason")) for r in records] == [("structure", None), ("reject", "not_utf8"),
                                                               ("structure", None)]
    clean = records_of_bytes("".join(texts).encode(), "x.sdf", "sdf")
    assert records[1]["record_id"] == str(clean[1]["cid"]) and records[::2] == clean[::2]
    assert f"at offset {data.index(bytes([0xff]))} is not UTF-8" in records[1]["detail"]


@pytest.mark.parametrize("source", ["annotations", "record"])
def test_non_utf8_byte_in_a_json_description_rejects_that_description(shared_data, source):
    path = ANNOTATION_PAGES[0] if source == "annotations" else shared_data / "pubchem/pug_view/triethylamine.json"
    data = path.read_bytes()
    clean = records_of(path)
    victim = next(r for r in clean if r["kind"] == "description" and r["record_index"] == 1)
    offset = data.index(victim["text"][:40].encode()) + 7
    records = records_of_bytes(data[:offset] + b"\xe9" + data[offset + 1:], path.name, detect_pubchem_format(data, "x"))
    assert [r for r in records if r["record_index"] != 1] == [r for r in clean if r["record_index"] != 1]
    (reject,) = [r for r in records if r["record_index"] == 1]
    assert reject["reason"] == "not_utf8" and f"byte 0xe9 at offset {offset} is not UTF-8" in reject["detail"]


def test_control_characters_reject_a_line():
    records = records_of_bytes(b"241\tBenz\x00ene\n174\tEthylene Glycol\n", "CID-Title", "cid_title")
    assert rejects(records) == [("parse_error", 0)]
    assert records[0]["detail"] == "line 1: control character 0x00 at offset 8"
    assert records[1]["title"] == "Ethylene Glycol"


NEWLINE_FILES = [
    ("pubchem/chebi20_test.tsv", "chebi20_tsv"),
    ("pubchem/sdf/rcpi_tyrphostin.sdf", "sdf"),
    ("pubchem/pug_view/bromopentane.json", "pug_view_record"),
    ("pubchem/pug_rest/aspirin_properties.json", "pug_rest_json"),
]


@pytest.mark.parametrize("relative, fmt", NEWLINE_FILES)
@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_crlf_and_cr_read_like_lf(shared_data, relative, fmt, newline):
    data = (shared_data / relative).read_bytes()
    converted = data.replace(b"\n", newline)
    assert detect_pubchem_format(converted[:65536], "x") == fmt
    assert records_of_bytes(converted, "x", fmt) == records_of_bytes(data, "x", fmt)


@pytest.mark.parametrize("data, fmt", [
    (b"241\tC1=CC=CC=C1\n174\tOCCO\n", "cid_smiles"),
    (b"241\tBenzene\n174\tEthylene Glycol\n", "cid_title"),
    (b'"CID","SMILES","Title"\n241,"C1=CC=CC=C1","Benzene"\n', "pug_rest_csv"),
    (ANNOTATION_PAGES[0].read_bytes(), "pug_view_annotations"),
])
@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_crlf_and_cr_read_like_lf_in_every_other_format(data, fmt, newline):
    converted = data.replace(b"\n", newline)
    assert detect_pubchem_format(converted[:65536], "x") == fmt
    assert records_of_bytes(converted, "x", fmt) == records_of_bytes(data, "x", fmt)


def test_pug_rest_csv_row_of_the_wrong_width_is_rejected_alone():
    text = b'"CID","SMILES"\n241,"C1=CC=CC=C1"\n174,"OCCO",extra\n8057,"CCCCCBr"\n'
    records = records_of_bytes(text, "p.csv", "pug_rest_csv")
    assert rejects(records) == [("parse_error", 1)]
    assert records[1]["detail"] == "line 3 has 3 comma-separated fields, the header 2"
    assert [r["cid"] for r in records if r["kind"] == "structure"] == [241, 8057]


def test_pug_rest_csv_with_an_unreadable_header_rejects_every_row():
    records = records_of_bytes(b'"CID","SMI\xffLES"\n241,"C1=CC=CC=C1"\n', "p.csv", "pug_rest_csv")
    assert rejects(records) == [("parse_error", 0)]
    assert "the header line is unreadable (line 1: byte 0xff at offset 10" in records[0]["detail"]


def test_damaged_sdf_record_is_rejected_and_the_next_one_read(shared_data):
    texts = sdf_record_texts(shared_data / "pubchem/sdf/rcpi_tyrphostin.sdf")[:3]
    damaged = texts[1].replace("M  END\n", "M  E\x07ND\n")
    records = records_of_bytes("".join([texts[0], damaged, texts[2]]).encode(), "x.sdf", "sdf")
    assert [(r["kind"], r.get("reason"), r["record_index"]) for r in records] == [
        ("structure", None, 0), ("reject", "parse_error", 1), ("structure", None, 2)]


def test_sdf_records_merged_by_a_damaged_terminator_are_one_parse_error(shared_data):
    texts = sdf_record_texts(shared_data / "pubchem/sdf/rcpi_tyrphostin.sdf")[:3]
    merged = texts[0].replace("$$$$\n", "$$$ $\n")
    records = records_of_bytes("".join([merged, texts[1], texts[2]]).encode(), "x.sdf", "sdf")
    assert [(r["kind"], r.get("reason")) for r in records] == [("reject", "parse_error"), ("structure", None)]
    assert "a $$$$ terminator between them is damaged" in records[0]["detail"]


def test_syntax_error_inside_an_annotation_rejects_it_and_reading_resumes():
    page = json.dumps(first_annotations(5), indent=1).encode()
    clean = records_of_bytes(page, "p.json", "pug_view_annotations")
    position = page.index(b'"ANID"', page.index(b'"SourceID": "' + clean[1]["source_id"].encode()))
    damaged = page[:position] + b"#!" + page[position:]
    records = records_of_bytes(damaged, "p.json", "pug_view_annotations")
    assert [r for r in records if r["record_index"] != 1] == [r for r in clean if r["record_index"] != 1]
    (reject,) = [r for r in records if r["record_index"] == 1]
    assert reject["reason"] == "parse_error" and reject["record_id"] == clean[1]["source_id"]
    assert reject["detail"].startswith("annotation 1, bytes ")


def test_stray_bracket_makes_the_rest_an_unreadable_remainder():
    page = json.dumps(first_annotations(5), indent=1).encode()
    clean = records_of_bytes(page, "p.json", "pug_view_annotations")
    position = page.index(b'"ANID"', page.index(b'"SourceID": "' + clean[2]["source_id"].encode()))
    records = records_of_bytes(page[:position] + b"[" + page[position:], "p.json", "pug_view_annotations")
    assert records[:-1] == [r for r in clean if r["record_index"] < 2]
    remainder = records[-1]
    assert (remainder["reason"], remainder["record_index"]) == ("unreadable_remainder", 2)
    start = page.rindex(b"\n   {", 0, position) + 4  # where annotation 2 opens
    assert f"bytes {start}-{len(page) + 1} of {len(page) + 1}" in remainder["detail"]


def test_damaged_record_section_outside_descriptions_is_one_reject(shared_data):
    data = (shared_data / "pubchem/pug_view/penicillin.json").read_bytes()
    clean = records_of_bytes(data, "p.json", "pug_view_record")
    position = data.index(b'"TOCHeading": "Literature"')
    records = records_of_bytes(data[:position] + b"\x00" + data[position:], "p.json", "pug_view_record")
    assert records[:-1] == clean
    assert (records[-1]["reason"], records[-1]["record_index"]) == ("parse_error", len(clean))
    assert records[-1]["detail"].startswith("PUG-View record: bytes ")


def test_description_whose_reference_is_damaged_is_rejected(shared_data):
    data = (shared_data / "pubchem/pug_view/penicillin.json").read_bytes()
    clean = records_of_bytes(data, "p.json", "pug_view_record")
    (description,) = [r for r in clean if r["kind"] == "description"]
    reference = data.index(f'"SourceID": "{description["source_id"]}"'.encode())
    records = records_of_bytes(data[:reference + 4] + b"\xff" + data[reference + 5:], "p.json", "pug_view_record")
    assert [(r["kind"], r.get("reason")) for r in records] == [("reject", "not_utf8"), ("structure", None),
                                                               ("reject", "not_utf8")]
    assert "its Reference" in records[0]["detail"] and records[1] == clean[1]

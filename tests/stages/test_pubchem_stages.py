"""PubChem stages on local Spark: accounting, the CID join's rejects, duplicate descriptions, provenance."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from etl.datasets.pubchemqa import DATASET, PubChemQAConfig, build_pubchemqa, parse_stage
from etl.parse.pubchem import detect_pubchem_format
from etl.pipeline.accounting import reconcile
from etl.pipeline.inputs import resolve_inputs

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.spark

CHEBI_HEADER = "CID\tSMILES\tdescription\n"


def build(spark, *paths: Path, **config):
    gold, rejects, stages = build_pubchemqa(spark, resolve_inputs(list(paths), detect_pubchem_format),
                                            PubChemQAConfig(**config))
    return gold.collect(), rejects.collect(), stages


def chebi_tsv(path: Path, rows: list[tuple[int, str, str]]) -> Path:
    path.write_text(CHEBI_HEADER + "".join(f"{cid}\t{smiles}\t{text}\n" for cid, smiles, text in rows))
    return path


def test_cid4_record_joins_its_sdf_and_keeps_each_depositor(spark, shared_data):
    cid4 = shared_data / "pubchem" / "cid4"
    gold, rejects, stages = build(spark, cid4 / "COMPOUND_CID_4.json", cid4 / "Structure2D_COMPOUND_CID_4.sdf",
                                  cid4 / "Conformer3D_COMPOUND_CID_4_1.sdf")
    counts = reconcile(stages)
    assert counts["records_in"] == 7 + 1 + 2  # 7 Record Description items, the record's structure, 2 SDF records
    # One ChEBI item is a four-word fragment, below descriptions.min_words; CID 4's structure
    # arrives three times (the record itself and two SDFs) and is kept once.
    assert sorted(r["reason"] for r in rejects) == [
        "description_too_short", "duplicate_structure", "duplicate_structure", "not_a_description"]
    assert counts["records_released"] == 5 + 1 == len(gold) + 1
    # PubChem's own InChIKey of CID 4 (1-amino-2-propanol) is what normalization computes.
    assert {r["inchikey"] for r in gold} == {"HXKKHQJGJAFBHI-UHFFFAOYSA-N"}
    assert {r["cid"] for r in gold} == {4} and len({r["split"] for r in gold}) == 1
    assert all(r["source_name"] and r["source_id"] for r in gold)
    assert len({(r["source_name"], r["source_id"]) for r in gold}) == 5
    assert not any("1-amino-2-propanol" in r["answer"].lower() for r in gold)
    assert any(r["answer"].startswith("This molecule") for r in gold)


def test_join_rejects_each_unpaired_record(spark, tmp_path, shared_data):
    # An annotation page carries descriptions only: the first annotation of the fixture built
    # from real descriptions, alone on its page, has no structure anywhere in these inputs.
    fixture = REPO / "etl" / "sample" / "pubchem" / "annotations" / "annotations_built_from_real_descriptions_page1.json"
    page = json.loads(fixture.read_text())
    first = page["Annotations"]["Annotation"][0]
    page["Annotations"]["Annotation"] = [first]
    annotations = tmp_path / "annotations.json"
    annotations.write_text(json.dumps(page))
    (unpaired_cid,) = first["LinkedRecords"]["CID"]
    smiles = tmp_path / "cid_smiles.tsv"
    smiles.write_text("4\tCC(CN)O\n702\tCCO\n")
    titles = tmp_path / "cid_title.tsv"
    titles.write_text("4\t1-Amino-2-propanol\n999\tNothing known\n")
    gold, rejects, stages = build(spark, annotations, smiles, titles,
                                  shared_data / "pubchem" / "cid4" / "COMPOUND_CID_4.json")
    reconcile(stages)
    by_stage = sorted((r["stage"], r["reason"], r["record_id"]) for r in rejects if r["stage"] in ("pair", "join"))
    assert by_stage == [("join", "no_structure_for_cid", str(unpaired_cid)),
                        ("pair", "no_description_for_cid", "702"), ("pair", "no_description_for_cid", "999")]
    assert {r["cid"] for r in gold} == {4} and all(r["smiles"] == "CC(O)CN" for r in gold)


def test_undescribed_structures_are_rejected_before_rdkit_sees_them(spark, tmp_path):
    # A bulk CID-SMILES file: only CID 702 is described. CID 5's SMILES cannot be parsed, but
    # since nothing describes CID 5 it is never normalized: its reason is the missing description.
    smiles = tmp_path / "CID-SMILES"
    smiles.write_text("5\tC1CC(\n702\tCCO\n887\tCO\n")
    described = chebi_tsv(tmp_path / "d.tsv", [(702, "CCO", "The molecule is a primary alcohol that is ethane "
                                                              "in which a hydrogen is replaced by hydroxy.")])
    gold, rejects, stages = build(spark, smiles, described)
    reconcile(stages)
    normalized = next(stage for stage in stages if stage.name == "normalize")
    assert normalized.records_in == 3 and normalized.rejected == {}  # 702's description and its two structures
    assert sorted((r["stage"], r["reason"], r["record_id"]) for r in rejects) == [
        ("dedupe", "duplicate_structure", "702"),
        ("pair", "no_description_for_cid", "5"), ("pair", "no_description_for_cid", "887")]
    assert [r["cid"] for r in gold] == [702]


def test_an_unreadable_structure_never_displaces_a_good_one(spark, tmp_path):
    # CID-SMILES outranks ChEBI-20 as a source, but its row for CID 702 does not parse: the
    # ChEBI-20 structure is the one kept. Neither structure of CID 887 parses, and its
    # description's reject says so.
    smiles = tmp_path / "CID-SMILES"
    smiles.write_text("702\tC1CC(\n887\tC1CC(\n1\tC\n2\tCC\n3\tCCC\n4\tCC(CN)O\n")
    text = "The molecule is a primary alcohol that is ethane in which a hydrogen is replaced by hydroxy."
    described = tmp_path / "d.tsv"
    described.write_text(CHEBI_HEADER + f"702\tCCO\t{text}\n887\tC1CC(\t{text}\n")
    gold, rejects, stages = build(spark, smiles, described)
    reconcile(stages)
    assert [(r["cid"], r["smiles"]) for r in gold] == [(702, "CCO")]
    by_cid = {(r["record_id"], r["stage"], r["reason"]): r["detail"] for r in rejects
              if r["record_id"] in ("702", "887")}
    assert ("702", "normalize", "smiles_parse_error") in by_cid
    assert not any(reason == "duplicate_structure" for _, _, reason in by_cid)
    assert by_cid[("887", "join", "no_structure_for_cid")] == (
        "every structure of this CID was rejected while normalizing (smiles_parse_error)")


def test_identical_descriptions_are_kept_once_with_the_first_source(spark, tmp_path):
    text = "The molecule is a primary alcohol that is ethane in which a hydrogen is replaced by hydroxy."
    first = chebi_tsv(tmp_path / "a.tsv", [(702, "CCO", text)])
    second = chebi_tsv(tmp_path / "b.tsv", [(702, "CCO", text), (702, "OCC", "The molecule is a short one too "
                                                                             "and differs from the other text.")])
    gold, rejects, stages = build(spark, first, second)
    counts = reconcile(stages)
    assert counts["records_in"] == 6 and len(gold) == 2
    reasons = sorted(r["reason"] for r in rejects)
    assert reasons == ["duplicate_description", "duplicate_structure", "duplicate_structure"]
    duplicate = next(r for r in rejects if r["reason"] == "duplicate_description")
    assert duplicate["origin"].endswith("b.tsv#0") and "a.tsv#0" in duplicate["detail"]
    assert counts["records_released"] == 2 + 1  # two descriptions and the structure they use


def test_structure_rejected_by_the_policy_takes_its_descriptions_along(spark, tmp_path):
    path = chebi_tsv(tmp_path / "c.tsv", [(1, "C[Fe]C", "The molecule is an organoiron compound of some sort."),
                                          (2, "c1ccccc1", "Too short.")])
    gold, rejects, stages = build(spark, path)
    counts = reconcile(stages)
    assert gold == []
    assert sorted((r["stage"], r["reason"], r["record_id"]) for r in rejects) == [
        ("clean", "description_too_short", "2"), ("join", "no_structure_for_cid", "1"),
        ("normalize", "element_not_allowed", "1"), ("qa", "no_description_for_cid", "2")]
    assert counts["records_in"] == 4 == counts["records_rejected"]


def test_bulk_cid_smiles_is_parsed_in_chunks_that_match_the_stream(spark, tmp_path, cid_smiles, monkeypatch):
    from etl.pipeline import chunks

    monkeypatch.setattr(chunks, "CHUNK_BYTES", 32 * 1024)  # the 230 kB file in several chunks
    plain, compressed = tmp_path / "CID-SMILES", tmp_path / "CID-SMILES.gz"
    plain.write_bytes(cid_smiles)
    compressed.write_bytes(gzip.compress(cid_smiles))
    streamed = parse_stage(spark, resolve_inputs([compressed], detect_pubchem_format))  # no scratch: read whole
    assert streamed.records_out > 3000 and streamed.rejected == {"not_utf8": 1, "parse_error": 1}
    for path in (plain, compressed):
        inputs = resolve_inputs([path], detect_pubchem_format, DATASET.record_ends, tmp_path / "scratch")
        assert len(inputs.files[0].chunks) >= 6
        parsed = parse_stage(spark, inputs)
        assert parsed.df.rdd.getNumPartitions() == len(inputs.files[0].chunks)
        assert parsed_rows(parsed.df, path) == parsed_rows(streamed.df, compressed)


def parsed_rows(df, path: Path) -> list[tuple]:
    """What the parse stage made of each line, the file's own name left out of its origin."""
    columns = ["cid", "smiles", "record_index", "reject_reason", "reject_detail", "reject_origin"]
    rows = [tuple(row[c] for c in columns) for row in df.select(*columns).collect()]
    return sorted(((*row[:5], (row[5] or "").removeprefix(str(path))) for row in rows), key=repr)

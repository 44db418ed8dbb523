"""Answer cleaning and rendering, on real UniProt annotation."""

from __future__ import annotations

import io

import pytest

from etl.normalize.text import TextPolicy, clean_text, family_answer, location_answer, names_answer
from etl.parse.uniprot import FLAT, JSON, parse_entries


@pytest.fixture(scope="module")
def flat(shared_data):
    data = (shared_data / "uniprot" / "uniprotkb_sample.dat").read_bytes()
    return {acc: row for _, acc, row in parse_entries(io.BytesIO(data), FLAT)}


def test_citations_and_qualifiers_removed_science_kept(shared_data):
    data = (shared_data / "uniprot" / "json" / "O00115.json").read_bytes()
    (_, _, o00115), = parse_entries(io.BytesIO(data), JSON)
    cleaned = clean_text(o00115["function"], TextPolicy())
    assert "PubMed" not in cleaned
    assert cleaned.startswith("Hydrolyzes DNA under acidic conditions with a preference for double-stranded DNA.")
    assert "hence preventing autoinflammation. Necessary for proper fetal development" in cleaned
    kept = clean_text(o00115["function"], TextPolicy(strip_citations=False))
    assert "(PubMed:29259162, PubMed:31775019)" in kept


def test_evidence_tags_and_qualifiers():
    text = "Binds zinc (By similarity). {ECO:0000250|UniProtKB:P31946}. Acts as a dimer (Probable)."
    assert clean_text(text, TextPolicy()) == "Binds zinc. Acts as a dimer."
    assert clean_text(text, TextPolicy(strip_qualifiers=False)) == "Binds zinc (By similarity). Acts as a dimer (Probable)."


def test_family_answer_reads_like_uniprot(flat):
    assert family_answer(flat["P31946"], TextPolicy()) == "Belongs to the 14-3-3 family."
    # Older entries list domains under SIMILARITY too; they are not the family.
    assert family_answer(flat["P00519"], TextPolicy()) == (
        "Belongs to the protein kinase superfamily. Tyr protein kinase family. ABL subfamily.")


def test_names_answer_is_recommended_then_alternative(flat):
    assert names_answer(flat["P31946"], TextPolicy()) == (
        "14-3-3 protein beta/alpha; Protein 1054; Protein kinase C inhibitor protein 1")


def test_location_answer_groups_isoforms(flat):
    assert location_answer(flat["O75398"], TextPolicy()) == (
        "Isoform 1: Nucleus; Cytoplasm. Isoform 2: Secreted. Isoform 3: Secreted. Isoform 4: Cytoplasm; Nucleus.")
    assert location_answer(flat["P31946"], TextPolicy()) == "Cytoplasm; Melanosome."


def test_location_topology_and_notes_on_request(flat):
    membrane = next(acc for acc, row in flat.items()
                    if any(loc["topology"] for loc in row["subcellular_locations"]) and row["subcellular_location_note"])
    entry = flat[membrane]
    topology = next(loc["topology"] for loc in entry["subcellular_locations"] if loc["topology"])
    plain = location_answer(entry, TextPolicy())
    detailed = location_answer(entry, TextPolicy(location_topology=True, location_notes=True))
    assert topology not in plain and f"({topology}" in detailed
    assert clean_text(entry["subcellular_location_note"], TextPolicy()).split(": ")[-1] in detailed
    assert "[" not in detailed

"""Morgan/Tanimoto pairs (GraphPart's molecule mode) on real ChEBI-20 molecules, checked against
similarities recomputed here from the fingerprints' on-bits."""

from __future__ import annotations

import csv

import pytest

from etl.similarity.fingerprints import MORGAN_BITS, morgan_fingerprints, similar_pairs


@pytest.fixture(scope="module")
def chebi20(shared_data) -> list[tuple[str, str]]:
    with open(shared_data / "pubchem" / "chebi20_test.tsv", newline="") as table:
        rows = list(csv.DictReader(table, delimiter="\t"))
    return [(row["CID"], row["SMILES"]) for row in rows[:300]]


def on_bits_tanimoto(a, b) -> float:
    bits_a, bits_b = set(a.GetOnBits()), set(b.GetOnBits())
    return len(bits_a & bits_b) / len(bits_a | bits_b)


def test_pairs_are_exactly_those_at_or_above_the_threshold(chebi20):
    ids, smiles = [i for i, _ in chebi20], [s for _, s in chebi20]
    fingerprints = morgan_fingerprints(smiles)
    assert all(fp.GetNumBits() == MORGAN_BITS for fp in fingerprints)
    expected = {(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))
                if on_bits_tanimoto(fingerprints[i], fingerprints[j]) >= 0.6}
    found = {(a, b) for a, b, _ in similar_pairs(ids, smiles, 0.6)}
    assert found == expected and len(found) > 5


def test_stereoisomers_have_identical_fingerprints():
    # L- and D-alanine: radius-2 Morgan bits without chirality cannot tell them apart.
    pairs = list(similar_pairs(["L", "D", "glycine"], ["C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O", "NCC(=O)O"], 0.99))
    assert pairs == [("L", "D", 1.0)]


def test_an_unreadable_smiles_is_named():
    with pytest.raises(ValueError, match="C1CC"):
        morgan_fingerprints(["C1CC"])

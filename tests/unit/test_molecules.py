"""Molecule normalization on real PubChem / ChEBI-20 structures."""

from __future__ import annotations

import pytest
from rdkit import Chem

from etl.normalize.molecules import (
    MoleculeNormalizer,
    MoleculePolicy,
    canonicalize_tautomer_with_timeout,
    check_graph_encodable,
    make_tautomer_enumerator,
    normalize_molecule,
    parse_smiles,
    sanitize,
    single_fragment_parent,
    standardize,
)
from etl.parse.pubchem import iter_pubchem_records
from etl.quality.rejects import Rejected


def canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def real_structures(path, fmt: str) -> list[dict]:
    with open(path, "rb") as stream:
        return [r for r in iter_pubchem_records(stream, path.name, fmt) if r["kind"] == "structure"]


def chebi20_smiles(shared_data) -> dict[int, str]:
    return {r["cid"]: r["smiles"] for r in real_structures(shared_data / "pubchem/chebi20_test.tsv", "chebi20_tsv")}


def rejection(smiles: str, policy: MoleculePolicy | None = None) -> Rejected:
    with pytest.raises(Rejected) as raised:
        normalize_molecule(smiles, policy)
    return raised.value


def test_inchikeys_of_real_sdf_structures_match_pubchem(shared_data):
    """Every tyrphostin record is one neutral component (PUBCHEM_COMPONENT_COUNT 1,
    PUBCHEM_TOTAL_CHARGE 0): normalization must keep its identity, stereo included."""
    records = real_structures(shared_data / "pubchem/sdf/rcpi_tyrphostin.sdf", "sdf")
    normalizer = MoleculeNormalizer()
    mismatches = [
        (r["cid"], r["inchikey"], key)
        for r in records
        if (key := normalizer.normalize(r["smiles"]).inchikey) != r["inchikey"]
    ]
    assert len(records) == 105
    assert mismatches == []


def test_new_generation_sdf_structure_keeps_pubchem_identity(shared_data):
    [record] = real_structures(shared_data / "pubchem/cid4/Structure2D_COMPOUND_CID_4.sdf", "sdf")
    assert normalize_molecule(record["smiles"]).inchikey == record["inchikey"]


# Real ChEBI-20 salts / hydrates -> their parents (parent SMILES written out independently).
SALTS = {
    23674745: "CC(C(=O)O)C1=CC=C(C=C1)CC2CCCC2=O",  # loxoprofen sodium dihydrate -> loxoprofen
    10648: "C1CC(C2=CC=CC=C2C1)C3=NCCN3",  # tetryzoline hydrochloride -> tetryzoline
    46878362: "CC(C)NCC(COC1=CC=C(C=C1)CCC(=O)OC)O",  # esmolol hydrochloride ([NH2+], [Cl-]) -> esmolol
    5282409: "CN(C)CCOC(C1=CC=C(C=C1)Cl)C2=CC=CC=N2",  # carbinoxamine maleate -> carbinoxamine
    11213569: "C1=CC(=CC=C1CN=C(N)SCCCC2=CN=CN2)Cl",  # clobenpropit dihydrobromide -> clobenpropit
    56927880: "CCN",  # ethylammonium trifluoroacetate -> ethylamine
    6282: ("C1=CC(=C(C=C1C2(C3=C(C(=C(C(=C3Br)Br)Br)Br)C(=O)O2)C4=CC(=C(C=C4)O)S(=O)(=O)O)"
           "S(=O)(=O)O)O"),  # bromosulfophthalein disodium -> the free sulfonic acid
}


@pytest.mark.parametrize("cid", sorted(SALTS))
def test_real_salts_come_out_as_their_parent(shared_data, cid):
    smiles = chebi20_smiles(shared_data)[cid]
    assert "." in smiles
    result = normalize_molecule(smiles)
    assert result.smiles == canonical(SALTS[cid])
    assert result.parent_taken and result.changed
    assert Chem.MolFromSmiles(result.smiles).GetNumAtoms() == result.heavy_atoms


def test_permanent_cation_keeps_its_charge_without_the_counter_ion(shared_data):
    # CID 65732, 3,7-diamino-5-phenylphenazinium chloride: the quaternary N+ cannot be neutralized
    result = normalize_molecule(chebi20_smiles(shared_data)[65732])
    assert "." not in result.smiles and "+" in result.smiles and "Cl" not in result.smiles
    assert result.formula == "C18H15N4+"


@pytest.mark.parametrize("cid, element", [(62672, "Be"), (57339203, "Fe"), (82050, "Li"), (23976, "Cr")])
def test_inorganic_and_metal_compounds_are_rejected_by_element(shared_data, cid, element):
    error = rejection(chebi20_smiles(shared_data)[cid])
    assert error.reason == "element_not_allowed" and element in error.detail.split(",")


def test_chebi20_escaped_double_bond_stereo_survives(shared_data):
    # CID 5354212 is written with MolT5's escaped backslash; its (17E) double bond must stay
    result = normalize_molecule(chebi20_smiles(shared_data)[5354212])
    assert result.inchikey == Chem.MolToInchiKey(Chem.MolFromSmiles(
        "C[C@]12CCC(=O)C=C1CC[C@@H]3[C@@H]2C(=O)C[C@]\\4([C@H]3CC/C4=C/C(=O)OC)C"))
    assert "/" in result.smiles


def test_unchanged_molecule_reports_no_change():
    result = normalize_molecule("CC(=O)OC1=CC=CC=C1C(=O)O")  # aspirin, PUG REST
    assert (result.smiles, result.changed, result.parent_taken) == ("CC(=O)Oc1ccccc1C(=O)O", False, False)
    assert (result.inchikey, result.heavy_atoms, result.formula) == ("BSYNRYMUTXBXSQ-UHFFFAOYSA-N", 13, "C9H8O4")


def test_drop_stereo_policy():
    result = normalize_molecule("C[C@H](N)O", MoleculePolicy(keep_stereo=False))
    assert result.smiles == "CC(N)O" and "@" not in result.smiles


def test_standardize_off_keeps_all_fragments():
    policy = MoleculePolicy(standardize=False, allowed_elements={"C", "O", "Na"})
    result = normalize_molecule("CC(=O)[O-].[Na+]", policy)
    assert result.smiles == "CC(=O)[O-].[Na+]" and not result.parent_taken


@pytest.mark.parametrize("smiles, reason", [
    ("", "smiles_parse_error"),
    ("C1CC(", "smiles_parse_error"),
    ("c1cccc1", "sanitization_error"),
    ("C(C)(C)(C)(C)C", "sanitization_error"),
    ("[U]", "element_not_allowed"),
    ("C*", "not_graph_encodable"),
    ("[Na+].[Cl-]", "element_not_allowed"),
    ("[H][H]", "too_few_heavy_atoms"),
    ("C" * 151, "too_many_heavy_atoms"),
])
def test_rejects_with_reason(smiles, reason):
    assert rejection(smiles).reason == reason


def test_parse_error_detail_carries_rdkit_message_without_timestamps(capfd):
    error = rejection("C1CC(")
    assert "SMILES Parse Error" in error.detail and "C1CC(" in error.detail
    assert not error.detail.startswith("[")
    assert "can't kekulize" in rejection("c1cccc1").detail.lower()
    captured = capfd.readouterr()
    assert "SMILES Parse Error" not in captured.err and "kekulize" not in captured.err


def test_heavy_atom_bounds_come_from_the_policy():
    assert rejection("CCO", MoleculePolicy(min_heavy_atoms=4)).reason == "too_few_heavy_atoms"
    assert rejection("CCCCC", MoleculePolicy(max_heavy_atoms=4)).reason == "too_many_heavy_atoms"
    assert normalize_molecule("CCCC", MoleculePolicy(max_heavy_atoms=4)).heavy_atoms == 4


def test_graph_encodability_rules():
    check_graph_encodable(Chem.MolFromSmiles("F/C=C/F"))  # directional bonds are indexable
    with pytest.raises(Rejected, match="no atoms"):
        check_graph_encodable(Chem.Mol())
    dative = Chem.MolFromSmiles("N->[Pt]", sanitize=False)
    with pytest.raises(Rejected, match="DATIVE"):
        check_graph_encodable(dative)
    dummy = parse_smiles("[*]C")
    with pytest.raises(Rejected, match="atomic number 0"):
        check_graph_encodable(dummy)


def test_tautomer_canonicalization_and_its_timeout():
    policy = MoleculePolicy(canonicalize_tautomer=True)
    # 2-hydroxypyridine and 2-pyridone are one compound: one canonical tautomer
    assert normalize_molecule("Oc1ccccn1", policy).smiles == normalize_molecule("O=c1cccc[nH]1", policy).smiles
    enumerator = make_tautomer_enumerator()
    mol = Chem.MolFromSmiles("Oc1ncccc1CC(=O)CC(=O)C")
    with pytest.raises(Rejected) as raised:
        canonicalize_tautomer_with_timeout(mol, 1e-9, enumerator)
    assert raised.value.reason == "tautomer_timeout"
    # the same enumerator is reusable after a timeout
    assert Chem.MolToSmiles(canonicalize_tautomer_with_timeout(mol, 5.0, enumerator)) == "CC(=O)CC(=O)Cc1ccc[nH]c1=O"


def test_normalizer_is_reusable_and_deterministic(shared_data):
    smiles = list(chebi20_smiles(shared_data).values())[:40]
    normalizer = MoleculeNormalizer(MoleculePolicy(canonicalize_tautomer=True))

    def run() -> list:
        out = []
        for s in smiles:
            try:
                out.append(normalizer.normalize(s))
            except Rejected as error:
                out.append(error.reason)
        return out

    assert run() == run()


def test_policy_rejects_unknown_fields():
    with pytest.raises(ValueError):
        MoleculePolicy(max_atoms=10)


def test_single_fragment_shortcut_equals_chembl_fragment_parent(shared_data):
    """`single_fragment_parent` must give what the ChEMBL pipeline's own fragment parent gives."""
    from chembl_structure_pipeline import standardizer

    checked = 0
    for smiles in list(chebi20_smiles(shared_data).values())[:400]:
        try:
            mol = standardize(sanitize(parse_smiles(smiles)))
        except Rejected:
            continue
        isotope_parent = standardizer.get_isotope_parent_mol(mol)
        if len(Chem.GetMolFrags(isotope_parent)) != 1:
            continue
        reference, _ = standardizer.get_fragment_parent_mol(isotope_parent, neutralize=True, check_exclusion=False)
        assert Chem.MolToSmiles(single_fragment_parent(isotope_parent)) == Chem.MolToSmiles(reference), smiles
        checked += 1
    assert checked > 350

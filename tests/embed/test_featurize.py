"""One GIN vocabulary: normalization's encodability check and the featurizer accept and refuse the same atoms.

RDKit facts these tests rest on (RDKit 2026.09): SMILES never gives an atom CHI_OTHER, and the SMILES
writer drops a CHI_OTHER set by hand; @TH1/@TH2 parse as counter-clockwise/clockwise tetrahedral;
@AL allene tags are cleared by sanitization; @SP, @TB and @OH parse as CHI_SQUAREPLANAR,
CHI_TRIGONALBIPYRAMIDAL and CHI_OCTAHEDRAL and survive a canonical SMILES round trip. GraphMVP's
chirality table has 3 rows (unspecified, CW, CCW), so none of those other tags has a row.
"""

from __future__ import annotations

import pytest
from rdkit import Chem

from etl.embed.encoder import UnsupportedEntity
from etl.embed.featurize import graph_of_mol, mol_graph
from etl.embed.gin import GraphMvpGin
from etl.normalize.gin_vocabulary import BOND_DIRECTION_ROWS, BOND_TYPE_ROWS, CHIRALITY_ROWS, MAX_ATOMIC_NUMBER, SELF_LOOP_BOND_TYPE
from etl.normalize.molecules import MoleculePolicy, check_graph_encodable, normalize_molecule, parse_smiles, sanitize
from etl.quality.rejects import Rejected

L_ALANINE = "C[C@@H](C(=O)O)N"


def check_refusal(mol: Chem.Mol) -> str | None:
    """Why normalization's check rejects the molecule, or None when it keeps it."""
    try:
        check_graph_encodable(mol)
    except Rejected as error:
        assert error.reason == "not_graph_encodable"
        return error.detail
    return None


def featurizer_refusal(mol: Chem.Mol) -> str | None:
    """Why the featurizer cannot encode the molecule, or None when it encodes it."""
    try:
        graph_of_mol(mol)
    except UnsupportedEntity as error:
        return str(error)
    return None


def chiral_tags(smiles: str) -> list[str]:
    return [str(atom.GetChiralTag()) for atom in Chem.MolFromSmiles(smiles).GetAtoms() if atom.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED]


# Real molecules, written as they would be with their stereo: (SMILES, RDKit's chirality tags, why the GIN refuses it).
MOLECULES = [
    (L_ALANINE, ["CHI_TETRAHEDRAL_CW"], None),
    ("F/C=C/F", [], None),  # (E)-1,2-difluoroethene: directional bonds have rows
    ("c1ccccc1", [], None),
    ("F[S@OH1](F)(F)(F)(F)c1ccccc1", ["CHI_OCTAHEDRAL"], "atom 1 has chirality CHI_OCTAHEDRAL"),  # (pentafluoro-λ6-sulfanyl)benzene
    ("F[P@TB1](F)(F)(F)c1ccccc1", ["CHI_TRIGONALBIPYRAMIDAL"], "atom 1 has chirality CHI_TRIGONALBIPYRAMIDAL"),  # tetrafluorophenylphosphorane
    ("N[Pt@SP1](N)(Cl)Cl", ["CHI_SQUAREPLANAR"], "atom 1 has chirality CHI_SQUAREPLANAR"),  # cisplatin
    ("*C(=O)O", [], "atom 0 is '*' (atomic number 0)"),  # a dummy atom, as in polymer repeat units
]


@pytest.mark.parametrize("smiles, tags, refusal", MOLECULES)
def test_check_and_featurizer_agree_on_real_molecules(smiles, tags, refusal):
    assert chiral_tags(smiles) == tags
    # Each side reads the molecule as it does in a run: the check after sanitizing, the featurizer from the SMILES.
    assert check_refusal(sanitize(parse_smiles(smiles))) == refusal
    assert featurizer_refusal(Chem.MolFromSmiles(smiles)) == refusal
    if refusal is None:
        assert mol_graph(smiles).num_atoms == Chem.MolFromSmiles(smiles).GetNumAtoms()
    else:
        with pytest.raises(UnsupportedEntity, match="atom"):
            mol_graph(smiles)


def test_chi_other_has_no_row_for_the_check_nor_the_featurizer():
    mol = Chem.MolFromSmiles(L_ALANINE)
    mol.GetAtomWithIdx(1).SetChiralTag(Chem.ChiralType.CHI_OTHER)
    # GraphMVP's featurizer would index CHI_OTHER as row 3 of its 3-row table; here both sides refuse it.
    assert check_refusal(mol) == featurizer_refusal(mol) == "atom 1 has chirality CHI_OTHER"
    # No release SMILES carries it: RDKit's writer drops the tag, so the molecule reads back as unspecified.
    assert chiral_tags(Chem.MolToSmiles(mol)) == []


def test_non_tetrahedral_stereo_is_rejected_unless_the_policy_drops_stereo():
    smiles = "F[S@OH1](F)(F)(F)(F)c1ccccc1"
    with pytest.raises(Rejected) as raised:
        normalize_molecule(smiles)
    assert (raised.value.reason, raised.value.detail) == ("not_graph_encodable", "atom 1 has chirality CHI_OCTAHEDRAL")
    kept = normalize_molecule(smiles, MoleculePolicy(keep_stereo=False))
    assert kept.smiles == "FS(F)(F)(F)(F)c1ccccc1"
    assert mol_graph(kept.smiles).atoms[:, 1].tolist() == [0] * 12  # every atom on the "unspecified" row


def test_gin_tables_are_graphmvps_and_hold_every_row_of_the_vocabulary():
    model = GraphMvpGin(layers=5, dim=300)
    conv = model.gnns[0]
    sizes = (model.x_embedding1.num_embeddings, model.x_embedding2.num_embeddings,
             conv.edge_embedding1.num_embeddings, conv.edge_embedding2.num_embeddings)
    assert sizes == (120, 3, 6, 3)  # num_atom_type, num_chirality_tag, num_bond_type, num_bond_direction in GraphMVP
    assert MAX_ATOMIC_NUMBER - 1 < sizes[0]
    assert max(CHIRALITY_ROWS.values()) < sizes[1]
    assert max(*BOND_TYPE_ROWS.values(), SELF_LOOP_BOND_TYPE) < sizes[2]
    assert max(BOND_DIRECTION_ROWS.values()) < sizes[3]

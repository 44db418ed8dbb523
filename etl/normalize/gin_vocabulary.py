"""The GraphMVP GIN's input vocabulary: which atoms and bonds have a row in its embedding tables, and which.

GraphMVP (after Hu et al.'s pretrain-gnns) reads a molecule as two indices per atom, atomic number and
chirality tag, and two per bond, bond type and bond direction, each looked up in its own embedding table;
one heavy atom is one node (hydrogens stay implicit). Normalization's graph-encodability check
(etl.normalize.molecules, the `not_graph_encodable` reject) and the featurizer (etl.embed.featurize)
both read this module, so a molecule a release keeps is exactly one the featurizer can encode.
No torch here: normalization runs without it.
"""

from __future__ import annotations

from rdkit import Chem

# Atomic numbers 1..118 take rows 0..117 of the atom-type table (its last two rows are GraphMVP's mask tokens).
MAX_ATOMIC_NUMBER = 118
# GraphMVP's chirality table has 3 rows: unspecified, clockwise, counter-clockwise. Its featurizer lists
# CHI_OTHER as a fourth tag, at index 3, which is past the table, and has no index at all for the tags
# newer RDKit versions parse (@SP, @TB, @OH: square-planar, trigonal-bipyramidal, octahedral): the
# pretrained weights never saw an atom carrying any of them. Such an atom is therefore not encodable,
# rather than read as unspecified, which would silently drop stereo that the record states; the
# `keep_stereo: false` policy is the way to ask for molecules to be encoded without their stereo.
CHIRALITY_ROWS = {
    Chem.ChiralType.CHI_UNSPECIFIED: 0,
    Chem.ChiralType.CHI_TETRAHEDRAL_CW: 1,
    Chem.ChiralType.CHI_TETRAHEDRAL_CCW: 2,
}
BOND_TYPE_ROWS = {Chem.BondType.SINGLE: 0, Chem.BondType.DOUBLE: 1, Chem.BondType.TRIPLE: 2, Chem.BondType.AROMATIC: 3}
# The bond-type row of the self-loop GraphMVP adds to every atom before message passing.
SELF_LOOP_BOND_TYPE = 4
BOND_DIRECTION_ROWS = {Chem.BondDir.NONE: 0, Chem.BondDir.ENDUPRIGHT: 1, Chem.BondDir.ENDDOWNRIGHT: 2}


class NotGraphEncodable(ValueError):
    """An atom or bond with no row in the GIN's embedding tables; the message says which, and why."""


def atom_rows(atom: Chem.Atom) -> tuple[int, int]:
    """(atom-type row, chirality row) of one atom."""
    number = atom.GetAtomicNum()
    if not 1 <= number <= MAX_ATOMIC_NUMBER:
        raise NotGraphEncodable(f"atom {atom.GetIdx()} is {atom.GetSymbol()!r} (atomic number {number})")
    chirality = CHIRALITY_ROWS.get(atom.GetChiralTag())
    if chirality is None:
        raise NotGraphEncodable(f"atom {atom.GetIdx()} has chirality {atom.GetChiralTag()}")
    return number - 1, chirality


def bond_rows(bond: Chem.Bond) -> tuple[int, int]:
    """(bond-type row, bond-direction row) of one bond."""
    bond_type = BOND_TYPE_ROWS.get(bond.GetBondType())
    if bond_type is None:
        raise NotGraphEncodable(f"bond {bond.GetIdx()} is {bond.GetBondType()}")
    direction = BOND_DIRECTION_ROWS.get(bond.GetBondDir())
    if direction is None:
        raise NotGraphEncodable(f"bond {bond.GetIdx()} has direction {bond.GetBondDir()}")
    return bond_type, direction

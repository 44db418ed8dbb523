"""Molecule graphs for the GraphMVP GIN, from a release's normalized SMILES (RDKit).

The features are those of the pretrain-gnns / GraphMVP models, index for index, so a GraphMVP
checkpoint's embedding tables line up: atoms carry (atomic number - 1, chirality tag), bonds carry
(bond type, bond direction). Hydrogens stay implicit: one node per heavy atom, as RDKit parses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from etl.embed.encoders import UnsupportedEntity

MAX_ATOMIC_NUMBER = 118
# GraphMVP's chirality table has 3 rows (unspecified, CW, CCW); any other tag (RDKit's CHI_OTHER and the
# non-tetrahedral ones) would index past it, so it is read as unspecified.
CHIRALITY = {Chem.ChiralType.CHI_TETRAHEDRAL_CW: 1, Chem.ChiralType.CHI_TETRAHEDRAL_CCW: 2}
BOND_TYPES = {Chem.BondType.SINGLE: 0, Chem.BondType.DOUBLE: 1, Chem.BondType.TRIPLE: 2, Chem.BondType.AROMATIC: 3}
SELF_LOOP_BOND_TYPE = 4
BOND_DIRECTIONS = {Chem.BondDir.NONE: 0, Chem.BondDir.ENDUPRIGHT: 1, Chem.BondDir.ENDDOWNRIGHT: 2}


@dataclass(frozen=True)
class MolGraph:
    """A molecule as the GIN reads it; edges are listed in both directions."""

    atoms: np.ndarray  # (atoms, 2) int64: atomic number - 1, chirality index
    edges: np.ndarray  # (2, 2 x bonds) int64: source, target
    bonds: np.ndarray  # (2 x bonds, 2) int64: bond type index, bond direction index

    @property
    def num_atoms(self) -> int:
        return len(self.atoms)


def mol_graph(smiles: str) -> MolGraph:
    """The graph of one SMILES; raises UnsupportedEntity for what the GIN's tables cannot represent."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise UnsupportedEntity(f"RDKit cannot parse {smiles!r}")
    atoms = np.array([_atom_features(atom) for atom in mol.GetAtoms()], dtype=np.int64).reshape(-1, 2)
    sources, targets, features = [], [], []
    for bond in mol.GetBonds():
        begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        feature = _bond_features(bond)
        sources += [begin, end]
        targets += [end, begin]
        features += [feature, feature]
    edges = np.array([sources, targets], dtype=np.int64).reshape(2, -1)
    bonds = np.array(features, dtype=np.int64).reshape(-1, 2)
    return MolGraph(atoms, edges, bonds)


def _atom_features(atom) -> tuple[int, int]:
    number = atom.GetAtomicNum()
    if not 1 <= number <= MAX_ATOMIC_NUMBER:
        raise UnsupportedEntity(f"atom {atom.GetSymbol()!r} has no atomic number in 1..{MAX_ATOMIC_NUMBER}")
    return number - 1, CHIRALITY.get(atom.GetChiralTag(), 0)


def _bond_features(bond) -> tuple[int, int]:
    bond_type = BOND_TYPES.get(bond.GetBondType())
    direction = BOND_DIRECTIONS.get(bond.GetBondDir())
    if bond_type is None or direction is None:
        raise UnsupportedEntity(f"bond type {bond.GetBondType()} / direction {bond.GetBondDir()} is not in GraphMVP's tables")
    return bond_type, direction

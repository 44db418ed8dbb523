"""Molecule graphs for the GraphMVP GIN, from a release's normalized SMILES (RDKit).

The features are the rows of GraphMVP's embedding tables, as etl.normalize.gin_vocabulary declares
them for this featurizer and for normalization's graph-encodability check alike: atoms carry
(atomic number - 1, chirality row), bonds carry (bond type row, bond direction row). Hydrogens stay
implicit: one node per heavy atom, as RDKit parses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from etl.embed.encoder import UnsupportedEntity
from etl.normalize.gin_vocabulary import NotGraphEncodable, atom_rows, bond_rows


@dataclass(frozen=True)
class MolGraph:
    """A molecule as the GIN reads it; edges are listed in both directions."""

    atoms: np.ndarray  # (atoms, 2) int64: atomic number - 1, chirality row
    edges: np.ndarray  # (2, 2 x bonds) int64: source, target
    bonds: np.ndarray  # (2 x bonds, 2) int64: bond type row, bond direction row

    @property
    def num_atoms(self) -> int:
        return len(self.atoms)


def mol_graph(smiles: str) -> MolGraph:
    """The graph of one SMILES; raises UnsupportedEntity for what the GIN's tables cannot represent."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise UnsupportedEntity(f"RDKit cannot parse {smiles!r}")
    return graph_of_mol(mol)


def graph_of_mol(mol: Chem.Mol) -> MolGraph:
    """The graph of one RDKit molecule; raises UnsupportedEntity for an atom or bond the GIN has no row for."""
    try:
        atoms = np.array([atom_rows(atom) for atom in mol.GetAtoms()], dtype=np.int64).reshape(-1, 2)
        sources, targets, features = [], [], []
        for bond in mol.GetBonds():
            begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            feature = bond_rows(bond)
            sources += [begin, end]
            targets += [end, begin]
            features += [feature, feature]
    except NotGraphEncodable as error:
        raise UnsupportedEntity(str(error)) from None
    edges = np.array([sources, targets], dtype=np.int64).reshape(2, -1)
    bonds = np.array(features, dtype=np.int64).reshape(-1, 2)
    return MolGraph(atoms, edges, bonds)

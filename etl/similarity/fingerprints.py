"""Molecule similarity as GraphPart's molecule mode measures it: Morgan fingerprints (radius 2,
1,024 bits) compared by Tanimoto similarity. Pure functions over SMILES, no Spark.

Every pair is compared (RDKit's BulkTanimotoSimilarity, one row of the triangle at a time),
so the cost grows with the square of the number of molecules: seconds for ten thousand,
hours for a million.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

MORGAN_RADIUS = 2
MORGAN_BITS = 1024


def morgan_fingerprints(smiles: Sequence[str]) -> list:
    """One bit vector per SMILES (which must parse: they come normalized from the build)."""
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS, fpSize=MORGAN_BITS)
    fingerprints = []
    for text in smiles:
        molecule = Chem.MolFromSmiles(text)
        if molecule is None:
            raise ValueError(f"not a SMILES RDKit can read: {text!r}")
        fingerprints.append(generator.GetFingerprint(molecule))
    return fingerprints


def similar_pairs(ids: Sequence[str], smiles: Sequence[str], min_similarity: float) -> Iterator[tuple[str, str, float]]:
    """(id, id, similarity) for every unordered pair at or above `min_similarity`, first id the earlier one."""
    from rdkit import DataStructs

    fingerprints = morgan_fingerprints(smiles)
    for i in range(len(fingerprints) - 1):
        similarities = DataStructs.BulkTanimotoSimilarity(fingerprints[i], fingerprints[i + 1:])
        for offset, similarity in enumerate(similarities):
            if similarity >= min_similarity:
                yield ids[i], ids[i + 1 + offset], similarity

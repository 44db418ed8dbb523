"""Molecules: one input SMILES -> one standardized, encodable structure, or a reject.

`MoleculeNormalizer(policy).normalize(smiles)` runs the rules below in order, each a
small function that returns an RDKit Mol or raises `Rejected(reason, detail)`:

    parse_smiles -> sanitize -> standardize -> take_parent -> drop_stereo
    -> canonicalize_tautomer_with_timeout -> (round trip through canonical SMILES)
    -> check_graph_encodable -> check_elements -> check_heavy_atom_bounds

The encodability check runs on the molecule re-read from the output SMILES, because
that SMILES is what the GIN featurizer will read. RDKit's own log lines are kept off
stderr; the error text they carry goes into the reject detail instead.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass

from chembl_structure_pipeline import standardizer
from pydantic import BaseModel, ConfigDict, Field
from rdkit import Chem, rdBase
from rdkit.Chem import rdMolDescriptors
from rdkit.Chem.MolStandardize import rdMolStandardize

from etl.normalize.gin_vocabulary import NotGraphEncodable, atom_rows, bond_rows
from etl.quality.rejects import Rejected

# The organic subset plus the heteroatoms common in PubChem/ChEBI small molecules.
# Metals and other inorganic elements are left out: the parent of a metal salt is
# taken first, so what is still left with a metal is a coordination compound or an
# inorganic salt, which the GIN encoder was not pretrained on.
DEFAULT_ALLOWED_ELEMENTS = frozenset({"H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I"})

_LOG_TIMESTAMP = re.compile(r"^\[\d\d:\d\d:\d\d\] ?", re.M)


class MoleculePolicy(BaseModel):
    """How structures are normalized and which are kept; the `molecules:` config section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    standardize: bool = Field(True, description=(
        "ChEMBL structure pipeline: standardize, then take the parent "
        "(salts and solvents stripped, charges neutralized where possible)"))
    keep_stereo: bool = Field(True, description="keep tetrahedral and double-bond stereo")
    canonicalize_tautomer: bool = Field(False, description=(
        "replace the structure by RDKit's canonical tautomer; off by default because "
        "PubChem and ChEBI descriptions describe the depicted tautomer"))
    tautomer_timeout_s: float = Field(2.0, gt=0, description="wall-clock limit per molecule")
    min_heavy_atoms: int = Field(1, ge=0)
    # Every atom's GIN vector becomes one language-model token, so the heavy-atom
    # count is the molecule's share of the context. 150 keeps 99.3% of the ChEBI-20
    # test molecules (99th percentile: 135 heavy atoms); the 24 above it are
    # oligosaccharides, lipid A variants, a 33-residue peptide and a DNA oligomer, up to
    # 383 atoms, whose descriptions name the pieces rather than the whole graph.
    max_heavy_atoms: int = Field(150, ge=1)
    allowed_elements: frozenset[str] = DEFAULT_ALLOWED_ELEMENTS
    require_graph_encodable: bool = True


@dataclass(frozen=True)
class NormalizedMolecule:
    smiles: str  # canonical (isomeric unless keep_stereo is off) SMILES of the result
    inchikey: str
    heavy_atoms: int
    formula: str
    changed: bool  # the result differs from the sanitized input (canonical SMILES compared)
    parent_taken: bool  # fragments (salts, solvents) were removed


@contextmanager
def quiet_rdkit():
    """Keep RDKit's log off stderr; `capture.messages` holds what its error log said."""
    with rdBase.BlockLogs(), rdBase.CaptureErrorLog() as capture:
        yield capture


def logged_text(capture) -> str:
    """The captured RDKit log, without timestamps (reject details must be deterministic)."""
    return _LOG_TIMESTAMP.sub("", capture.messages).strip().replace("\n", " | ")


def parse_smiles(smiles: str) -> Chem.Mol:
    """The unsanitized molecule of `smiles` (sanitizing is its own rule)."""
    if not smiles or not smiles.strip():
        raise Rejected("smiles_parse_error", "empty SMILES")
    with quiet_rdkit() as capture:
        mol = Chem.MolFromSmiles(smiles.strip(), sanitize=False)
    if mol is None:
        raise Rejected("smiles_parse_error", logged_text(capture) or smiles)
    return mol


def sanitize(mol: Chem.Mol) -> Chem.Mol:
    """RDKit sanitization, then stereo perception (which parsing with sanitize=False skips:
    without it double-bond stereo written as / and \\ would be lost)."""
    mol = Chem.Mol(mol)
    try:
        Chem.SanitizeMol(mol)
    except (ValueError, RuntimeError) as error:  # RDKit's MolSanitizeException is a ValueError
        raise Rejected("sanitization_error", str(error)) from error
    Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    return mol


def standardize(mol: Chem.Mol) -> Chem.Mol:
    """ChEMBL standardization (normalized functional groups, charges, tartrates, ...).

    The pipeline's exclusion flag (metals, >7 borons) would skip standardization
    silently; the element rule decides about those molecules instead, after the parent
    is taken, so a sodium salt is still standardized and stripped.
    """
    try:
        return standardizer.standardize_mol(Chem.Mol(mol), check_exclusion=False)
    except (ValueError, RuntimeError) as error:
        raise Rejected("standardization_error", f"standardize: {error}") from error


def take_parent(mol: Chem.Mol) -> tuple[Chem.Mol, bool]:
    """The ChEMBL parent (isotopes, salts and solvents removed, neutralized) and whether fragments went."""
    try:
        isotope_parent = standardizer.get_isotope_parent_mol(mol)
        if len(Chem.GetMolFrags(isotope_parent)) == 1:
            parent = single_fragment_parent(isotope_parent)
        else:
            parent, _excluded = standardizer.get_fragment_parent_mol(isotope_parent, neutralize=True,
                                                                    check_exclusion=False)
        parent = Chem.Mol(parent)
        Chem.SanitizeMol(parent)
    except (ValueError, RuntimeError) as error:
        raise Rejected("standardization_error", f"get_parent: {error}") from error
    fragments_removed = len(Chem.GetMolFrags(parent)) < len(Chem.GetMolFrags(mol))
    return parent, fragments_removed


def single_fragment_parent(mol: Chem.Mol) -> Chem.Mol:
    """ChEMBL's fragment parent of a one-fragment molecule: the molecule, neutralized.

    `get_fragment_parent_mol` never strips the only fragment (when every fragment is a
    salt or solvent it keeps them all), so for one fragment its result is `uncharge_mol`
    of the input. Going there directly skips re-reading and re-parsing its salt and
    solvent tables, which the pipeline does on every call: half the time of a molecule.
    tests/unit/test_molecules.py checks the two agree on real molecules."""
    return standardizer.uncharge_mol(mol)


def drop_stereo(mol: Chem.Mol) -> Chem.Mol:
    mol = Chem.Mol(mol)
    Chem.RemoveStereochemistry(mol)
    return mol


class _Deadline(rdMolStandardize.TautomerEnumeratorCallback):
    """Stops a tautomer enumeration once its deadline has passed (RDKit calls it per step)."""

    def __init__(self):
        super().__init__()
        self.deadline = float("inf")
        self.expired = False

    def start(self, timeout_s: float) -> None:
        self.deadline = time.monotonic() + timeout_s
        self.expired = False

    def __call__(self, mol, result) -> bool:
        if time.monotonic() > self.deadline:
            self.expired = True
            return False
        return True


def make_tautomer_enumerator() -> rdMolStandardize.TautomerEnumerator:
    """A TautomerEnumerator with a deadline callback; build once, reuse per molecule."""
    enumerator = rdMolStandardize.TautomerEnumerator()
    enumerator.SetCallback(_Deadline())
    return enumerator


def canonicalize_tautomer_with_timeout(mol: Chem.Mol, timeout_s: float,
                                       enumerator: rdMolStandardize.TautomerEnumerator | None = None) -> Chem.Mol:
    """RDKit's canonical tautomer, or Rejected("tautomer_timeout") after `timeout_s`.

    A canceled enumeration makes RDKit return the input unchanged, so the callback's
    flag, not the result, says whether the limit was hit.
    """
    enumerator = enumerator or make_tautomer_enumerator()
    deadline = enumerator.GetCallback()
    deadline.start(timeout_s)
    canonical = enumerator.Canonicalize(mol)
    if deadline.expired:
        raise Rejected("tautomer_timeout", f"more than {timeout_s} s")
    return canonical


def check_graph_encodable(mol: Chem.Mol) -> None:
    """Rejected("not_graph_encodable") unless every atom and bond has a row in the GIN's
    embedding tables (etl.normalize.gin_vocabulary, which the featurizer reads too)."""
    if mol.GetNumAtoms() == 0:
        raise Rejected("not_graph_encodable", "no atoms")
    try:
        for atom in mol.GetAtoms():
            atom_rows(atom)
        for bond in mol.GetBonds():
            bond_rows(bond)
    except NotGraphEncodable as error:
        raise Rejected("not_graph_encodable", str(error)) from None


def check_elements(mol: Chem.Mol, allowed: frozenset[str]) -> None:
    outside = sorted({atom.GetSymbol() for atom in mol.GetAtoms()} - allowed)
    if outside:
        raise Rejected("element_not_allowed", ",".join(outside))


def check_heavy_atom_bounds(mol: Chem.Mol, minimum: int, maximum: int) -> None:
    heavy = mol.GetNumHeavyAtoms()
    if heavy < minimum:
        raise Rejected("too_few_heavy_atoms", f"{heavy} < {minimum}")
    if heavy > maximum:
        raise Rejected("too_many_heavy_atoms", f"{heavy} > {maximum}")


def inchikey_of(mol: Chem.Mol) -> str:
    with quiet_rdkit() as capture:
        key = Chem.MolToInchiKey(mol)
    if not key:
        raise Rejected("inchi_error", logged_text(capture))
    return key


class MoleculeNormalizer:
    """The rules of one policy, with the heavy RDKit objects built once (one per batch)."""

    def __init__(self, policy: MoleculePolicy | None = None):
        self.policy = policy or MoleculePolicy()
        self._enumerator = make_tautomer_enumerator() if self.policy.canonicalize_tautomer else None

    def normalize(self, smiles: str) -> NormalizedMolecule:
        policy = self.policy
        with quiet_rdkit():
            mol = sanitize(parse_smiles(smiles))
            input_smiles = Chem.MolToSmiles(mol)
            parent_taken = False
            if policy.standardize:
                mol, parent_taken = take_parent(standardize(mol))
            if not policy.keep_stereo:
                mol = drop_stereo(mol)
            if policy.canonicalize_tautomer:
                mol = canonicalize_tautomer_with_timeout(mol, policy.tautomer_timeout_s, self._enumerator)
            output_smiles = Chem.MolToSmiles(mol)
            # The featurizer reads this SMILES, so the checks look at what it will see.
            mol = sanitize(parse_smiles(output_smiles))
            if policy.require_graph_encodable:
                check_graph_encodable(mol)
            check_elements(mol, policy.allowed_elements)
            check_heavy_atom_bounds(mol, policy.min_heavy_atoms, policy.max_heavy_atoms)
            return NormalizedMolecule(
                smiles=output_smiles,
                inchikey=inchikey_of(mol),
                heavy_atoms=mol.GetNumHeavyAtoms(),
                formula=rdMolDescriptors.CalcMolFormula(mol),
                changed=output_smiles != input_smiles,
                parent_taken=parent_taken,
            )


def normalize_molecule(smiles: str, policy: MoleculePolicy | None = None) -> NormalizedMolecule:
    """One-off normalization; per batch, build a `MoleculeNormalizer` once and reuse it."""
    return MoleculeNormalizer(policy).normalize(smiles)

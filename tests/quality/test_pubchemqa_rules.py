"""Seeded corruptions of the PubChemQA sample release: the structure and name rules."""

from __future__ import annotations

import pytest

from etl.quality.pubchemqa_suite import compound_titles
from etl.quality.validate import release_context, validate_release

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def failed_rules(release) -> set[str]:
    return {f["rule"] for f in validate_release(release).failures("error")}


def replace_first(column, change):
    def mutate(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[0, column] = change(frame.loc[0, column], frame)
        return frame
    return mutate


def non_canonical(smiles: str, frame) -> str:
    """The same molecule written from another atom: RDKit parses it, but it is not canonical."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return next(s for root in range(mol.GetNumAtoms())
                if (s := Chem.MolToSmiles(mol, rootedAtAtom=root)) != smiles)


def another_inchikey(key: str, frame) -> str:
    return next(k for k in frame["inchikey"] if k != key)


PUBCHEM_CORRUPTIONS = {
    "unparseable SMILES": (replace_first("smiles", lambda s, f: "C1CC(" ), "unparseable_smiles"),
    "non-canonical SMILES": (replace_first("smiles", non_canonical), "non_canonical_smiles"),
    "wrong InChIKey": (replace_first("inchikey", another_inchikey), "inchikey_mismatch"),
    "InChIKey of the wrong shape": (replace_first("inchikey", lambda k, f: k.lower()), "inchikey_shape"),
    "unknown question": (replace_first("question", lambda q, f: "What is this?"), "question_in_config"),
}


@pytest.mark.parametrize("corruption", sorted(PUBCHEM_CORRUPTIONS))
def test_pubchemqa_corruption_is_caught_by_name(corruption, pubchemqa_release, corrupted):
    mutate, rule = PUBCHEM_CORRUPTIONS[corruption]
    assert rule in failed_rules(corrupted(pubchemqa_release, "data", mutate))


def test_unmasked_compound_name_is_caught(pubchemqa_release, corrupted):
    """A compound's title put back into one of its answers is found, and named with its CID."""
    titles = compound_titles(release_context(pubchemqa_release))
    assert titles, "the sample's inputs give the released compounds their titles"

    def unmask(frame):
        row = frame.index[frame["cid"].isin(list(titles))][0]
        title = sorted(titles[int(frame.loc[row, "cid"])])[0]
        frame["answer"] = frame["answer"].astype(object)
        frame.loc[row, "answer"] = f"{frame.loc[row, 'answer']} {title} is found in plants."
        return frame

    failures = validate_release(corrupted(pubchemqa_release, "data", unmask)).failures("error")
    names = [f for f in failures if f["rule"] == "unmasked_compound_name"]
    assert names and names[0]["unexpected_count"] == 1


def test_scaffold_in_two_splits_is_caught(pubchemqa_release, corrupted):
    def move_one_of_a_shared_group(frame):
        shared = frame[frame.duplicated("smiles", keep=False)].index[0]
        frame["split"] = frame["split"].astype(object)
        frame.loc[shared, "split"] = "test" if frame.loc[shared, "split"] != "test" else "train"
        return frame

    assert "split_group_in_one_split" in failed_rules(corrupted(pubchemqa_release, "data", move_one_of_a_shared_group))


def test_inputs_gone_is_a_warning(pubchemqa_release, tmp_path):
    """A release moved away from its inputs still validates; the name rule's missing titles are a warning."""
    from tests.quality.conftest import copy_release, edit_manifest

    release = copy_release(pubchemqa_release, tmp_path)
    edit_manifest(release, lambda m: [entry.update(path=str(tmp_path / "gone" / entry["path"].lstrip("/")))
                                      for entry in m["inputs"]])
    validation = validate_release(release)
    assert validation.passed
    assert [f["rule"] for f in validation.failures("warn")] == ["titles_readable"]


def test_release_suite_files_validate_it_again(pubchemqa_release):
    """The suite files a build writes (GX JSON, naming lifeqa's own expectation classes) load in a fresh
    `lifeqa validate` process and pass."""
    import subprocess
    import sys

    for suite in sorted((pubchemqa_release / "quality/expectations").glob("*.json")):
        result = subprocess.run([sys.executable, "-m", "etl.cli", "validate", str(pubchemqa_release), "--suite",
                                 str(suite)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr

"""Exclusion lists (split.exclude): never-train entities and their groups stay out of train,
removed entities become `excluded` rejects, and the manifest says what each list did."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

from etl.split import SplitPolicy, scaffold_key

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def rows_by_split(release: Path) -> dict[str, list[dict]]:
    ds = datasets.load_dataset(str(release))
    return {split: list(rows) for split, rows in ds.items()}


def rejects(release: Path) -> list[dict]:
    return [row for path in sorted((release / "rejects").glob("*.parquet")) for row in pq.read_table(path).to_pylist()]


def write_config(path: Path, dataset: str, split: dict) -> Path:
    path.write_text(yaml.safe_dump({"dataset": dataset, "split": split}))
    return path


def test_uniprotqa_never_train_and_remove_lists(build, uniprotqa_release, tmp_path):
    plain = rows_by_split(uniprotqa_release)
    in_train = sorted({row["accession"] for row in plain["train"]})
    never_train, dropped = in_train[:6], in_train[-3:]
    drop_file = tmp_path / "drop.txt"
    drop_file.write_text("# retracted entries\n" + "\n".join(dropped) + "\n")
    config = write_config(tmp_path / "uniprotqa.yaml", "uniprotqa", {
        "strategy": "homology",
        "exclude": [{"name": "benchmark-test", "action": "never_train", "match": "accession", "ids": never_train},
                    {"name": "retracted", "action": "remove", "match": "accession", "file": str(drop_file)}]})
    release = build("uniprotqa", tmp_path / "excluded", "--config", str(config))

    after = rows_by_split(release)
    released = {row["accession"]: split for split, rows in after.items() for row in rows}
    assert not set(dropped) & released.keys()
    assert all(released[a] != "train" for a in never_train)
    # Their homologs and identical sequences went with them: whatever shares a sequence with a
    # never-train protein is out of train too.
    held_sequences = {row["sequence_sha256"] for split, rows in after.items() for row in rows
                      if row["accession"] in never_train}
    assert not any(row["sequence_sha256"] in held_sequences for row in after["train"])
    excluded = [r for r in rejects(release) if r["reason"] == "excluded"]
    assert sorted(r["record_id"] for r in excluded) == sorted(dropped)
    assert all(r["detail"] == "on exclusion list retracted" for r in excluded)

    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["reconciled"]
    assert manifest["stages"]["exclude"]["rejected"] == {"excluded": 3}
    report = {line["name"]: line for line in manifest["stages"]["split"]["exclusions"]}
    assert report["retracted"] == {"name": "retracted", "action": "remove", "match": "accession", "ids": 3,
                                   "removed": 3}
    assert report["benchmark-test"]["matched"] == 6 and report["benchmark-test"]["sequences_in_train"] == 0


def test_pubchemqa_keeps_a_benchmark_out_of_train_and_drops_another_release_test_split(
        build, pubchemqa_release, shared_data, tmp_path):
    chebi20 = shared_data / "pubchem" / "chebi20_test.tsv"
    config = write_config(tmp_path / "pubchemqa.yaml", "pubchemqa", {
        "strategy": "scaffold", "group_by": "inchikey_connectivity",
        "exclude": [
            {"name": "chebi20-test", "action": "never_train", "match": "cid", "file": str(chebi20), "column": "CID"},
            {"name": "v1-test", "action": "remove", "match": "inchikey", "release": str(pubchemqa_release)}]})
    release = build("pubchemqa", tmp_path / "excluded", "--config", str(config))

    before, after = rows_by_split(pubchemqa_release), rows_by_split(release)
    v1_test = {row["inchikey"] for row in before["test"]}
    assert v1_test and not any(row["inchikey"] in v1_test for rows in after.values() for row in rows)
    chebi_cids = {line.split("\t", 1)[0] for line in chebi20.read_text().splitlines()[1:]}
    listed = [row for rows in after.values() for row in rows if str(row["cid"]) in chebi_cids]
    assert listed, "the bundled sample should hold ChEBI-20 test molecules"
    policy = SplitPolicy(strategy="scaffold")
    # Every molecule sharing a scaffold with a listed one is out of train (checked with RDKit here).
    held_scaffolds = {scaffold_key(row["smiles"], policy.generic_scaffold) for row in listed} - {None}
    assert not [row["cid"] for row in after["train"]
                if str(row["cid"]) in chebi_cids or scaffold_key(row["smiles"], False) in held_scaffolds]

    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["reconciled"]
    report = {line["name"]: line for line in manifest["stages"]["qa"]["exclusions"]}
    assert report["v1-test"]["removed"] == manifest["stages"]["exclude"]["rejected"]["excluded"] > 0
    chebi_report = report["chebi20-test"]
    assert chebi_report["ids"] == 3300 and chebi_report["matched"] == len({row["cid"] for row in listed})
    # The listed molecules the plain build put in train are the ones the list moved.
    assert chebi_report["moved_out_of_train"] == len({row["cid"] for row in before["train"]
                                                      if str(row["cid"]) in chebi_cids}) > 0


def test_pubchemqa_tanimoto_partition_keeps_similar_molecules_and_scaffolds_in_one_split(
        build, pubchemqa_release, tmp_path):
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    threshold = 0.6
    config = write_config(tmp_path / "pubchemqa.yaml", "pubchemqa", {
        "strategy": "scaffold", "group_by": "inchikey_connectivity", "max_tanimoto": threshold})
    release = build("pubchemqa", tmp_path / "tanimoto", "--config", str(config))

    split_of = {}
    for split, rows in rows_by_split(release).items():
        for row in rows:
            assert split_of.setdefault(row["smiles"], split) == split
    # Recomputed here, independently of etl.similarity: no pair at the threshold crosses splits.
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    smiles = sorted(split_of)
    fingerprints = [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]
    crossing = [(smiles[i], smiles[j]) for i in range(len(smiles)) for j in range(i + 1, len(smiles))
                if split_of[smiles[i]] != split_of[smiles[j]]
                and DataStructs.TanimotoSimilarity(fingerprints[i], fingerprints[j]) >= threshold]
    assert crossing == []
    scaffolds = {}
    for text, split in split_of.items():
        scaffold = scaffold_key(text, False)
        if scaffold:
            assert scaffolds.setdefault(scaffold, split) == split, f"scaffold {scaffold} straddles splits"

    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["reconciled"]
    partition = manifest["stages"]["split"]["similarity"]
    assert partition["components"] < partition["entities"] == len(split_of) + partition["removed"]["total"]
    plain = {row["smiles"] for rows in rows_by_split(pubchemqa_release).values() for row in rows}
    assert len(split_of) + partition["removed"]["total"] == len(plain)

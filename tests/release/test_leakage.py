"""The leakage report over a release written from real UniProt entries."""

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.datasets.uniprotqa import DATASET
from etl.parse.uniprot import FLAT, parse_entries
from etl.quality.rejects import Rejected
from etl.release import leakage
from etl.split import SPLITS, SplitPolicy, split_by_key_hash


def write_release(directory, shared_data, split_of):
    """data/<split>-00000.parquet with one `function` QA row per real sample entry that has one."""
    rows = {split: [] for split in SPLITS}
    with open(shared_data / "uniprot" / "uniprotkb_sample.dat", "rb") as stream:
        for _, _, entry in parse_entries(stream, FLAT):
            if isinstance(entry, Rejected) or not entry.get("function"):
                continue
            key = hashlib.sha256(entry["sequence"].encode()).hexdigest()
            split = split_of(key)
            rows[split].append({"accession": entry["accession"], "sequence": entry["sequence"],
                                "sequence_sha256": key, "field": "function", "answer": entry["function"],
                                "split": split})
    (directory / "data").mkdir(parents=True)
    for split, found in rows.items():
        pq.write_table(pa.Table.from_pylist(found), directory / "data" / f"{split}-00000.parquet")
    return directory


@pytest.fixture
def searches(monkeypatch):
    """The protein neighbour searches a report runs (each is two MMseqs2 runs), counted."""
    calls, real = [], leakage.protein_neighbours

    def counted(texts, evaluation, training, policy):
        calls.append(len(evaluation))
        return real(texts, evaluation, training, policy)

    monkeypatch.setattr(leakage, "protein_neighbours", counted)
    return calls


def test_a_hash_split_release_is_searched_once_and_compared_with_itself(tmp_path, shared_data, searches):
    policy = SplitPolicy(strategy="hash")
    release = write_release(tmp_path / "release", shared_data, lambda key: split_by_key_hash(key, policy))
    report = leakage.leakage_report(release, DATASET, policy)
    assert len(searches) == 1 and searches[0] == report["release_split"]["evaluation_entities"] > 0
    assert report["hash_split"] == report["release_split"]


def test_a_split_unlike_the_hash_split_is_compared_with_a_searched_hash_split(tmp_path, shared_data, searches):
    policy = SplitPolicy(strategy="hash")
    # Every entity the hash split would train on is held out: the two splits differ everywhere.
    flipped = {"train": "test", "validation": "train", "test": "train"}
    release = write_release(tmp_path / "release", shared_data,
                            lambda key: flipped[split_by_key_hash(key, policy)])
    report = leakage.leakage_report(release, DATASET, policy)
    assert len(searches) == 2
    ours, hashed = report["release_split"], report["hash_split"]
    assert ours["evaluation_entities"] == hashed["training_entities"] > 0

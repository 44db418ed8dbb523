"""`lifeqa build pubchemqa` end to end, through the CLI."""

from __future__ import annotations

import json

import datasets
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def everything(tmp_path_factory, build, shared_data):
    return build("pubchemqa", tmp_path_factory.mktemp("pubchem_rel") / "pubchemqa_all", "--input", str(shared_data / "pubchem"),
                 "--version", "2026.1")


def test_release_loads_with_datasets_and_every_reject_has_a_reason(everything):
    ds = datasets.load_dataset(str(everything))
    assert set(ds) == {"train", "validation", "test"} and len(ds["train"]) > len(ds["test"]) > 0
    assert set(ds["train"].unique("question")) == {"Please describe this molecule."}
    assert "title" not in ds["train"].column_names
    # Some depositors (e.g. the CID 4 record's ChEBI reference) give no licence URL; every row names its source.
    assert all(ds["train"]["source_name"]) and any(ds["train"]["license_url"])
    rejects = datasets.load_dataset(str(everything), "rejects")["rejects"]
    assert all(rejects["reason"]) and all(rejects["origin"]) and all(rejects["stage"])


def test_manifest_counts_reconcile(everything):
    manifest = json.loads((everything / "manifest.json").read_text())
    counts = manifest["counts"]
    assert manifest["reconciled"] and manifest["version"] == "2026.1"
    assert counts["records_in"] == counts["records_released"] + counts["records_rejected"]
    assert sum(i["records"] for i in manifest["inputs"]) == counts["records_in"]
    assert counts["rejected_by_reason"]["unknown_format"] == 5  # the cid4 JSON that is no PubChem record format
    ds = datasets.load_dataset(str(everything))
    assert sum(len(split) for split in ds.values()) == counts["rows"] > 3000
    # Released records = QA rows + one structure per released CID (no title files here).
    cids = {cid for split in ds.values() for cid in split["cid"]}
    assert counts["records_released"] == counts["rows"] + len(cids)


def test_card_lists_each_depositor_licence(everything):
    card = (everything / "README.md").read_text()
    assert "license: other" in card and "PubChem" in card
    assert "- ChEBI-20 (MolT5): https://creativecommons.org/licenses/by/4.0/" in card


def test_rebuild_is_identical(everything, build, shared_data, tmp_path):
    again = build("pubchemqa", tmp_path / "again", "--input", str(shared_data / "pubchem"))
    first = json.loads((everything / "manifest.json").read_text())
    second = json.loads((again / "manifest.json").read_text())
    assert first["content_sha256"] == second["content_sha256"] and first["files"] == second["files"]


def test_default_build_reads_the_bundled_sample(pubchemqa_release):
    manifest = json.loads((pubchemqa_release / "manifest.json").read_text())
    assert all("/etl/sample/pubchem/" in i["path"] for i in manifest["inputs"])
    assert {i["format"] for i in manifest["inputs"]} >= {"pug_view_annotations", "pug_view_record", "sdf",
                                                         "pug_rest_json", "chebi20_tsv"}
    counts = manifest["counts"]
    assert counts["rows"] > 400 and counts["rejected_by_reason"]["duplicate_description"] > 0


def test_no_scaffold_straddles_splits(everything):
    from etl.split import scaffold_key

    ds = datasets.load_dataset(str(everything))
    split_of, acyclic_splits = {}, set()
    for split, rows in ds.items():
        for smiles in rows["smiles"]:
            scaffold = scaffold_key(smiles, generic=False)
            if scaffold is None:
                acyclic_splits.add(split)
            else:
                assert split_of.setdefault(scaffold, split) == split, f"scaffold {scaffold} in two splits"
    assert set(split_of.values()) == {"train", "validation", "test"}
    assert len(acyclic_splits) > 1  # acyclic molecules do not all land in one split

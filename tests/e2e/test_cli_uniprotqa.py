"""`lifeqa build uniprotqa` end to end, through the CLI."""

from __future__ import annotations

import json

import datasets
import pytest
from typer.testing import CliRunner

from etl.cli import app

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def everything(tmp_path_factory, build, shared_data):
    return build("uniprotqa", tmp_path_factory.mktemp("rel") / "all", "--input", str(shared_data / "uniprot"),
                         "--version", "2026.1")


def test_release_loads_with_datasets(everything):
    ds = datasets.load_dataset(str(everything))
    assert set(ds) == {"train", "validation", "test"}
    assert len(ds["train"]) > len(ds["test"]) > 0
    assert set(ds["train"].unique("question")) == {
        "What is the function of this protein?", "What are the official names of this protein?",
        "What is the protein family that this protein belongs to?",
        "What are the subcellular locations of this protein?"}
    rejects = datasets.load_dataset(str(everything), "rejects")["rejects"]
    assert all(rejects["reason"]) and all(rejects["origin"])


def test_manifest_counts_reconcile(everything):
    manifest = json.loads((everything / "manifest.json").read_text())
    counts = manifest["counts"]
    assert manifest["version"] == "2026.1" and manifest["reconciled"]
    assert counts["records_in"] == counts["records_released"] + counts["records_rejected"] == 323
    assert sum(i["records"] for i in manifest["inputs"]) == counts["records_in"]
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    ds = datasets.load_dataset(str(everything))
    accessions = {a for split in ds.values() for a in split["accession"]}
    assert len(accessions) == counts["records_released"]
    assert sum(len(split) for split in ds.values()) == counts["rows"]


def test_rebuild_is_identical_and_never_overwrites_without_force(everything, build, shared_data, tmp_path):
    runner = CliRunner()
    args = ["build", "uniprotqa", "--input", str(shared_data / "uniprot"), "--master", "local[2]"]
    refused = runner.invoke(app, [*args, "--out", str(everything)])
    assert refused.exit_code == 1 and "--force" in refused.output
    again = build("uniprotqa", tmp_path / "again", "--input", str(shared_data / "uniprot"))
    first = json.loads((everything / "manifest.json").read_text())
    second = json.loads((again / "manifest.json").read_text())
    assert first["content_sha256"] == second["content_sha256"]
    assert first["files"].keys() == second["files"].keys()
    forced = runner.invoke(app, [*args, "--out", str(again), "--force"])
    assert forced.exit_code == 0, forced.output
    assert json.loads((again / "manifest.json").read_text())["content_sha256"] == first["content_sha256"]


def test_reject_flood_fails_and_writes_nothing(shared_data, tmp_path):
    config = tmp_path / "strict.yaml"
    config.write_text("quality:\n  max_reject_fraction: 0.05\n")
    out = tmp_path / "flood"
    result = CliRunner().invoke(app, ["build", "uniprotqa", "--input", str(shared_data / "uniprot"),
                                      "--config", str(config), "--out", str(out), "--master", "local[2]"])
    assert result.exit_code == 1
    assert "max_reject_fraction" in result.output and "unsupported_legacy_format" in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == [config]


def test_default_build_reads_the_bundled_sample(uniprotqa_release):
    manifest = json.loads((uniprotqa_release / "manifest.json").read_text())
    assert all("/etl/sample/uniprot/" in i["path"] for i in manifest["inputs"])
    assert manifest["counts"]["records_released"] > 250
    card = (uniprotqa_release / "README.md").read_text()
    assert "license: cc-by-4.0" in card and "UniProt Consortium" in card


def test_a_separate_process_builds_the_same_content(uniprotqa_release, tmp_path):
    """Determinism across JVMs and Python processes, not only within one test session."""
    import subprocess
    import sys
    from pathlib import Path

    lifeqa = Path(sys.executable).parent / "lifeqa"
    out = tmp_path / "uniprotqa"
    subprocess.run([str(lifeqa), "build", "uniprotqa", "--out", str(out), "--master", "local[2]"],
                   check=True, capture_output=True, timeout=600)
    ours = json.loads((out / "manifest.json").read_text())
    fixture = json.loads((uniprotqa_release / "manifest.json").read_text())
    assert ours["content_sha256"] == fixture["content_sha256"]
    assert ours["config_sha256"] == fixture["config_sha256"]
    assert ours["counts"] == fixture["counts"]


def split_sequences(release) -> dict[str, dict[str, str]]:
    """{split: {sequence_sha256: sequence}} from the release's files."""
    ds = datasets.load_dataset(str(release))
    return {split: dict(zip(rows["sequence_sha256"], rows["sequence"])) for split, rows in ds.items()}


def cross_split_homologs(release, work) -> list[tuple[str, str, str, str]]:
    """Pairs at >= 30% identity over >= 80% coverage of both that sit in different splits, found by a
    plain `mmseqs easy-search` of every split against every other (not the code under test)."""
    import subprocess

    sequences = split_sequences(release)
    for split, entities in sequences.items():
        (work / f"{split}.fasta").write_text("".join(f">{k}\n{s}\n" for k, s in entities.items()))
    found = []
    for query in sequences:
        for target in sequences:
            if query >= target:
                continue
            hits = work / f"{query}-{target}.tsv"
            subprocess.run(["mmseqs", "easy-search", str(work / f"{query}.fasta"), str(work / f"{target}.fasta"),
                            str(hits), str(work / "tmp"), "--min-seq-id", "0.3", "-c", "0.8", "--cov-mode", "0",
                            "-s", "7.5", "-e", "inf", "--max-seqs", "10000", "--format-output", "query,target",
                            "-v", "1"], check=True)
            found += [(query, target, *line.split("\t")) for line in hits.read_text().splitlines()]
    return found


def test_homology_split_keeps_homologs_and_identical_sequences_in_one_split(everything, tmp_path):
    manifest = json.loads((everything / "manifest.json").read_text())
    assert manifest["config"]["split"]["strategy"] == "homology"
    assert cross_split_homologs(everything, tmp_path) == []
    ds = datasets.load_dataset(str(everything))
    split_of = {}
    for split, rows in ds.items():
        for key, accession in zip(rows["sequence_sha256"], rows["accession"]):
            assert split_of.setdefault(key, split) == split, f"{accession}'s sequence is in two splits"
            assert split_of.setdefault(accession.split("-")[0], split) == split, f"{accession}'s isoforms straddle"
    partition = manifest["stages"]["split"]["homology"]
    assert partition["ratios_within_tolerance"] and partition["components"] > 0


def test_leakage_report_in_the_manifest_card_and_command(everything):
    manifest = json.loads((everything / "manifest.json").read_text())
    leakage = manifest["leakage"]
    ours, hashed = leakage["release_split"], leakage["hash_split"]
    assert set(ours["copy_rate"]) == {"family", "function", "location", "names"}
    assert ours["evaluation_entities"] > 0 and hashed["evaluation_entities"] > 0
    assert "### Leakage" in (everything / "README.md").read_text()
    printed = CliRunner().invoke(app, ["leakage", str(everything), "--json"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout)["release_split"] == ours


def test_a_later_version_keeps_every_protein_of_the_previous_one_in_its_split(build, shared_data, tmp_path):
    flat = (shared_data / "uniprot" / "uniprotkb_sample.dat").read_bytes()
    subset = tmp_path / "v1-input" / "first_120.dat"
    subset.parent.mkdir()
    subset.write_bytes(b"\n//\n".join(flat.split(b"\n//\n")[:120]) + b"\n//\n")
    v1 = build("uniprotqa", tmp_path / "v1", "--input", str(subset), "--version", "1")
    v2 = build("uniprotqa", tmp_path / "v2", "--input", str(shared_data / "uniprot"), "--version", "2",
               "--previous", str(v1))
    before, after = split_sequences(v1), split_sequences(v2)
    moved = [(key, split) for split, entities in before.items() for key in entities if key not in after[split]]
    assert moved == [] and sum(map(len, after.values())) > sum(map(len, before.values()))
    manifest = json.loads((v2 / "manifest.json").read_text())
    assert manifest["previous_release"]["version"] == "1"
    assert manifest["stages"]["split"]["homology"]["pinned"]["kept_split"] == sum(map(len, before.values()))
    assert cross_split_homologs(v2, tmp_path) == []

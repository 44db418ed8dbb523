"""etl.similarity.mmseqs with the real `mmseqs` on the real UniProt sample, and the split built from it.

The leakage check does not trust the code it checks: it aligns every sequence
against every other with MMseqs2's `align` module directly (no k-mer prefilter,
GraphPart's "fake prefilter": each query is handed every target), at the same
thresholds, and asks that no pair it finds lands in two splits.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from etl.parse.uniprot import parse_entries
from etl.similarity.mmseqs import (
    INSTALL_COMMAND,
    SHORT_SEQUENCE,
    MissingToolError,
    find_mmseqs,
    homologs_between,
    homology_pairs,
    nearest_hits,
    write_fasta,
)
from etl.similarity.partition import partition

needs_mmseqs = pytest.mark.skipif(shutil.which("mmseqs") is None, reason=f"mmseqs not installed ({INSTALL_COMMAND})")


@pytest.fixture(scope="module")
def sample_sequences(shared_data) -> dict[str, str]:
    with open(shared_data / "uniprot" / "uniprotkb_sample.dat", "rb") as flat:
        rows = [(accession, row) for _, accession, row in parse_entries(flat, "flat") if isinstance(row, dict)]
    sequences = {accession: row["sequence"] for accession, row in rows}
    assert len(sequences) == 247
    return sequences


@pytest.fixture(scope="module")
def sample_fasta(sample_sequences, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fasta") / "sample.fasta"
    write_fasta(sample_sequences.items(), path)
    return path


@pytest.fixture(scope="module")
def sample_pairs(sample_fasta) -> list:
    return list(homology_pairs(sample_fasta, min_identity=0.3, min_coverage=0.8, threads=2))


def exhaustive_pairs(fasta: Path, work: Path, min_identity: float, min_coverage: float) -> set[tuple[str, str]]:
    """Unordered pairs at the thresholds from aligning every query with every target."""
    run = lambda *args: subprocess.run(["mmseqs", *args, "-v", "1"], check=True, cwd=work)  # noqa: E731
    run("createdb", str(fasta), "db")
    # The fake prefilter of the MMseqs2 user guide: the database's own index file,
    # read as a prefilter result, lists every target for every query.
    index = (work / "db.index").read_text()
    shutil.copy(work / "db.index", work / "pref")
    (work / "pref.index").write_text("".join(f"{line.split()[0]}\t0\t{len(index)}\n" for line in index.splitlines()))
    (work / "pref.dbtype").write_bytes(bytes([7, 0, 0, 0]))
    run("align", "db", "db", "pref", "aln", "--alignment-mode", "3", "-e", "inf",
        "--min-seq-id", str(min_identity), "-c", str(min_coverage), "--cov-mode", "0", "--threads", "2")
    run("convertalis", "db", "db", "aln", "aln.tsv", "--format-output", "query,target")
    pairs = (line.split("\t") for line in (work / "aln.tsv").read_text().splitlines())
    return {tuple(sorted((q, t))) for q, t in pairs if q != t}


@pytest.fixture(scope="module")
def independent_pairs(sample_fasta, tmp_path_factory) -> set[tuple[str, str]]:
    return exhaustive_pairs(sample_fasta, tmp_path_factory.mktemp("exhaustive"), 0.3, 0.8)


# ---------------------------------------------------------------- no mmseqs


def test_missing_mmseqs_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingToolError, match="apt-get install -y mmseqs2"):
        find_mmseqs()
    (tmp_path / "one.fasta").write_text(">a\nMKV\n")
    with pytest.raises(MissingToolError, match="apt-get install -y mmseqs2"):
        list(homology_pairs(tmp_path / "one.fasta"))


@pytest.mark.parametrize("records, message", [
    ([("P1 isoform", "MKV")], "without whitespace"),
    ([("", "MKV")], "non-empty"),
    ([("P1", "MKV"), ("P1", "MKL")], "twice"),
    ([("P1", "")], "sequence of 'P1'"),
])
def test_write_fasta_refuses_ids_mmseqs_would_misread(records, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        write_fasta(records, tmp_path / "x.fasta")


# ---------------------------------------------------------------- homology_pairs on the sample


@needs_mmseqs
@pytest.mark.slow
def test_pairs_come_once_unordered_without_self_hits_and_above_the_thresholds(sample_pairs):
    assert sample_pairs, "the sample holds homologous families"
    keys = [(p.query_id, p.target_id) for p in sample_pairs]
    assert len(keys) == len(set(keys))
    assert all(q < t for q, t in keys)
    assert all(p.identity >= 0.3 and p.query_coverage >= 0.8 and p.target_coverage >= 0.8 for p in sample_pairs)


@needs_mmseqs
@pytest.mark.slow
def test_identical_sequences_are_pairs_of_full_identity(sample_pairs, sample_sequences):
    by_sequence = defaultdict(list)
    for accession, sequence in sample_sequences.items():
        by_sequence[sequence].append(accession)
    identical = {(a, b) for group in by_sequence.values() for a in group for b in group if a < b}
    assert identical, "the sample has entries with the same sequence"
    found = {(p.query_id, p.target_id): p for p in sample_pairs}
    assert identical <= set(found)
    assert all(found[pair].identity == 1.0 for pair in identical)


@needs_mmseqs
@pytest.mark.slow
def test_sensitive_search_finds_every_pair_that_aligning_all_against_all_finds(sample_pairs, independent_pairs):
    assert {(p.query_id, p.target_id) for p in sample_pairs} == independent_pairs


@needs_mmseqs
@pytest.mark.slow
def test_split_of_the_sample_puts_no_homologous_pair_in_two_splits(sample_pairs, sample_sequences, independent_pairs):
    by_sequence = defaultdict(list)
    for accession, sequence in sample_sequences.items():
        by_sequence[sequence].append(accession)
    result = partition(dict.fromkeys(sample_sequences, 1), sample_pairs, together=by_sequence.values())
    assignment = result.assignment
    assert set(assignment) | set(result.removed) == set(sample_sequences)
    leaks = [(a, b) for a, b in independent_pairs
             if a in assignment and b in assignment and assignment[a] != assignment[b]]
    assert leaks == []
    assert {split for split in assignment.values()} == {"train", "validation", "test"}


AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def substitute_every_other_residue(sequence: str) -> str:
    """Every other residue replaced by another amino acid: about 50% identity, full coverage."""
    return "".join(AMINO_ACIDS[(AMINO_ACIDS.index(r) + 7) % 20] if i % 2 and r in AMINO_ACIDS else r
                   for i, r in enumerate(sequence))


@needs_mmseqs
@pytest.mark.slow
def test_short_homologs_the_kmer_prefilter_misses_are_paired(sample_sequences, tmp_path):
    # k-mers of a 20-60 residue peptide and of a copy with every other residue
    # changed rarely match: `mmseqs easy-search -s 7.5` alone finds 2 of these 4 pairs.
    short = {a: s for a, s in sample_sequences.items() if len(s) < 60}
    assert short and all(len(s) < SHORT_SEQUENCE for s in short.values())
    copies = {f"half_of_{a}": substitute_every_other_residue(s) for a, s in short.items()}
    write_fasta([*short.items(), *copies.items()], tmp_path / "short.fasta")
    found = {(p.query_id, p.target_id) for p in homology_pairs(tmp_path / "short.fasta", threads=2)}
    assert {(a, f"half_of_{a}") for a in short} <= found

    # One set against another: short queries and short targets alike.
    write_fasta(short.items(), tmp_path / "originals.fasta")
    write_fasta(copies.items(), tmp_path / "copies.fasta")
    assert homologs_between(tmp_path / "originals.fasta", tmp_path / "copies.fasta", threads=2) == set(short)
    assert homologs_between(tmp_path / "copies.fasta", tmp_path / "originals.fasta", threads=2) == set(copies)


@needs_mmseqs
def test_targets_without_a_single_kmer_are_searched_by_alignment(tmp_path):
    # Low complexity throughout: MMseqs2's prefilter masks every k-mer and stops
    # ("No k-mer could be extracted"); the direct alignment of short sequences still pairs them.
    write_fasta([("repeat", "WA" * 15)], tmp_path / "query.fasta")
    write_fasta([("repeat_copy", "WA" * 15)], tmp_path / "target.fasta")
    assert homologs_between(tmp_path / "query.fasta", tmp_path / "target.fasta", threads=2) == {"repeat"}


# ---------------------------------------------------------------- nearest_hits


@needs_mmseqs
@pytest.mark.slow
def test_nearest_hits_finds_a_planted_copy_of_each_query(sample_sequences, tmp_path):
    accessions = sorted(sample_sequences)
    queries = accessions[:5]
    targets = [(a, sample_sequences[a]) for a in accessions[5:60]]
    targets += [(f"copy_of_{q}", sample_sequences[q]) for q in queries]
    write_fasta([(q, sample_sequences[q]) for q in queries], tmp_path / "query.fasta")
    write_fasta(targets, tmp_path / "target.fasta")
    hits = nearest_hits(tmp_path / "query.fasta", tmp_path / "target.fasta", threads=2)
    assert set(hits) == set(queries)
    for query in queries:
        target, identity = hits[query]
        assert identity == 1.0
        assert sample_sequences.get(target, sample_sequences[query]) == sample_sequences[query]


# ---------------------------------------------------------------- the verified partition


@needs_mmseqs
@pytest.mark.slow
def test_pairs_the_fast_pass_misses_across_splits_are_found_by_the_verification(sample_sequences, tmp_path,
                                                                                monkeypatch):
    from etl.similarity import verified

    rng = random.Random(7)
    family = {f"{root}-mutant": "".join(rng.choice(AMINO_ACIDS.replace(r, "")) if rng.random() < 0.55 else r
                                       for r in sample_sequences[root])
              for root in sorted(sample_sequences)[::5]}
    sequences = sample_sequences | family
    write_fasta(sequences.items(), tmp_path / "all.fasta")
    # At -s 1 the k-mer prefilter finds few ~45%-identity pairs: the verification must find the rest.
    monkeypatch.setattr(verified, "FIRST_PASS_SENSITIVITY", 1.0)
    result = verified.verified_partition(tmp_path / "all.fasta", dict.fromkeys(sequences, 1), min_identity=0.3,
                                         min_coverage=0.8, threads=2)
    search = result.report["search"]
    assert search["edges_added_by_verification"] > 0 and search["verification_rounds"] >= 2
    work = tmp_path / "exhaustive"
    work.mkdir()
    assignment = result.assignment
    leaks = [(a, b) for a, b in exhaustive_pairs(tmp_path / "all.fasta", work, 0.3, 0.8)
             if a in assignment and b in assignment and assignment[a] != assignment[b]]
    assert leaks == [] and len(assignment) + len(result.removed) == len(sequences)

"""Protein homology with the MMseqs2 binary: the edges of a leakage-free split, and the leakage report.

Two searches, both by the real `mmseqs` executable (Debian/Ubuntu package `mmseqs2`):

- `homology_pairs`: all-vs-all search of one FASTA against itself. Each pair of
  sequences with at least `min_identity` identity over an alignment covering at
  least `min_coverage` of *both* sequences is an edge that must not cross splits.
- `nearest_hits`: each query's top-1 hit in a target set with no identity floor,
  as RAPM measures answer leakage (IDEA-XL/RAPM `mmseq_utils.align_and_analyze`),
  so lifeqa's leakage report can be set beside RAPM's published rates.

Every run works in a `tempfile.TemporaryDirectory` (MMseqs2 writes databases and
a tmp folder), removed when the search returns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

INSTALL_COMMAND = "apt-get install -y mmseqs2"

# Columns asked of `--format-output`, in this order.
PAIR_COLUMNS = "query,target,fident,qcov,tcov"
HIT_COLUMNS = "query,target,fident"


class MissingToolError(RuntimeError):
    """A required external program is not on PATH."""


class MmseqsError(RuntimeError):
    """`mmseqs` ran and failed."""


class HomologyPair(NamedTuple):
    """One unordered pair, oriented so that `query_id < target_id`."""

    query_id: str
    target_id: str
    identity: float
    query_coverage: float
    target_coverage: float


def find_mmseqs() -> str:
    """The path of the `mmseqs` executable on PATH."""
    path = shutil.which("mmseqs")
    if path is None:
        raise MissingToolError(f"MMseqs2 (`mmseqs`) is not on PATH; install it with `{INSTALL_COMMAND}`")
    return path


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity, unlike os.cpu_count)."""
    return len(os.sched_getaffinity(0))


def write_fasta(records: Iterable[tuple[str, str]], path: str | os.PathLike) -> int:
    """Write (id, sequence) records as FASTA, one line per sequence; return how many.

    MMseqs2 names a sequence by its header's first word, so an id holding
    whitespace would come back truncated, and a repeated id would make its pairs
    ambiguous: both are refused rather than silently merged.
    """
    seen: set[str] = set()
    with open(path, "w", encoding="ascii") as out:
        for seq_id, sequence in records:
            if not seq_id or any(ch.isspace() for ch in seq_id) or seq_id.startswith(">"):
                raise ValueError(f"FASTA id {seq_id!r} must be non-empty, without whitespace or a leading '>'")
            if seq_id in seen:
                raise ValueError(f"FASTA id {seq_id!r} appears twice")
            if not sequence or any(ch.isspace() for ch in sequence):
                raise ValueError(f"sequence of {seq_id!r} must be non-empty and without whitespace")
            seen.add(seq_id)
            out.write(f">{seq_id}\n{sequence}\n")
    return len(seen)


def count_fasta_records(path: str | os.PathLike) -> int:
    with open(path, encoding="ascii") as fasta:
        return sum(1 for line in fasta if line.startswith(">"))


def run_mmseqs(arguments: list[str]) -> None:
    """Run `mmseqs ARGUMENTS`; a non-zero exit raises MmseqsError with the end of its output."""
    command = [find_mmseqs(), *arguments]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-2000:]
        raise MmseqsError(f"{' '.join(command)} exited with {result.returncode}:\n{output}")


def homology_pairs(
    fasta_path: str | os.PathLike,
    min_identity: float = 0.3,
    min_coverage: float = 0.8,
    threads: int | None = None,
    sensitivity: float = 7.5,
    max_seqs: int | None = None,
) -> Iterator[HomologyPair]:
    """Every unordered pair of distinct FASTA records that are homologous at the thresholds.

    `max_seqs` (targets per query that may pass the prefilter) defaults to the
    number of records, so no query's list is ever truncated. Each pair comes once,
    oriented `query_id < target_id`; where MMseqs2 reports both directions, the
    direction with the higher identity is kept (the two alignments can differ).
    """
    hits = threshold_search(fasta_path, fasta_path, min_identity, min_coverage, threads, sensitivity, max_seqs)
    return iter(sorted(best_hit_per_pair(hits).values()))


def homologs_between(
    query_fasta: str | os.PathLike,
    target_fasta: str | os.PathLike,
    min_identity: float = 0.3,
    min_coverage: float = 0.8,
    threads: int | None = None,
) -> set[str]:
    """The query ids with at least one target homologous at the thresholds (the same search as
    `homology_pairs`, one set against another)."""
    return {hit.query_id for hit in threshold_search(query_fasta, target_fasta, min_identity, min_coverage, threads)}


def threshold_search(
    query_fasta: str | os.PathLike,
    target_fasta: str | os.PathLike,
    min_identity: float,
    min_coverage: float,
    threads: int | None = None,
    sensitivity: float = 7.5,
    max_seqs: int | None = None,
) -> list[HomologyPair]:
    """Every (query, target) alignment at or above `min_identity` over `min_coverage` of both."""
    with tempfile.TemporaryDirectory(prefix="lifeqa-mmseqs-") as work:
        hits = Path(work, "hits.tsv")
        run_mmseqs([
            "easy-search", str(query_fasta), str(target_fasta), str(hits), str(Path(work, "tmp")),
            # Identity = identical residues / alignment columns (MMseqs2's default
            # --seq-id-mode 0). With both coverages >= 0.8 the alignment spans most
            # of both sequences, so this is close to a global identity, and never
            # lower than identity over the shorter sequence: the stricter edge set.
            "--min-seq-id", str(min_identity), "--seq-id-mode", "0",
            # --cov-mode 0: the aligned residues cover at least -c of the query AND
            # of the target, so a shared domain in two otherwise unrelated proteins
            # is no edge (the easy-cluster default, notes/splits.md §2).
            "-c", str(min_coverage), "--cov-mode", "0",
            # Exact identity and coverage need the full alignment (mode 3).
            "--alignment-mode", "3",
            # -s 7.5 is MMseqs2's "sensitive" setting: the k-mer prefilter must let
            # through pairs near 30% identity, which the default 5.7 starts to miss.
            "-s", str(sensitivity),
            # Targets per query the prefilter lets through to alignment. The default
            # (300) would silently cap a family larger than that; as many as there
            # are targets can cap nothing.
            "--max-seqs", str(max_seqs or max(count_fasta_records(target_fasta), 1)),
            # Identity and coverage decide what an edge is; the E-value must not,
            # or short sequences above the thresholds would be dropped.
            "-e", "inf",
            "--format-output", PAIR_COLUMNS,
            "--threads", str(threads or available_cores()),
            "-v", "1",
        ])
        return list(read_pair_hits(hits))


def read_pair_hits(path: Path) -> Iterator[HomologyPair]:
    with open(path, encoding="ascii") as table:
        for line in table:
            query, target, identity, query_coverage, target_coverage = line.rstrip("\n").split("\t")
            yield HomologyPair(query, target, float(identity), float(query_coverage), float(target_coverage))


def best_hit_per_pair(hits: Iterable[HomologyPair]) -> dict[tuple[str, str], HomologyPair]:
    """Drop self-hits, orient each hit `query_id < target_id`, keep the best hit per pair."""
    best: dict[tuple[str, str], HomologyPair] = {}
    for hit in hits:
        if hit.query_id == hit.target_id:
            continue
        if hit.query_id > hit.target_id:
            hit = HomologyPair(hit.target_id, hit.query_id, hit.identity, hit.target_coverage, hit.query_coverage)
        key = (hit.query_id, hit.target_id)
        if key not in best or pair_strength(hit) > pair_strength(best[key]):
            best[key] = hit
    return best


def pair_strength(hit: HomologyPair) -> tuple[float, float]:
    return hit.identity, min(hit.query_coverage, hit.target_coverage)


def nearest_hits(
    query_fasta: str | os.PathLike,
    target_fasta: str | os.PathLike,
    threads: int | None = None,
) -> dict[str, tuple[str, float]]:
    """{query id: (its top-1 target id, identity)} for every query with any hit at all.

    RAPM's parameters: `--max-accept 1` stops at the first accepted alignment (the
    best-ranked prefilter candidate), `-e 1e5` accepts practically anything, and
    there is no identity or coverage floor, so a test sequence's nearest training
    sequence is found however far it is. Sensitivity stays at MMseqs2's default, as
    RAPM runs it. `--alignment-mode 3` only makes the reported identity exact.
    """
    with tempfile.TemporaryDirectory(prefix="lifeqa-mmseqs-") as work:
        hits = Path(work, "hits.tsv")
        run_mmseqs([
            "easy-search", str(query_fasta), str(target_fasta), str(hits), str(Path(work, "tmp")),
            "--max-accept", "1", "-e", "1e5", "--alignment-mode", "3",
            "--format-output", HIT_COLUMNS,
            "--threads", str(threads or available_cores()),
            "-v", "1",
        ])
        return read_top_hits(hits)


def read_top_hits(path: Path) -> dict[str, tuple[str, float]]:
    """The first line of each query (MMseqs2 writes a query's hits best first)."""
    top: dict[str, tuple[str, float]] = {}
    with open(path, encoding="ascii") as table:
        for line in table:
            query, target, identity = line.rstrip("\n").split("\t")
            top.setdefault(query, (target, float(identity)))
    return top

"""Protein homology with the MMseqs2 binary: the edges of a leakage-free split, and the leakage report.

Two searches, both by the real `mmseqs` executable (Debian/Ubuntu package `mmseqs2`):

- `homology_pairs`: all-vs-all search of one FASTA against itself. Each pair of
  sequences with at least `min_identity` identity over an alignment covering at
  least `min_coverage` of *both* sequences is an edge that must not cross splits.
  `easy-search` finds them through its k-mer prefilter; sequences shorter than
  SHORT_SEQUENCE, where that prefilter misses homologs, are also aligned with all
  their possible partners directly. (`homologs_between`: the same, one set
  against another.)
- `nearest_hits`: each query's top-1 hit in a target set with no identity floor,
  as RAPM measures answer leakage (IDEA-XL/RAPM `mmseq_utils.align_and_analyze`),
  so lifeqa's leakage report can be set beside RAPM's published rates.

Every run works in a `tempfile.TemporaryDirectory` (MMseqs2 writes databases and
a tmp folder), removed when the search returns.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

INSTALL_COMMAND = "apt-get install -y mmseqs2"

# Below this length (residues) the k-mer prefilter, even at -s 7.5, misses homologs:
# of the pairs it missed among 2,000 benchmark sequences (benchmarks/
# bench_homology_split.py), all above 0.32 identity had a sequence of 20-95 residues
# (up to 0.53 identity). Such queries are aligned with their possible partners directly.
SHORT_SEQUENCE = 100
NO_KMERS = "No k-mer could be extracted"

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
    query_fasta, target_fasta = Path(query_fasta), Path(target_fasta)
    with tempfile.TemporaryDirectory(prefix="lifeqa-mmseqs-") as work:
        found = prefiltered_search(query_fasta, target_fasta, Path(work), min_identity, min_coverage, threads,
                                   sensitivity, max_seqs)
        found += align_short_queries(query_fasta, target_fasta, Path(work, "short_queries"), min_identity,
                                     min_coverage, threads)
        if query_fasta.resolve() != target_fasta.resolve():  # a short target is missed as easily as a short query
            mirrored = align_short_queries(target_fasta, query_fasta, Path(work, "short_targets"), min_identity,
                                           min_coverage, threads)
            found += [swapped(hit) for hit in mirrored]
        return found


def prefiltered_search(query_fasta: Path, target_fasta: Path, work: Path, min_identity: float,
                       min_coverage: float, threads: int | None, sensitivity: float,
                       max_seqs: int | None) -> list[HomologyPair]:
    """`mmseqs easy-search` at the thresholds: k-mer prefilter, then alignment."""
    hits = work / "hits.tsv"
    try:
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
    except MmseqsError as error:
        # MMseqs2 stops when every target k-mer is masked as low complexity or the
        # targets are too short for one: then the prefilter has nothing to match.
        if NO_KMERS not in str(error):
            raise
        return []
    return list(read_pair_hits(hits))


def swapped(hit: HomologyPair) -> HomologyPair:
    return HomologyPair(hit.target_id, hit.query_id, hit.identity, hit.target_coverage, hit.query_coverage)


def align_short_queries(query_fasta: Path, target_fasta: Path, work: Path, min_identity: float,
                        min_coverage: float, threads: int | None) -> list[HomologyPair]:
    """Hits of the queries shorter than SHORT_SEQUENCE, each aligned with every target
    that could reach the thresholds with it, the k-mer prefilter skipped.

    The prefilter is replaced by the MMseqs2 user guide's "fake prefilter" (GraphPart
    uses it too): the target database's own index, read as a prefilter result, hands
    every target to every query. Cheap, because few sequences are short and a short
    query has only short partners (`longest_partner`)."""
    limit = longest_partner(SHORT_SEQUENCE - 1, min_identity, min_coverage)
    queries = [(i, s) for i, s in read_fasta(query_fasta) if len(s) < SHORT_SEQUENCE]
    targets = [(i, s) for i, s in read_fasta(target_fasta) if len(s) <= limit]
    if not queries or not targets:
        return []
    work.mkdir()
    hits = work / "hits.tsv"
    query_db, target_db, everything, aligned = (work / name for name in ("short_db", "partner_db", "all", "aligned"))
    for records, db in ((queries, query_db), (targets, target_db)):
        write_fasta(records, db.with_suffix(".fasta"))
        run_mmseqs(["createdb", str(db.with_suffix(".fasta")), str(db), "-v", "1"])
    write_fake_prefilter(query_db, target_db, everything)
    run_mmseqs(["align", str(query_db), str(target_db), str(everything), str(aligned),
                # the same thresholds and definitions as the easy-search above
                "--min-seq-id", str(min_identity), "--seq-id-mode", "0", "-c", str(min_coverage), "--cov-mode", "0",
                "--alignment-mode", "3", "-e", "inf", "--threads", str(threads or available_cores()), "-v", "1"])
    run_mmseqs(["convertalis", str(query_db), str(target_db), str(aligned), str(hits),
                "--format-output", PAIR_COLUMNS, "-v", "1"])
    return list(read_pair_hits(hits))


def longest_partner(length: int, min_identity: float, min_coverage: float) -> float:
    """The longest sequence that can be homologous at the thresholds with one of `length`.

    Identical residues are at most `length`, so an alignment with identity >= i spans
    at most length / i columns; covering >= c of the partner then bounds the partner
    at length / (i * c) (417 residues for a 99-residue query at 0.3 and 0.8)."""
    bound = min_identity * min_coverage
    return length / bound if bound > 0 else math.inf


def write_fake_prefilter(query_db: Path, target_db: Path, result: Path) -> None:
    target_index = target_db.with_name(target_db.name + ".index")
    shutil.copy(target_index, result)
    size = target_index.stat().st_size
    query_index = query_db.with_name(query_db.name + ".index")
    query_keys = [line.split("\t", 1)[0] for line in query_index.read_text().splitlines()]
    result.with_name(result.name + ".index").write_text("".join(f"{key}\t0\t{size}\n" for key in query_keys))
    result.with_name(result.name + ".dbtype").write_bytes(bytes([7, 0, 0, 0]))  # 7: a prefilter result


def read_fasta(path: Path) -> Iterator[tuple[str, str]]:
    """(id, sequence) records; the id is the header's first word, as MMseqs2 reads it."""
    seq_id, lines = None, []
    with open(path, encoding="ascii") as fasta:
        for line in fasta:
            if line.startswith(">"):
                if seq_id is not None:
                    yield seq_id, "".join(lines)
                seq_id, lines = line[1:].split(maxsplit=1)[0], []
            else:
                lines.append(line.strip())
    if seq_id is not None:
        yield seq_id, "".join(lines)


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
            hit = swapped(hit)
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

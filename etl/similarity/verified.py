"""A homology partition whose guarantee is checked by a second, more sensitive search.

The all-against-all search is the expensive part of a homology split, and MMseqs2's
prefilter grows steeply with sensitivity (2,000 benchmark sequences: -s 4 11 s, 5.7 17 s,
7.5 172 s; 10,000: -s 4 33 s, 5.7 429 s). At -s 4 it misses pairs near the threshold
(274 of 6,431 at 2,000, of which 4 crossed splits). But only pairs in *different* splits
can leak: pairs inside one split are harmless, and after a first partition most homologs
already share a component. So:

1. search all against all at FIRST_PASS_SENSITIVITY and partition on those edges;
2. search again at VERIFY_SENSITIVITY, but only between splits (validation and test
   against train, validation against test): about 17% of the pairs at 80/10/10;
3. a pair found there joins two splits: add it to the edges and partition again; then
   verify the entities whose split changed against everything in other splits, and so
   on until a search finds no pair across splits.

The result has the guarantee of the sensitive search over every pair that could leak,
at the cost of the fast one plus a fraction of the sensitive one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from etl.similarity.mmseqs import HomologyPair, best_hit_per_pair, read_fasta, threshold_search, write_fasta
from etl.similarity.partition import TRAIN, PartitionResult, partition

FIRST_PASS_SENSITIVITY = 4.0
VERIFY_SENSITIVITY = 7.5


def verified_partition(
    fasta_path: str | os.PathLike,
    weights: Mapping[str, float],
    *,
    min_identity: float,
    min_coverage: float,
    threads: int | None = None,
    **partition_options,
) -> PartitionResult:
    """`partition` over the homology edges of `fasta_path` (ids = FASTA names = keys of `weights`),
    its guarantee verified between splits at VERIFY_SENSITIVITY. `partition_options` go to
    `etl.similarity.partition.partition` (together, ratios, salt, pinned, never_train). The
    report gains `search`: sensitivities, edges per pass, verification rounds."""
    fasta_path = Path(fasta_path)
    search = {"first_pass_sensitivity": FIRST_PASS_SENSITIVITY, "verify_sensitivity": VERIFY_SENSITIVITY}
    edges = best_hit_per_pair(threshold_search(fasta_path, fasta_path, min_identity, min_coverage, threads,
                                               FIRST_PASS_SENSITIVITY))
    search["first_pass_edges"] = len(edges)
    result = partition(weights, edges.values(), **partition_options)
    rounds, added = 0, 0
    changed: set[str] | None = None  # None: nothing verified yet, check every split against the others
    with tempfile.TemporaryDirectory(prefix="lifeqa-verify-") as work:
        while True:
            rounds += 1
            crossing = crossing_pairs(fasta_path, result.assignment, changed, Path(work, str(rounds)),
                                      min_identity, min_coverage, threads)
            crossing = {pair: hit for pair, hit in crossing.items() if pair not in edges}
            if not crossing:
                break
            edges.update(crossing)
            added += len(crossing)
            before = result.assignment
            result = partition(weights, edges.values(), **partition_options)
            changed = {e for e, split in result.assignment.items() if before.get(e) != split}
            if not changed:  # the new edges fell inside splits as they were: nothing left to check
                break
    search |= {"verification_rounds": rounds, "edges_added_by_verification": added, "edges": len(edges)}
    return PartitionResult(result.assignment, result.removed, result.report | {"search": search})


def crossing_pairs(fasta_path: Path, assignment: Mapping[str, str], changed: set[str] | None, work: Path,
                   min_identity: float, min_coverage: float,
                   threads: int | None) -> dict[tuple[str, str], HomologyPair]:
    """Homologous pairs at VERIFY_SENSITIVITY whose ends are in different splits. With `changed`
    None, every held-out split is searched against the splits before it; otherwise the
    `changed` entities against every assigned entity."""
    work.mkdir(parents=True)
    if changed is None:
        order = [TRAIN, *sorted({s for s in assignment.values() if s != TRAIN})]
        searches = [({e for e, s in assignment.items() if s == split},
                     {e for e, s in assignment.items() if s in order[:i]}) for i, split in enumerate(order) if i]
    else:
        searches = [(changed & assignment.keys(), set(assignment))]
    found: dict[tuple[str, str], HomologyPair] = {}
    for i, (queries, targets) in enumerate(searches):
        if not queries or not targets:
            continue
        query_fasta, target_fasta = work / f"queries-{i}.fasta", work / f"targets-{i}.fasta"
        write_subset(fasta_path, queries, query_fasta)
        write_subset(fasta_path, targets, target_fasta)
        hits = threshold_search(query_fasta, target_fasta, min_identity, min_coverage, threads, VERIFY_SENSITIVITY)
        for pair, hit in best_hit_per_pair(hits).items():
            if assignment[pair[0]] != assignment[pair[1]]:
                found[pair] = hit
    return found


def write_subset(fasta_path: Path, ids: Iterable[str], out: Path) -> int:
    """The records of `fasta_path` named in `ids`, in file order, streamed."""
    wanted = set(ids)
    return write_fasta(((i, s) for i, s in read_fasta(fasta_path) if i in wanted), out)

"""GraphPart against lifeqa's homology split, on the same sequences, in one run.

    python benchmarks/bench_homology_split.py --sizes 2000,10000 --threshold 0.3

Sequences: the distinct real sequences of the UniProt sample (the flat file --data,
239 of its 247 entries), then synthetic homologous families grown from them up to each size:
each new member copies a random member of its family (the real root included) with
10-60% of its residues substituted at random (seeded). Synthetic ids read
`synthetic-NNNNNN-of-ROOT`.

Methods:
- GraphPart 1.0.2 (PyPI `graph-part`) in `mmseqs2` mode, as its CLI runs it:
  `graphpart mmseqs2 -th T -te 0.1 -va 0.1 --denominator shortest`. It writes ./temp
  in its working directory, so it runs in a directory of its own; the denominator
  is passed explicitly (notes/splits.md §1). If it gives up (its removal emptied a
  split), it runs again with `--no-moving`, its README's remedy, and both rows show.
- lifeqa: `etl.split.split_by_homology`, what a build runs (identity >= T over >= 80% of
  both sequences; a fast all-against-all search, a partition, then a sensitive search
  between splits until none finds a pair across them: etl/similarity/verified.py), 80/10/10.

Leakage, the same measurement for both: every sequence aligned with every other by
MMseqs2 `align` directly (no k-mer prefilter, so it misses nothing either method's
search could miss), then the pairs whose two kept sequences landed in different
splits, counted under each method's own definition of "homologous". Above
--all-pairs-up-to sequences only the pairs that some method put in different splits are
aligned (each once, the smaller id as query): the same count of leaks, without the N^2
pairs inside splits. GraphPart aligns all N^2 pairs itself; --graphpart-up-to skips it
above a size where that would take hours on the machine at hand.
- lifeqa's: identity over the alignment >= T and coverage >= 80% of both sequences;
- GraphPart's: identical residues over the shorter sequence > T, any coverage.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from etl.parse.uniprot import parse_entries
from etl.similarity.mmseqs import write_fasta
from etl.split import SplitPolicy, split_by_homology

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "uniprot" / "uniprotkb_sample.dat"
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
COVERAGE = 0.8
GRAPHPART_SPLITS = {0: "train", 1: "test", 2: "validation"}  # cluster ids of its train-val-test mode
MEASURED_COLUMNS = "query,target,nident,alnlen,qstart,qend,qlen,tstart,tend,tlen"


# ---------------------------------------------------------------- sequences


def real_sequences(flat_file: Path) -> dict[str, str]:
    """One accession (the smallest) per distinct sequence of a UniProt flat file."""
    by_sequence: dict[str, str] = {}
    with open(flat_file, "rb") as stream:
        for _, accession, row in parse_entries(stream, "flat"):
            if isinstance(row, dict):
                by_sequence[row["sequence"]] = min(accession, by_sequence.get(row["sequence"], accession))
    return {accession: sequence for sequence, accession in sorted(by_sequence.items(), key=lambda kv: kv[1])}


def mutate(sequence: str, rate: float, rng: random.Random) -> str:
    """Each residue replaced, with probability `rate`, by a different random amino acid."""
    return "".join(rng.choice(AMINO_ACIDS.replace(r, "")) if rng.random() < rate else r for r in sequence)


def benchmark_sequences(real: dict[str, str], size: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    roots = sorted(real)[:size]
    families = {root: [real[root]] for root in roots}
    records = [(root, real[root]) for root in roots]
    for k in range(size - len(roots)):
        root = roots[k % len(roots)]
        member = mutate(rng.choice(families[root]), rng.uniform(0.1, 0.6), rng)
        families[root].append(member)
        records.append((f"synthetic-{k:06d}-of-{root}", member))
    return records


# ---------------------------------------------------------------- the two methods


def run_graphpart(fasta: Path, threshold: float, work: Path, *options: str) -> dict[str, str] | None:
    """GraphPart's CLI in `work`: {id: split} for the sequences it kept, or None if it
    gave up (its removal emptied a split, "Impossible to generate the desired 3 partitions")."""
    venv_bin = Path(sys.executable).parent
    graphpart = venv_bin / "graphpart"
    if not graphpart.exists():
        raise SystemExit(f"{graphpart} not found: `{venv_bin / 'pip'} install graph-part`")
    # mmseqs_fake_prefilter.sh, which its mmseqs2 mode calls by name, sits next to it.
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    command = [str(graphpart), "mmseqs2", "-ff", str(fasta), "-th", str(threshold), "-te", "0.1", "-va", "0.1",
               "--denominator", "shortest", "-of", "graphpart.csv", *options]
    log_path = work / "graphpart.log"
    with open(log_path, "w") as log:
        finished = subprocess.run(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    log_text = log_path.read_text()
    if finished.returncode != 0:
        if "Impossible to generate the desired" in log_text:
            return None
        raise RuntimeError(f"{' '.join(command)} failed:\n{log_text[-3000:]}")
    # GraphPart does not check its mmseqs calls: an empty graph would pass silently.
    edges_line = next(line for line in log_text.splitlines() if "nr. of edges" in line)
    print(f"    GraphPart {' '.join(options)}".rstrip() + f": {edges_line.strip()}", flush=True)
    with open(work / "graphpart.csv", newline="") as table:
        return {row["AC"]: GRAPHPART_SPLITS[int(float(row["cluster"]))] for row in csv.DictReader(table)}


def run_lifeqa(fasta: Path, ids: list[str], threshold: float) -> dict[str, str]:
    policy = SplitPolicy(strategy="homology", min_identity=threshold, min_coverage=COVERAGE)
    result = split_by_homology(dict.fromkeys(ids, 1), fasta, (), policy)
    print(f"    lifeqa: {result.report['search']}", flush=True)
    return result.assignment


# ---------------------------------------------------------------- the measurement


def all_against_all(fasta: Path, work: Path, min_identity_shorter: float, threads: int,
                    only_across: list[dict[str, str]] | None = None) -> list[dict]:
    """Every pair with identity over the shorter sequence >= the floor, aligned without prefilter.
    With `only_across` (assignments), only the pairs some assignment puts in two splits."""
    def mmseqs(*args: str) -> None:
        subprocess.run(["mmseqs", *args, "-v", "1"], cwd=work, check=True)

    mmseqs("createdb", str(fasta), "db")
    if only_across is None:
        # The MMseqs2 user guide's fake prefilter: the database's own index, read as a
        # prefilter result, hands every target to every query.
        index = (work / "db.index").read_text()
        shutil.copy(work / "db.index", work / "pref")
        (work / "pref.index").write_text("".join(f"{line.split()[0]}\t0\t{len(index)}\n"
                                                 for line in index.splitlines()))
        (work / "pref.dbtype").write_bytes(bytes([7, 0, 0, 0]))
    else:
        write_cross_split_prefilter(work, only_across)
    # -a keeps the backtrace, without which MMseqs2 14 reports nident as 0.
    mmseqs("align", "db", "db", "pref", "aln", "-a", "--alignment-mode", "3", "-e", "inf", "--seq-id-mode", "1",
           "--min-seq-id", str(min_identity_shorter), "--threads", str(threads))
    mmseqs("convertalis", "db", "db", "aln", "aln.tsv", "--format-output", MEASURED_COLUMNS)
    hits = []
    with open(work / "aln.tsv") as table:
        for line in table:
            values = line.split("\t")
            query, target = values[:2]
            nident, alnlen, qstart, qend, qlen, tstart, tend, tlen = map(int, values[2:])
            if query != target:
                hits.append({"pair": tuple(sorted((query, target))), "identity": nident / alnlen,
                             "query_coverage": (qend - qstart + 1) / qlen,
                             "target_coverage": (tend - tstart + 1) / tlen,
                             "identity_shorter": nident / min(qlen, tlen)})
    return hits


def write_cross_split_prefilter(work: Path, assignments: list[dict[str, str]]) -> None:
    """A prefilter result (MMseqs2 DB of type 7: per query, lines `target\\tscore\\tdiagonal`, then
    a NUL) listing for each query the later-id targets that some assignment puts in another
    split (a sequence one method dropped counts as in no split, so its pairs are not leaks)."""
    key_of = {line.split("\t")[1]: int(line.split("\t")[0]) for line in (work / "db.lookup").read_text().splitlines()}
    members = [{split: {e for e, s in a.items() if s == split} for split in set(a.values())} for a in assignments]
    offset = 0
    with open(work / "pref", "wb") as data, open(work / "pref.index", "w") as index:
        for query in sorted(key_of, key=key_of.get):
            across = set().union(*(set(a) - m[a[query]] for a, m in zip(assignments, members) if query in a))
            targets = sorted((key_of[t] for t in across if t > query))
            block = "".join(f"{t}\t0\t0\n" for t in targets).encode() + b"\0"
            data.write(block)
            index.write(f"{key_of[query]}\t{offset}\t{len(block)}\n")
            offset += len(block)
    (work / "pref.dbtype").write_bytes(bytes([7, 0, 0, 0]))


def homologous_by_lifeqa(hit: dict, threshold: float) -> bool:
    return hit["identity"] >= threshold and min(hit["query_coverage"], hit["target_coverage"]) >= COVERAGE


def homologous_by_graphpart(hit: dict, threshold: float) -> bool:
    return hit["identity_shorter"] > threshold


def crossing_hits(assignment: dict[str, str], hits: list[dict]) -> list[dict]:
    """Alignments between two kept sequences that landed in different splits."""
    return [hit for hit in hits if all(end in assignment for end in hit["pair"])
            and assignment[hit["pair"][0]] != assignment[hit["pair"][1]]]


def leakage(assignment: dict[str, str], hits: list[dict], threshold: float) -> dict:
    """Cross-split pairs (either alignment direction qualifying) under each definition, and
    the highest cross-split identity: at >= COVERAGE of both, and over the shorter sequence."""
    crossing = crossing_hits(assignment, hits)
    covered = [h for h in crossing if min(h["query_coverage"], h["target_coverage"]) >= COVERAGE]
    return {"leaks_lifeqa": len({h["pair"] for h in crossing if homologous_by_lifeqa(h, threshold)}),
            "leaks_graphpart": len({h["pair"] for h in crossing if homologous_by_graphpart(h, threshold)}),
            "max_identity_covered": max((h["identity"] for h in covered), default=0.0),
            "max_identity_shorter": max((h["identity_shorter"] for h in crossing), default=0.0)}


def shares(assignment: dict[str, str]) -> str:
    counts = {s: sum(1 for x in assignment.values() if x == s) for s in ("train", "validation", "test")}
    total = max(sum(counts.values()), 1)
    return "/".join(f"{100 * n / total:.1f}" for n in counts.values())


# ---------------------------------------------------------------- main


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def benchmark(size: int, real: dict[str, str], threshold: float, threads: int, seed: int, graphpart_up_to: int,
              all_pairs_up_to: int) -> list[dict]:
    records = benchmark_sequences(real, size, seed)
    ids = [seq_id for seq_id, _ in records]
    print(f"{size} sequences ({min(size, len(real))} real, {size - min(size, len(real))} synthetic)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-homology-") as tmp:
        tmp = Path(tmp)
        fasta = tmp / "sequences.fasta"
        write_fasta(records, fasta)
        graphpart_dir, measure_dir = tmp / "graphpart", tmp / "measure"
        graphpart_dir.mkdir()
        measure_dir.mkdir()
        results = {}
        if size <= graphpart_up_to:
            results.update(graphpart_results(fasta, threshold, graphpart_dir))
        else:
            print(f"    GraphPart skipped above --graphpart-up-to {graphpart_up_to}", flush=True)
        results["lifeqa split_by_homology"] = timed(run_lifeqa, fasta, ids, threshold)
        # identity over the shorter sequence >= T*COVERAGE holds for every pair either definition counts
        only_across = None if size <= all_pairs_up_to else [a for a, _ in results.values()]
        hits, measure_seconds = timed(all_against_all, fasta, measure_dir, threshold * COVERAGE, threads, only_across)
    scope = "all pairs" if only_across is None else "cross-split pairs only"
    print(f"    measurement ({scope}): {len({h['pair'] for h in hits})} aligned pairs kept in {measure_seconds:.0f} s",
          flush=True)
    return [{"size": size, "method": method, "seconds": seconds, "kept": len(assignment),
             **leakage(assignment, hits, threshold),
             "pairs_lifeqa": (len({h["pair"] for h in hits if homologous_by_lifeqa(h, threshold)})
                              if only_across is None else None),
             "pairs_graphpart": (len({h["pair"] for h in hits if homologous_by_graphpart(h, threshold)})
                                 if only_across is None else None),
             "shares": shares(assignment)}
            for method, (assignment, seconds) in results.items()]


def graphpart_results(fasta: Path, threshold: float, work: Path) -> dict[str, tuple[dict, float]]:
    default_run, seconds = timed(run_graphpart, fasta, threshold, work)
    if default_run is not None:
        return {"GraphPart mmseqs2": (default_run, seconds)}
    # GraphPart's README FAQ: moving sequences between partitions can empty one; --no-moving is its remedy.
    print("    GraphPart (default) gave up: its removal emptied a split; rerun with --no-moving", flush=True)
    shutil.rmtree(work)
    work.mkdir()
    return {"GraphPart mmseqs2 (default: failed)": ({}, seconds),
            "GraphPart mmseqs2 --no-moving": timed(run_graphpart, fasta, threshold, work, "--no-moving")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,10000", help="comma-separated numbers of sequences")
    parser.add_argument("--threshold", type=float, default=0.3, help="identity threshold of both methods")
    parser.add_argument("--threads", type=int, default=2, help="threads for lifeqa's and the measuring search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="UniProt flat file of real sequences")
    parser.add_argument("--graphpart-up-to", type=int, default=10**9, help="run GraphPart only up to this size")
    parser.add_argument("--all-pairs-up-to", type=int, default=10**9,
                        help="above this size, measure only the pairs some method put in two splits")
    args = parser.parse_args()

    real = real_sequences(args.data)
    rows = [row for size in map(int, args.sizes.split(","))
            for row in benchmark(size, real, args.threshold, args.threads, args.seed, args.graphpart_up_to,
                                 args.all_pairs_up_to)]
    t = args.threshold
    print(f"\n| sequences | method | wall s | kept | cross-split pairs, lifeqa's definition (id >= {t}, cov >= "
          f"{COVERAGE} both) | max cross-split id at cov >= {COVERAGE} | cross-split pairs, GraphPart's definition "
          f"(id/shorter > {t}) | max cross-split id/shorter | train/val/test % |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        kept = f"{r['kept']:,} ({100 * r['kept'] / r['size']:.1f}%)"
        of_lifeqa = f" of {r['pairs_lifeqa']:,}" if r["pairs_lifeqa"] is not None else ""
        of_graphpart = f" of {r['pairs_graphpart']:,}" if r["pairs_graphpart"] is not None else ""
        print(f"| {r['size']:,} | {r['method']} | {r['seconds']:.0f} | {kept}"
              f" | {r['leaks_lifeqa']}{of_lifeqa} | {r['max_identity_covered']:.3f}"
              f" | {r['leaks_graphpart']}{of_graphpart} | {r['max_identity_shorter']:.3f}"
              f" | {r['shares']} |")

if __name__ == "__main__":
    main()

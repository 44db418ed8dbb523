"""PubChemQA at PubChem scale, in one run: the whole `lifeqa build pubchemqa` command on the input
of benchmarks/make_pubchem_scale.py, and normalization molecules/s against the ChEMBL pipeline loop.

    python benchmarks/make_pubchem_scale.py --out /tmp/pubchem_scale --gzip
    python benchmarks/bench_pubchemqa_scale.py --input /tmp/pubchem_scale [--master 'local[2]']

The build runs as a subprocess, start-up included: its wall time, the peak RSS of its processes
(sampled from /proc: the lifeqa Python driver, the JVM — Spark's driver and, under a local
master, its executor — and the largest Python worker; and the largest of them by
getrusage(RUSAGE_CHILDREN)), its stages' seconds and counts from the release's manifest.json,
and the release steps' seconds from its progress lines. The counts are checked against the
input: every CID-SMILES row of an undescribed CID is rejected as no_description_for_cid, every
described one is normalized, and each either released or rejected with a reason.

The build's normalize rate is the described molecules normalized over the normalize stage's
seconds. The reference loop is bench_normalize_molecules.py's (standardize_mol + get_parent_mol +
MolToSmiles in one process), over the distinct structures of the described molecules, each once:
a molecule's cost does not depend on how many CIDs carry it, and the generator copies every real
compound equally often (the output says how evenly), so the loop's rate is the rate over all
described molecules.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bench_normalize_molecules import reference_loop, same_work_loop

from etl.pipeline.streams import open_content
from etl.release.manifest import read_manifest

RSS_SAMPLE_SECONDS = 0.5
# A release step's progress line: 'writing the release: 46.6 s' or '... : 1:49' (see etl.pipeline.progress).
RELEASE_STEP_LINE = re.compile(r"^(?P<name>[a-z][a-z ]+): (?:(?P<s>\d+\.\d) s|(?P<clock>\d+(?::\d\d){1,2}))$")
STRUCTURE_FORMAT, DESCRIPTION_FORMAT = "cid_smiles", "pug_view_annotations"
LIFEQA_DRIVER, PYTHON_WORKER = "lifeqa driver (Python)", "largest Python worker"
JVM = "JVM (Spark driver + local executor)"


# ---------------------------------------------------------------- the build, measured


@dataclass
class PeakRss:
    """Highest VmHWM (kB) seen per kind of process in the build's process tree."""

    by_kind: dict[str, int] = field(default_factory=dict)
    tree_total_kb: int = 0  # the most the whole tree held at once (sum of VmRSS in one sample)

    def sample(self, root: int) -> None:
        total = 0
        for pid in process_tree(root):
            status = proc_status(pid)
            if status is None:
                continue  # the process ended between listing and reading
            kind = LIFEQA_DRIVER if pid == root else process_kind(pid)
            if kind is not None:
                self.by_kind[kind] = max(self.by_kind.get(kind, 0), status.get("VmHWM", 0))
            total += status.get("VmRSS", 0)
        self.tree_total_kb = max(self.tree_total_kb, total)


def process_tree(root: int) -> list[int]:
    """`root` and its descendants; children are listed per thread, and the JVM is started from any."""
    pids, pending = [], [root]
    while pending:
        pid = pending.pop()
        pids.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                pending += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return pids


def proc_status(pid: int) -> dict[str, int] | None:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    return {key: int(value.split()[0]) for key, _, value in (line.partition(":") for line in lines)
            if key in ("VmHWM", "VmRSS")}


def process_kind(pid: int) -> str | None:
    """JVM, Python worker, or None for the short-lived helpers (spark-submit's shell, getconf)."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    if name == "java":
        return JVM
    return PYTHON_WORKER if name.startswith("python") else None


@dataclass
class BuildRun:
    command: list[str]
    wall_seconds: float
    returncode: int
    output: str
    peak: PeakRss
    largest_child_kb: int


def run_build(command: list[str]) -> BuildRun:
    peak, done = PeakRss(), threading.Event()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def sample_until_done() -> None:
        while not done.wait(RSS_SAMPLE_SECONDS):
            peak.sample(process.pid)

    sampler = threading.Thread(target=sample_until_done, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    # ru_maxrss of RUSAGE_CHILDREN: the largest waited-for descendant (kB on Linux).
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return BuildRun(command, wall, process.returncode, output, peak, largest)


def release_steps(output: str) -> dict[str, float]:
    """Seconds of each release step (counting, writing, validating, ...) from the progress lines."""
    steps = {}
    for line in output.splitlines():
        match = RELEASE_STEP_LINE.match(line.strip())
        if match:
            steps[match["name"]] = float(match["s"]) if match["s"] else clock_seconds(match["clock"])
    return steps


def clock_seconds(text: str) -> float:
    seconds = 0
    for part in text.split(":"):
        seconds = seconds * 60 + int(part)
    return float(seconds)


# ---------------------------------------------------------------- the input


@dataclass(frozen=True)
class DescribedInput:
    cids: frozenset[int]
    annotations: int
    structure_rows: int
    smiles_copies: Counter  # SMILES -> how many described CIDs carry it
    first_seen: list[str]  # the distinct described SMILES in CID order


def inputs_of_format(manifest: dict, fmt: str) -> list[dict]:
    return [entry for entry in manifest["inputs"] if entry["format"] == fmt]


def read_described_input(manifest: dict) -> DescribedInput:
    """What the build's input files hold, read apart from the build: the CIDs the pages link, and
    the SMILES the CID-SMILES file gives each of them."""
    cids, annotations = set(), 0
    for entry in inputs_of_format(manifest, DESCRIPTION_FORMAT):
        for annotation in json.loads(Path(entry["path"]).read_bytes())["Annotations"]["Annotation"]:
            cids.update(annotation["LinkedRecords"]["CID"])
            annotations += 1
    copies, rows = Counter(), 0
    for entry in inputs_of_format(manifest, STRUCTURE_FORMAT):
        with open_content(entry["path"], entry["compressed"]) as stream:
            for line in stream:
                rows += 1
                cid, smiles = line.decode().rstrip("\n").split("\t")
                if int(cid) in cids:
                    copies[smiles] += 1
    return DescribedInput(frozenset(cids), annotations, rows, copies, list(copies))


# ---------------------------------------------------------------- the counts


def stage(manifest: dict, name: str) -> dict:
    return manifest["stages"][name]


def records_of_format(manifest: dict, fmt: str) -> int:
    return sum(entry["records"] for entry in inputs_of_format(manifest, fmt))


def molecules_normalized(manifest: dict) -> int:
    """Described structures the normalize stage worked on: the structure rows read less those the
    pair stage rejected because no description names their CID."""
    return (records_of_format(manifest, STRUCTURE_FORMAT)
            - stage(manifest, "pair")["rejected"].get("no_description_for_cid", 0))


def reconciliation(manifest: dict, described: DescribedInput) -> list[tuple[str, bool]]:
    counts, normalize, qa = manifest["counts"], stage(manifest, "normalize"), stage(manifest, "qa")
    undescribed = described.structure_rows - len(described.cids)
    released_structures = qa["records_out"] - counts["rows"]
    return [
        (f"records in = released + rejected ({counts['records_in']:,} = {counts['records_released']:,} + "
         f"{counts['records_rejected']:,})", manifest["reconciled"]
         and counts["records_in"] == counts["records_released"] + counts["records_rejected"]),
        (f"CID-SMILES rows read = rows in the file ({described.structure_rows:,})",
         records_of_format(manifest, STRUCTURE_FORMAT) == described.structure_rows),
        (f"descriptions read = annotations on the pages ({described.annotations:,})",
         records_of_format(manifest, DESCRIPTION_FORMAT) == described.annotations),
        (f"no_description_for_cid = undescribed CID-SMILES rows ({undescribed:,})",
         stage(manifest, "pair")["rejected"].get("no_description_for_cid", 0) == undescribed),
        (f"described molecules normalized = described CIDs ({len(described.cids):,})",
         molecules_normalized(manifest) == len(described.cids)
         and normalize["records_in"] == len(described.cids) + described.annotations),
        (f"released structures ({released_structures:,}) = described CIDs - normalize rejects "
         f"({len(described.cids):,} - {normalize['rejected_total']:,})",
         released_structures == len(described.cids) - normalize["rejected_total"]),
    ]


# ---------------------------------------------------------------- report


def stages_in_run_order(run: BuildRun, manifest: dict) -> list[tuple[str, dict]]:
    """The manifest's stages (kept sorted by name) in the order the build's progress lines gave them."""
    said = [line.split(":", 1)[0].strip() for line in run.output.splitlines()]
    return sorted(manifest["stages"].items(), key=lambda item: said.index(item[0]) if item[0] in said else len(said))


def print_stages(run: BuildRun, manifest: dict) -> None:
    print("| stage | in | out | rejected | seconds | share of wall |\n| --- | --- | --- | --- | --- | --- |")
    for name, entry in stages_in_run_order(run, manifest):
        print(f"| {name} | {entry['records_in']:,} | {entry['records_out']:,} | {entry['rejected_total']:,} | "
              f"{entry['seconds']:.1f} | {entry['seconds'] / run.wall_seconds:.0%} |")
    steps = release_steps(run.output)
    for name, seconds in steps.items():
        print(f"| ({name}) | | | | {seconds:.1f} | {seconds / run.wall_seconds:.0%} |")
    rest = run.wall_seconds - sum(e["seconds"] for e in manifest["stages"].values()) - sum(steps.values())
    print(f"| (the rest: start-up, input checksums, stages' own Spark set-up) | | | | {rest:.1f} | "
          f"{rest / run.wall_seconds:.0%} |")
    print(f"| **whole command** | | | | **{run.wall_seconds:.1f}** | |")


def print_memory(run: BuildRun) -> None:
    for kind, kb in sorted(run.peak.by_kind.items()):
        print(f"peak RSS, {kind}: {kb / 1024:,.0f} MB")
    print(f"peak RSS of the whole process tree at once: {run.peak.tree_total_kb / 1024:,.0f} MB; largest process "
          f"(getrusage RUSAGE_CHILDREN): {run.largest_child_kb / 1024:,.0f} MB")


def generator_command(directory: Path) -> str:
    """The make_pubchem_scale.py command its README names (the generator writes it there)."""
    match = re.search(r"`(benchmarks/make_pubchem_scale\.py[^`]*)`", (directory / "README.md").read_text())
    return f"python {' '.join(match.group(1).split())} --out {directory}" if match else "see its README.md"


@dataclass(frozen=True)
class Rates:
    normalized: int  # described molecules the build's normalize stage worked on
    stage_seconds: float
    loop_molecules: int
    loop_seconds: float
    same_work_seconds: float

    @property
    def stage(self) -> float:
        return self.normalized / self.stage_seconds

    @property
    def loop(self) -> float:
        return self.loop_molecules / self.loop_seconds


def measure_rates(manifest: dict, described: DescribedInput, loop_molecules: int | None) -> Rates:
    molecules = [(0, smiles) for smiles in described.first_seen[:loop_molecules]]
    return Rates(molecules_normalized(manifest), stage(manifest, "normalize")["seconds"], len(molecules),
                 reference_loop(molecules), same_work_loop(molecules))


def print_rates(rates: Rates, described: DescribedInput, master: str) -> None:
    copies = described.smiles_copies.values()
    print(f"build's normalize stage ({master}): {rates.normalized:,} described molecules in "
          f"{rates.stage_seconds:.1f} s = {rates.stage:,.1f} mol/s")
    print(f"reference loop (1 process, standardize_mol + get_parent_mol + MolToSmiles): {rates.loop:,.1f} mol/s over "
          f"{rates.loop_molecules:,} of the {len(described.smiles_copies):,} distinct described structures, each once "
          f"(each is carried by {min(copies)}-{max(copies)} of the {len(described.cids):,} described CIDs; "
          f"a molecule's cost does not depend on that)")
    print(f"same work in 1 process (MoleculeNormalizer loop): {rates.loop_molecules / rates.same_work_seconds:,.1f} "
          f"mol/s")
    print(f"ratio: {rates.stage / rates.loop:.2f}x the reference loop")


def print_results_row(args, run: BuildRun, manifest: dict, described: DescribedInput, rates: Rates) -> None:
    print(f"\nRESULTS.md row (python benchmarks/bench_pubchemqa_scale.py {shlex.join(sys.argv[1:])}; the build: "
          f"lifeqa build pubchemqa -i {args.input} --out OUT --force --master '{args.master}'; the input: "
          f"{generator_command(args.input)}):")
    print("| date | described CIDs | CID-SMILES rows | QA rows | build wall s | peak RSS MB (JVM / Python driver) | "
          "parse s | pair s | normalize s | normalize mol/s | loop mol/s | ratio | machine |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    peak_mb = {kind: kb / 1024 for kind, kb in run.peak.by_kind.items()}
    seconds = {name: stage(manifest, name)["seconds"] for name in ("parse", "pair", "normalize")}
    print(f"| {date.today()} | {len(described.cids):,} | {described.structure_rows:,} | {manifest['counts']['rows']:,} "
          f"| {run.wall_seconds:,.0f} | {peak_mb.get(JVM, 0):,.0f} / {peak_mb.get(LIFEQA_DRIVER, 0):,.0f} "
          f"| {seconds['parse']:,.0f} | {seconds['pair']:,.0f} | {seconds['normalize']:,.0f} | {rates.stage:,.1f} "
          f"| {rates.loop:,.1f} | {rates.stage / rates.loop:.2f}x | {args.master}, {args.machine} |")


def build_and_read_manifest(args) -> tuple[BuildRun, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-pubchemqa-") as scratch:
        out = args.out or Path(scratch) / "pubchemqa"
        command = [str(Path(sys.executable).parent / "lifeqa"), "build", "pubchemqa", "-i", str(args.input),
                   "--out", str(out), "--force", "--master", args.master]
        print(f"$ lifeqa build pubchemqa -i {args.input} --out {out} --force --master '{args.master}'", flush=True)
        run = run_build(command)
        if run.returncode != 0:
            print(run.output[-4000:])
            raise SystemExit(f"the build failed (exit {run.returncode})")
        return run, read_manifest(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, required=True, help="a directory make_pubchem_scale.py wrote")
    parser.add_argument("--out", type=Path, help="release directory (default: a temporary one, removed)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--loop-molecules", type=int,
                        help="the loop's molecules: the first N distinct described structures (default: all)")
    parser.add_argument("--machine", default="2 CPU cores", help="the machine, for the RESULTS.md row")
    args = parser.parse_args()

    run, manifest = build_and_read_manifest(args)
    described = read_described_input(manifest)
    rates = measure_rates(manifest, described, args.loop_molecules)
    print_stages(run, manifest)
    print_memory(run)
    checks = reconciliation(manifest, described)
    for text, passed in checks:
        print(f"{'ok  ' if passed else 'FAIL'} {text}")
    print_rates(rates, described, args.master)
    print_results_row(args, run, manifest, described, rates)
    if not all(passed for _, passed in checks):
        raise SystemExit("the counts do not reconcile")


if __name__ == "__main__":
    main()

"""UniProtQA at scale: the whole `lifeqa build` against the same-work loop, in one run.

    python benchmarks/make_uniprot_scale.py --entries 250000 --out /tmp/scale --gzip
    python benchmarks/bench_uniprotqa_scale.py --input /tmp/scale/synthetic_uniprot_250000.dat --master 'local[2]'

Runs, one after the other, `reference_uniprotqa_loop.py` (one process, no Spark) and
`lifeqa build uniprotqa --split-strategy hash` (start-up, quality gate, card and leakage
included) on the same file, each as a subprocess whose process tree is sampled for peak
memory; checks that both released the same number of QA rows and rejected the same
number of records (the same work), and prints the build's stage seconds and a row for
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pubchemqa_scale import JVM, LIFEQA_DRIVER, PYTHON_WORKER, release_steps, run_build  # noqa: E402

LOOP = Path(__file__).resolve().parent / "reference_uniprotqa_loop.py"


def megabytes(kb: int) -> str:
    return f"{kb / 1024:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, required=True, help="a UniProt flat file, plain or gzip")
    parser.add_argument("--master", default="local[2]", help="Spark master of the build (default local[2])")
    parser.add_argument("--work", type=Path, default=None, help="where the outputs go (default: a temporary directory)")
    parser.add_argument("--machine", default="2 CPU cores", help="machine description for the results row")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="lifeqa-bench-uniprot-"))
    loop = run_build([sys.executable, str(LOOP), str(args.input), "--out", str(work / "loop")])
    if loop.returncode:
        sys.exit(f"the loop failed:\n{loop.output[-3000:]}")
    loop_result = json.loads(loop.output.strip().splitlines()[-1])
    lifeqa = Path(sys.executable).with_name("lifeqa")
    build = run_build([str(lifeqa), "build", "uniprotqa", "-i", str(args.input), "--out", str(work / "release"),
                       "--force", "--master", args.master, "--split-strategy", "hash"])
    if build.returncode:
        sys.exit(f"the build failed:\n{build.output[-3000:]}")
    manifest = json.loads((work / "release" / "manifest.json").read_text())
    counts = manifest["counts"]
    same = (loop_result["rows"], loop_result["rejected"]) == (counts["rows"], counts["records_rejected"])
    print(f"loop:  {loop.wall_seconds:.1f} s, {loop_result['rows']:,} QA rows, {loop_result['rejected']:,} rejected, "
          f"{loop_result['seconds']}")
    print(f"build: {build.wall_seconds:.1f} s, {counts['rows']:,} QA rows, {counts['records_rejected']:,} rejected")
    print("build stages (s): " + ", ".join(f"{name} {stage['seconds']:.1f}" for name, stage in manifest["stages"].items()))
    print("release steps (s): " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in release_steps(build.output).items()))
    print(f"same work: {'yes' if same else 'NO'}")
    peaks = build.peak.by_kind
    entries = counts["records_in"]
    print(f"| {date.today()} | {args.input.name} | {entries:,} | {loop.wall_seconds:.1f} | {build.wall_seconds:.1f} | "
          f"{loop.wall_seconds / build.wall_seconds:.2f}x | {megabytes(peaks.get(LIFEQA_DRIVER, 0))} | "
          f"{megabytes(peaks.get(JVM, 0))} | {megabytes(peaks.get(PYTHON_WORKER, 0))} | "
          f"{megabytes(loop.peak.by_kind.get(LIFEQA_DRIVER, 0))} | {args.master} | {args.machine} |")
    if not same:
        sys.exit("the loop and the build did not do the same work")


if __name__ == "__main__":
    main()

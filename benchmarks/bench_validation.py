"""Validation's share of a build: the quality gate's time inside `lifeqa build uniprotqa`, on a large table.

    python benchmarks/bench_validation.py --entries 25000 --master 'local[2]'

Input (synthetic, labelled so): a UniProt flat file of `--entries` entries made by replicating
the real entries of the shared sample (`uniprotkb_sample.dat`, 247 entries) under new,
well-formed accessions (`Q0AAAA0`-style, never a real UniProt accession): each copy keeps its
sequence, CRC64 and annotation, so every stage does the work it does on real entries. The
build is the default one (homology split; identical sequences are one entity there).

Reported: the build's wall time (the CLI run, Spark start included), the gate's own time
(`manifest.json` `quality.seconds`: the suites over every shard, the results and Data Docs
written), their ratio (goal at most 15%), and `lifeqa validate` of the release on its own.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = Path(os.environ.get("LIFEQA_SHARED_DATA", REPO.parent / "shared" / "data")) / "uniprot" / "uniprotkb_sample.dat"
AC_LINES = re.compile(r"^AC   .*\n(?:AC   .*\n)*", re.M)


def synthetic_accessions():
    """Q<digit><3 alphanumerics><digit>: the UniProt format; the sample holds no accession in this range."""
    alnum = string.ascii_uppercase + string.digits
    for first, middle, last in itertools.product("0123456789", itertools.product(alnum, repeat=3), "0123456789"):
        yield f"Q{first}{''.join(middle)}{last}"


def write_synthetic_flat_file(path: Path, entries: int) -> int:
    """`entries` copies of the sample's entries, each under a new accession; returns the count written."""
    records = [r.strip("\n") + "\n//\n" for r in SAMPLE.read_text().split("\n//\n") if r.strip()]
    sample_accessions = set(re.findall(r"^AC   (\w+)", SAMPLE.read_text(), re.M))
    accessions = (a for a in synthetic_accessions() if a not in sample_accessions)
    with path.open("w") as out:
        for _, record, accession in zip(range(entries), itertools.cycle(records), accessions):
            out.write(AC_LINES.sub(f"AC   {accession};\n", record, count=1))
    return entries


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=25_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--work", type=Path, default=None, help="keep the input and release here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="lifeqa-bench-validation-"))
    work.mkdir(parents=True, exist_ok=True)
    flat, release = work / f"synthetic-{args.entries}.dat", work / "uniprotqa"
    if not flat.exists():
        write_synthetic_flat_file(flat, args.entries)
    lifeqa = [sys.executable, "-m", "etl.cli"]
    build_s = timed([*lifeqa, "build", "uniprotqa", "--input", str(flat), "--out", str(release), "--force",
                     "--master", args.master])
    manifest = json.loads((release / "manifest.json").read_text())
    gate_s = manifest["quality"]["seconds"]
    validate_s = timed([*lifeqa, "validate", str(release)])
    print(f"entries (synthetic): {args.entries:,}; QA rows: {manifest['counts']['rows']:,}; "
          f"reject rows: {manifest['counts']['records_rejected']:,}")
    print(f"build {build_s:.1f}s; quality gate inside it {gate_s:.1f}s = {gate_s / build_s:.1%} of the build "
          f"(goal <= 15%); lifeqa validate alone {validate_s:.1f}s")
    print(f"| {time.strftime('%Y-%m-%d')} | {args.entries:,} | {manifest['counts']['rows']:,} | {build_s:.1f} | "
          f"{gate_s:.1f} | {gate_s / build_s:.1%} | {validate_s:.1f} | {args.master}, {os.cpu_count()} CPU cores |")


if __name__ == "__main__":
    main()

"""Molecules per second of PubChemQA's normalization stage under Spark (local[2]) against a
plain single-process loop of the ChEMBL structure pipeline, on the same ChEBI-20 molecules.

    python benchmarks/bench_normalize_molecules.py [--molecules N] [--master local[2]]

The loop is the reference tool as people run it: standardize_mol + get_parent_mol +
MolToSmiles per molecule. The Spark side is the build's own stage: `NormalizeStructure`
(the full MoleculePolicy: standardize, parent, re-parse, GIN and element checks, InChIKey)
run by `apply_step` over two partitions, the normalizer built once per task. Spark is
warmed up on a few molecules first, so that the timed run measures throughput, not JVM
and Python worker start-up.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from chembl_structure_pipeline import get_parent_mol, standardize_mol
from rdkit import Chem, rdBase

from etl.datasets.pubchemqa import NormalizeStructure
from etl.pipeline.steps import apply_step
from etl.datasets.pubchemqa import PubChemQAConfig
from etl.normalize.molecules import MoleculeNormalizer
from etl.quality.rejects import Rejected
from etl.spark import get_spark

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pubchem" / "chebi20_test.tsv"


def chebi20_smiles(path: Path, limit: int) -> list[tuple[int, str]]:
    with open(path, newline="") as stream:
        rows = csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(rows)
        # MolT5 escaped backslashes in the TSV (see etl.parse.pubchem.chebi20_row_records).
        return [(int(cid), smiles.replace("\\\\", "\\")) for cid, smiles, _ in rows][:limit]


def reference_loop(molecules: list[tuple[int, str]]) -> float:
    """Seconds for the single-process ChEMBL pipeline loop over `molecules`."""
    started = time.perf_counter()
    with rdBase.BlockLogs():
        for _, smiles in molecules:
            mol = Chem.MolFromSmiles(smiles)
            if mol is None:
                continue
            parent, _ = get_parent_mol(standardize_mol(mol))
            Chem.MolToSmiles(parent)
    return time.perf_counter() - started


def same_work_loop(molecules: list[tuple[int, str]]) -> float:
    """Seconds for the stage's own normalizer in one process: what Spark's 2 cores parallelize."""
    normalizer = MoleculeNormalizer(PubChemQAConfig().molecules)
    started = time.perf_counter()
    for _, smiles in molecules:
        try:
            normalizer.normalize(smiles)
        except Rejected:
            pass
    return time.perf_counter() - started


def spark_stage(spark, molecules: list[tuple[int, str]], partitions: int) -> float:
    """Seconds for the normalization stage over `molecules`, `partitions` tasks."""
    rows = [("structure", cid, smiles) for cid, smiles in molecules]
    df = spark.createDataFrame(rows, "kind string, cid long, smiles string").repartition(partitions)
    df = df.cache()
    df.count()  # the input is materialized before the clock starts
    started = time.perf_counter()
    apply_step(df, NormalizeStructure(PubChemQAConfig())).count()
    elapsed = time.perf_counter() - started
    df.unpersist()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--molecules", type=int, default=1000)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    molecules = chebi20_smiles(args.data, args.molecules)
    cores = int(args.master.removeprefix("local[").removesuffix("]")) if args.master.startswith("local[") else 2
    spark = get_spark(master=args.master, app_name="bench-normalize-molecules")
    spark_stage(spark, molecules[:50], cores)  # warm-up: JVM, Python workers, RDKit imports
    spark_seconds = spark_stage(spark, molecules, cores)
    loop_seconds = reference_loop(molecules)
    same_work_seconds = same_work_loop(molecules)
    spark.stop()
    n = len(molecules)
    print(f"molecules: {n} (ChEBI-20 test set)")
    print(f"reference loop (1 process, standardize_mol + get_parent_mol + MolToSmiles): "
          f"{n / loop_seconds:.1f} mol/s ({loop_seconds:.1f} s)")
    print(f"Spark normalize stage ({args.master}, full MoleculePolicy): {n / spark_seconds:.1f} mol/s "
          f"({spark_seconds:.1f} s)")
    print(f"same work in 1 process (MoleculeNormalizer loop): {n / same_work_seconds:.1f} mol/s "
          f"({same_work_seconds:.1f} s)")
    print(f"ratio: {loop_seconds / spark_seconds:.2f}x against the reference loop (goal >= 1.8x); "
          f"{same_work_seconds / spark_seconds:.2f}x against the same work in one process")


if __name__ == "__main__":
    main()

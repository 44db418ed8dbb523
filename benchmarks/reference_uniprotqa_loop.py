"""The same work as `lifeqa build uniprotqa --split-strategy hash`, as one plain Python loop.

The reference that the Spark build is measured against: one process, no Spark, the same
pure functions per record (Biopython's SwissProt parser through `parse_entries`, sequence
normalization, answer rendering, the hash split, QA rows from the templates), one row
per accession kept (the highest entry version), and the QA rows and rejects written to
Parquet with pyarrow, sorted as the release sorts them. It reads plain and gzip flat
files alike (the gzip file decompressed as it is read, as a script would).

    python benchmarks/reference_uniprotqa_loop.py /tmp/scale/synthetic_uniprot_250000.dat --out /tmp/loop

What it leaves out is what a build adds beyond the rows: the quality gate, the card,
plots, statistics and the leakage report.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl.config import load_config
from etl.datasets.uniprotqa import (GOLD, GenerateUniProtQA, HashSplit, NormalizeUniProtEntry,
                                    UniProtQAConfig, bronze_row)
from etl.parse.uniprot import FLAT, parse_entries
from etl.pipeline.steps import Step, origin_of
from etl.quality.rejects import Rejected
from etl.schema import table

WRITE_BATCH_ROWS = 65_536


def is_reject(row: dict) -> bool:
    return row.get("reject_reason") is not None


def parsed(path: Path):
    """Bronze rows and reject rows of one flat file, in file order."""
    with open(path, "rb") as head:
        opener = gzip.open if head.read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as stream:
        for index, accession, result in parse_entries(stream, FLAT):
            if isinstance(result, Rejected):
                yield Step.reject_row(result, accession, origin_of(str(path), index))
            else:
                yield bronze_row(result, str(path), index, FLAT, None)


def split_rejects(rows, stage: str, rejects: list[dict]):
    """The kept rows of a step's output; its reject rows go to `rejects`, named by stage."""
    for row in rows:
        if is_reject(row):
            rejects.append({"stage": stage, "source": "uniprot", **{k.removeprefix("reject_"): v
                                                                    for k, v in row.items() if k.startswith("reject_")}})
        else:
            yield row


def one_per_accession(entries: list[dict], rejects: list[dict]) -> list[dict]:
    """The highest entry version of each accession, then the first in file order (as dedupe_stage ranks)."""
    best: dict[str, dict] = {}
    for entry in entries:
        kept = best.get(entry["accession"])
        if kept is None or (entry["entry_version"] or -1) > (kept["entry_version"] or -1):
            if kept is not None:
                rejects.append({"stage": "dedupe", "reason": "duplicate_accession", "record_id": kept["accession"]})
            best[entry["accession"]] = entry
        else:
            rejects.append({"stage": "dedupe", "reason": "duplicate_accession", "record_id": entry["accession"]})
    return list(best.values())


def write_sorted(rows: list[dict], schema: pa.Schema, keys: list[str], path: Path) -> None:
    table_ = pa.Table.from_pylist(rows, schema=schema).sort_by([(key, "ascending") for key in keys])
    pq.write_table(table_, path, row_group_size=WRITE_BATCH_ROWS)


def run(paths: list[Path], config: UniProtQAConfig, out: Path) -> dict:
    rejects: list[dict] = []
    timings, started = {}, time.perf_counter()
    # Streamed: a bronze row lives only until it is normalized, as a script would write it.
    bronze = (row for path in paths for row in split_rejects(parsed(path), "parse", rejects))
    silver = list(split_rejects(NormalizeUniProtEntry(config).run(bronze), "normalize", rejects))
    timings["parse, normalize"] = time.perf_counter() - started
    entries = one_per_accession(silver, rejects)
    del silver
    split = list(HashSplit(config).run(entries))
    gold = list(split_rejects(GenerateUniProtQA(config).run(split), "qa", rejects))
    timings["dedupe, split, qa"] = time.perf_counter() - started - sum(timings.values())
    out.mkdir(parents=True, exist_ok=True)
    gold_schema = table(GOLD).arrow()
    for name in ("train", "validation", "test"):
        write_sorted([row for row in gold if row["split"] == name], gold_schema, ["accession", "field"],
                     out / f"{name}.parquet")
    write_sorted(rejects, table("rejects").arrow(), ["stage", "origin", "reason"], out / "rejects.parquet")
    timings["write"] = time.perf_counter() - started - sum(timings.values())
    return {"entries_released": len({row["accession"] for row in gold}), "rows": len(gold), "rejected": len(rejects),
            "seconds": {k: round(v, 2) for k, v in timings.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", type=Path, help="UniProt flat files, plain or gzip")
    parser.add_argument("--out", type=Path, required=True, help="directory for the Parquet files")
    parser.add_argument("--config", type=Path, default=None, help="pipeline config (default pipelines/uniprotqa.yaml)")
    args = parser.parse_args()
    config = load_config(UniProtQAConfig, args.config, "uniprotqa", overrides={"split": {"strategy": "hash"}})
    print(json.dumps(run(args.inputs, config, args.out)))


if __name__ == "__main__":
    main()

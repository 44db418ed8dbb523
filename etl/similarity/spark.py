"""Sequences from a Spark table into one FASTA file, written by the executors.

MMseqs2 reads one FASTA. The executors write their share of it as text part files
(no sequence passes through the driver's memory); the parts are then joined into
one file by streaming their bytes, in part order, so the FASTA is the same for the
same table. `directory` must be a path the driver and the executors both see (local
mode, or a shared file system on a cluster).
"""

from __future__ import annotations

import shutil
from pathlib import Path


def write_fasta_with_spark(df, id_column: str, sequence_column: str, directory: Path) -> Path:
    """`directory/sequences.fasta` with one record per row of `df` (ids assumed unique), sorted by id."""
    from pyspark.sql import functions as F

    parts = directory / "fasta_parts"
    records = df.select(F.concat(F.lit(">"), F.col(id_column), F.lit("\n"), F.col(sequence_column)).alias("value"),
                        F.col(id_column).alias("_id"))
    records.orderBy("_id").select("value").write.mode("overwrite").text(str(parts))
    fasta = directory / "sequences.fasta"
    with open(fasta, "wb") as out:
        for part in sorted(parts.glob("part-*")):
            with open(part, "rb") as source:
                shutil.copyfileobj(source, out)
    shutil.rmtree(parts)
    return fasta

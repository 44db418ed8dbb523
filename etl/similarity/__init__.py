"""Sequence similarity for leakage-free splits: MMseqs2 homology search and a partition that no edge crosses."""

from etl.similarity.mmseqs import (
    HomologyPair,
    MissingToolError,
    find_mmseqs,
    homology_pairs,
    nearest_hits,
    write_fasta,
)
from etl.similarity.partition import HOMOLOGY_CONFLICT, PINNED_CONFLICT, PartitionResult, partition

__all__ = [
    "HOMOLOGY_CONFLICT",
    "PINNED_CONFLICT",
    "HomologyPair",
    "MissingToolError",
    "PartitionResult",
    "find_mmseqs",
    "homology_pairs",
    "nearest_hits",
    "partition",
    "write_fasta",
]

"""Split assignment: deterministic, one function per strategy (after TDC's split.py).

A record's split depends only on its grouping key, the ratios and a salt, never
on the other records or their order: every run, and every later version of a
dataset, puts the same key in the same split, and records that share a key
(identical sequences, a later issue: homology clusters, scaffolds) share a split.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field, model_validator

SPLITS = ("train", "validation", "test")


class SplitPolicy(BaseModel):
    """The `split:` section of a pipeline config."""

    model_config = ConfigDict(extra="forbid")


    ratios: dict[str, float] = Field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    group_by: str = Field("sequence_sha256", description="column whose value keeps records together")
    salt: str = Field("lifeqa-split-v1", description="change it to draw a different, equally stable split")

    @model_validator(mode="after")
    def ratios_are_a_partition(self):
        if set(self.ratios) != set(SPLITS):
            raise ValueError(f"split ratios must name exactly {SPLITS}, got {sorted(self.ratios)}")
        if any(r < 0 for r in self.ratios.values()) or abs(sum(self.ratios.values()) - 1.0) > 1e-9:
            raise ValueError(f"split ratios must be non-negative and sum to 1, got {self.ratios}")
        return self


def unit_interval_hash(key: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by (salt, key)."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_key_hash(key: str, policy: SplitPolicy) -> str:
    """Train/validation/test by where the key's hash falls among the cumulative ratios."""
    position = unit_interval_hash(key, policy.salt)
    cumulative = 0.0
    for name in SPLITS:
        cumulative += policy.ratios[name]
        if position < cumulative:
            return name
    return SPLITS[-1]  # position within rounding of 1.0

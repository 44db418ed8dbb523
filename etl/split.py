"""Split assignment: deterministic, one function per strategy (after TDC's split.py).

A record's split depends only on its grouping key, the ratios and a salt, never
on the other records or their order: every run, and every later version of a
dataset, puts the same key in the same split, and records that share a key
(identical sequences, a later issue: homology clusters, scaffolds) share a split.

The grouping key (`split.group_by`) is a column of the rows being split, or a key
derived from one (`DERIVED_GROUP_KEYS`); `check_group_by` holds a config to that.
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


def inchikey_connectivity(row: dict) -> str:
    """The InChIKey's first block: stereoisomers and isotopologues share it, so they share a split."""
    return row["inchikey"].split("-", 1)[0]


# name -> (the column it is derived from, the rule)
DERIVED_GROUP_KEYS = {"inchikey_connectivity": ("inchikey", inchikey_connectivity)}
# Columns that are the split's outcome, not a grouping of the rows.
NOT_GROUP_KEYS = ("split",)


def allowed_group_keys(columns: list[str]) -> list[str]:
    """What `group_by` may name for rows with `columns`: a column, or a key derived from one."""
    derived = [name for name, (source, _) in DERIVED_GROUP_KEYS.items() if source in columns]
    return [c for c in columns if c not in NOT_GROUP_KEYS] + derived


def check_group_by(policy: SplitPolicy, columns: list[str], table_name: str) -> None:
    allowed = allowed_group_keys(columns)
    if policy.group_by not in allowed:
        raise ValueError(f"split.group_by {policy.group_by!r} names no column of {table_name}; "
                         f"one of: {', '.join(allowed)}")


def group_key(row: dict, group_by: str) -> str:
    if group_by in DERIVED_GROUP_KEYS:
        return DERIVED_GROUP_KEYS[group_by][1](row)
    return str(row[group_by])


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

"""Split assignment: deterministic, one function per strategy (after TDC's split.py).

- `hash`: a record's split depends only on its grouping key, the ratios and a
  salt, never on the other records or their order: every run, and every later
  version of a dataset, puts the same key in the same split, and records that
  share a key (identical sequences) share a split.
- `scaffold` (molecules): the hash of the Bemis-Murcko scaffold, so no scaffold
  straddles splits; an acyclic molecule has no scaffold and is grouped by its own
  grouping key instead (so acyclic molecules spread over the splits like any key).
- `homology` (proteins): entities are partitioned so that no pair in different
  splits is homologous at the thresholds an MMseqs2 search applies
  (`split_by_homology`, over etl.similarity); it sees all entities at once.

The grouping key (`split.group_by`) is a column of the rows being split, or a key
derived from one (`DERIVED_GROUP_KEYS`); `check_group_by` holds a config to that.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from etl.exclusions import ExclusionList

SPLITS = ("train", "validation", "test")
Strategy = Literal["homology", "scaffold", "hash"]
# What each strategy groups: a dataset accepts the strategies that fit its entity.
STRATEGIES_FOR = {"protein": ("homology", "hash"), "molecule": ("scaffold", "hash")}


class SplitPolicy(BaseModel):
    """The `split:` section of a pipeline config."""

    model_config = ConfigDict(extra="forbid")


    strategy: Strategy = Field("hash", description="homology (proteins), scaffold (molecules) or hash")
    ratios: dict[str, float] = Field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    group_by: str = Field("sequence_sha256", description="column whose value keeps records together")
    salt: str = Field("lifeqa-split-v1", description="change it to draw a different, equally stable split")
    min_identity: float = Field(0.3, gt=0, le=1, description="homology: sequence identity of an edge (MMseqs2)")
    min_coverage: float = Field(0.8, gt=0, le=1, description="homology: coverage of both sequences of an edge")
    generic_scaffold: bool = Field(False, description="scaffold: atoms and bonds made generic (all C, single)")
    previous: str | None = Field(None, description="a previous release of the dataset whose entities keep their "
                                                   "splits (homology: pinned in the partition)")
    max_tanimoto: float | None = Field(None, gt=0, le=1, description="scaffold: molecules whose Morgan "
                                       "fingerprints (radius 2, 1,024 bits) reach this Tanimoto similarity share "
                                       "a split too, as GraphPart's molecule mode (every pair compared)")
    exclude: list[ExclusionList] = Field(default_factory=list, description="entities never in train, or not "
                                                                            "released at all (etl/exclusions.py)")

    @model_validator(mode="after")
    def tanimoto_refines_a_scaffold_split(self):
        if self.max_tanimoto is not None and self.strategy != "scaffold":
            raise ValueError(f"split.max_tanimoto refines a scaffold split, not a {self.strategy} split")
        return self

    @property
    def partitioned(self) -> bool:
        """Assigned by a partition of all entities at once (which pins a previous release's entities),
        rather than entity by entity from a hash."""
        return self.strategy == "homology" or self.max_tanimoto is not None

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


def check_strategy(policy: SplitPolicy, entity_kind: str) -> None:
    if policy.strategy not in STRATEGIES_FOR[entity_kind]:
        raise ValueError(f"split.strategy {policy.strategy!r} does not split {entity_kind}s; "
                         f"one of: {', '.join(STRATEGIES_FOR[entity_kind])}")


def check_split_tools(policy: SplitPolicy) -> None:
    """Raise, naming the install command, when the strategy needs a tool this machine lacks."""
    if policy.strategy == "homology":
        from etl.similarity.mmseqs import find_mmseqs

        find_mmseqs()


# The settings a hash or scaffold split is a function of: equal in two releases, every key keeps its split.
KEYED_SPLIT_SETTINGS = ("strategy", "ratios", "group_by", "salt", "generic_scaffold", "max_tanimoto")


def check_previous(policy: SplitPolicy, dataset_name: str) -> None:
    """Raise unless `policy.previous` is a release of `dataset_name` that this split can keep.

    A homology (or Tanimoto-refined scaffold) split pins the previous release's entities in
    its partition. A hash or scaffold split is a function of each key and the settings, so it
    keeps the previous splits exactly when the settings are the same: other settings are refused."""
    if policy.previous is None:
        return
    manifest = Path(policy.previous) / "manifest.json"
    if not manifest.is_file():
        raise ValueError(f"previous release {policy.previous} is not a release directory (no manifest.json)")
    previous = json.loads(manifest.read_text())
    if previous.get("dataset") != dataset_name:
        raise ValueError(f"previous release {policy.previous} is a {previous.get('dataset')} release, not {dataset_name}")
    if policy.partitioned:
        return
    theirs = SplitPolicy(**{k: v for k, v in previous["config"]["split"].items() if k != "previous"})
    differing = [k for k in KEYED_SPLIT_SETTINGS if getattr(theirs, k) != getattr(policy, k)]
    if differing:
        raise ValueError(f"a {policy.strategy} split keeps the splits of {policy.previous} only with its split "
                         f"settings; these differ: {', '.join(differing)}")


def previous_splits(policy: SplitPolicy, entity) -> dict[str, str]:
    """{entity key: split} of the previous release, read key column by key column."""
    import pyarrow.parquet as pq

    splits: dict[str, str] = {}
    columns = sorted({entity.text_column, entity.key_column, "split"} - {None})
    for path in sorted((Path(policy.previous) / "data").glob("*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(columns=columns, batch_size=65_536):
            splits.update(zip(entity.keys(batch).to_pylist(), batch.column("split").to_pylist()))
    return splits


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


def split_by_key_hash(key: str, policy: SplitPolicy, held_out: frozenset[str] = frozenset()) -> str:
    """Train/validation/test by where the key's hash falls among the cumulative ratios.

    A key in `held_out` (its group holds an entity a never-train list names) is drawn
    the same way among validation and test only, by their ratios."""
    splits = [s for s in SPLITS if s != "train"] if key in held_out else list(SPLITS)
    total = sum(policy.ratios[s] for s in splits)
    position = unit_interval_hash(key, policy.salt) * total
    cumulative = 0.0
    for name in splits:
        cumulative += policy.ratios[name]
        if position < cumulative:
            return name
    return splits[-1]  # position within rounding of the total


def scaffold_key(smiles: str, generic: bool) -> str | None:
    """The Bemis-Murcko scaffold of a molecule as canonical SMILES, or None when it has no ring."""
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    molecule = Chem.MolFromSmiles(smiles)
    if molecule is None:
        raise ValueError(f"not a SMILES RDKit can read: {smiles!r}")
    scaffold = MurckoScaffold.GetScaffoldForMol(molecule)
    if generic:
        scaffold = MurckoScaffold.MakeScaffoldGeneric(scaffold)
    return Chem.MolToSmiles(scaffold) or None


def scaffold_group(smiles: str, fallback_key: str, policy: SplitPolicy) -> str:
    """What a scaffold split keeps together: the molecule's scaffold, or, for an acyclic molecule,
    its own `fallback_key` (so acyclic molecules spread over the splits like any key)."""
    scaffold = scaffold_key(smiles, policy.generic_scaffold)
    return f"scaffold:{scaffold}" if scaffold else f"acyclic:{fallback_key}"


def keyed_group(row: dict, policy: SplitPolicy) -> str:
    """What a hash or scaffold split assigns as one: the group_by key, or the scaffold group."""
    key = group_key(row, policy.group_by)
    return scaffold_group(row["smiles"], key, policy) if policy.strategy == "scaffold" else key


def held_out_groups(rows: list[dict], policy: SplitPolicy, id_column: str) -> tuple[frozenset[str], dict]:
    """The keyed groups that hold an entity a never-train list names (`rows`: those entities, with
    `_lists`), and per list what that did: entities matched, groups held out, and the matched
    entities that their group's hash would have put in train (moved to validation or test)."""
    groups: set[str] = set()
    per_list: dict[str, dict] = {}
    for row in rows:
        group = keyed_group(row, policy)
        groups.add(group)
        for name in row["_lists"].split(", "):
            counts = per_list.setdefault(name, {"matched": set(), "groups": set(), "moved": set()})
            counts["matched"].add(row[id_column])
            counts["groups"].add(group)
            if split_by_key_hash(group, policy) == "train":
                counts["moved"].add(row[id_column])
    report = {name: {"matched": len(c["matched"]), "groups_held_out": len(c["groups"]),
                     "moved_out_of_train": len(c["moved"])} for name, c in per_list.items()}
    return frozenset(groups), report


def split_by_homology(weights: dict[str, float], fasta_path, together, policy: SplitPolicy, pinned=None,
                      never_train=()):
    """Partition entities (`weights`: id -> weight; sequences in `fasta_path`, ids as FASTA names) so
    that no MMseqs2 hit at `policy.min_identity` over `policy.min_coverage` crosses two splits
    (etl.similarity.verified: a fast search, then a sensitive one between splits).
    `together`: groups of ids that must share a split; `pinned`: {id: split} of a previous release;
    `never_train`: ids whose component stays out of train. Returns etl.similarity.partition's result."""
    from etl.similarity.verified import verified_partition

    return verified_partition(fasta_path, weights, min_identity=policy.min_identity,
                              min_coverage=policy.min_coverage, together=together, ratios=policy.ratios,
                              salt=policy.salt, pinned=pinned, never_train=never_train)

"""Expectations over a whole table or release, computed while the shards stream past.

Rows are never held: a key is kept as its 64-bit hash (8 bytes a row, with the split
as one byte for the group check), counts as counters. Where such a check fails, the
table is streamed once more to name a few offending keys. Each class is a GX
expectation (so suites, results and Data Docs carry it) whose `start` gives the
accumulator lifeqa feeds.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from etl.quality.expectations import DERIVED, EXAMPLES, ReleaseContext, ReleaseExpectation
from etl.split import SPLITS


def column_values(frame, column: str, context: ReleaseContext):
    """A column of the batch, or the derived column of that name."""
    import pandas as pd

    if column in frame.columns:
        return frame[column]
    return pd.Series(DERIVED[column](frame, context), index=frame.index, dtype=object)


def hashes_of(values) -> np.ndarray:
    """64-bit hashes of a Series or DataFrame's rows (values compared as text)."""
    import pandas as pd

    return pd.util.hash_pandas_object(values.astype(str), index=False).to_numpy()


def row_hashes(frame, columns: list[str], context: ReleaseContext) -> np.ndarray:
    import pandas as pd

    return hashes_of(pd.DataFrame({c: column_values(frame, c, context) for c in columns}))


def repeated(hashes: np.ndarray) -> np.ndarray:
    values, counts = np.unique(hashes, return_counts=True)
    return values[counts > 1]


class ExpectReleaseKeyToBeUnique(ReleaseExpectation):
    """No two rows of the table, in any shards, share `column_list`."""

    column_list: list[str]
    success_keys = ("column_list",)

    def start(self, context):
        return UniqueKey(self.column_list, context)


class UniqueKey:
    def __init__(self, columns: list[str], context: ReleaseContext):
        self.columns, self.context, self.hashes = columns, context, []

    def update(self, frame):
        self.hashes.append(row_hashes(frame, self.columns, self.context))

    def finish(self, rescan):
        hashes = np.concatenate(self.hashes) if self.hashes else np.array([], np.uint64)
        duplicated = repeated(hashes)
        examples: list = []
        if len(duplicated):
            for frame in rescan():
                hit = np.isin(row_hashes(frame, self.columns, self.context), duplicated)
                examples += frame.loc[hit, self.columns].astype(str).to_dict("records")
                if len(examples) >= EXAMPLES:
                    break
        unexpected = int(np.isin(hashes, duplicated).sum())
        return not len(duplicated), map_result(len(hashes), unexpected, examples[:EXAMPLES])


class ExpectSplitGroupsToBeDisjoint(ReleaseExpectation):
    """Every value of `column` (a split's grouping key, a column or a derived one) lies in one split."""

    column: str
    success_keys = ("column",)

    def start(self, context):
        return DisjointGroups(self.column, context)


class DisjointGroups:
    def __init__(self, column: str, context: ReleaseContext):
        self.column, self.context, self.hashes, self.splits = column, context, [], []

    def split_codes(self, splits) -> np.ndarray:
        return splits.map({s: i for i, s in enumerate(SPLITS)}).fillna(len(SPLITS)).to_numpy(np.int8)

    def grouped(self, frame):
        """The group of each row that has one (a SMILES RDKit cannot read has none; its own rule
        reports it), and those rows' splits."""
        groups = column_values(frame, self.column, self.context)
        has_group = groups.notna().to_numpy()
        return groups[has_group], frame.loc[has_group, "split"]

    def update(self, frame):
        groups, splits = self.grouped(frame)
        self.hashes.append(hashes_of(groups))
        self.splits.append(self.split_codes(splits))

    def finish(self, rescan):
        if not self.hashes:
            return True, map_result(0, 0, [])
        pairs = np.unique(np.stack([np.concatenate(self.hashes),
                                    np.concatenate(self.splits).astype(np.uint64)]), axis=1)
        straddling = repeated(pairs[0])  # a group hash that occurs with two split codes
        examples: dict[str, set] = {}
        if len(straddling):
            for frame in rescan():
                groups, splits = self.grouped(frame)
                hit = np.isin(hashes_of(groups), straddling)
                for key, split in zip(groups[hit].astype(str), splits[hit]):
                    examples.setdefault(key, set()).add(split)
        listed = [f"{key} in {', '.join(sorted(splits))}" for key, splits in list(examples.items())[:EXAMPLES]]
        groups = len(np.unique(pairs[0]))
        return not len(straddling), map_result(groups, len(straddling), listed)


class ExpectSplitSharesToMatchRatios(ReleaseExpectation):
    """Each split holds its configured share of the rows, within `tolerance` (absolute)."""

    ratios: dict[str, float]
    tolerance: float
    success_keys = ("ratios", "tolerance")

    def start(self, context):
        return SplitShares(self.ratios, self.tolerance)


class SplitShares:
    def __init__(self, ratios: dict[str, float], tolerance: float):
        self.ratios, self.tolerance, self.rows = ratios, tolerance, Counter()

    def update(self, frame):
        self.rows.update(frame["split"].value_counts().to_dict())

    def finish(self, rescan):
        total = sum(self.rows.values())
        shares = {s: round(self.rows.get(s, 0) / total, 4) if total else 0.0 for s in self.ratios}
        off = {s: share for s, share in shares.items() if abs(share - self.ratios[s]) > self.tolerance}
        return not off, {"observed_value": shares, "details": {"outside_tolerance": off, "rows": dict(self.rows)}}


class ExpectRowsToMatchManifest(ReleaseExpectation):
    """The table's rows per split are the manifest's `counts.rows_by_split`."""

    success_keys = ()

    def start(self, context):
        return RowsPerSplit(context.manifest)


class RowsPerSplit:
    def __init__(self, manifest: dict):
        self.expected, self.rows = manifest.get("counts", {}).get("rows_by_split", {}), Counter()

    def update(self, frame):
        self.rows.update(frame["split"].value_counts().to_dict())

    def finish(self, rescan):
        found = {s: self.rows.get(s, 0) for s in sorted(set(self.rows) | set(self.expected))}
        differing = [f"{s}: {found[s]} rows, manifest {self.expected.get(s, 0)}" for s in found
                     if found[s] != self.expected.get(s, 0)]
        return not differing, {"observed_value": found, "details": {"differing": differing}}


class ExpectRejectsToReconcileWithManifest(ReleaseExpectation):
    """The manifest's counts add up (per stage: in = out + rejected; in total: in = released +
    rejected) and the rejects table holds exactly the rejects the manifest counts, per stage and reason."""

    success_keys = ()

    def start(self, context):
        return Reconciliation(context.manifest)


def manifest_arithmetic(manifest: dict) -> list[str]:
    """What does not add up in the manifest's own counts."""
    counts, stages = manifest.get("counts", {}), manifest.get("stages", {})
    problems = [f"stage {name}: {s['records_in']} in != {s['records_out']} out + {sum(s['rejected'].values())} rejected"
                for name, s in sorted(stages.items())
                if s["records_in"] != s["records_out"] + sum(s["rejected"].values())]
    if counts.get("records_in") != counts.get("records_released", 0) + counts.get("records_rejected", 0):
        problems.append(f"total: {counts.get('records_in')} in != {counts.get('records_released')} released "
                        f"+ {counts.get('records_rejected')} rejected")
    by_stage = sum(sum(s["rejected"].values()) for s in stages.values())
    if by_stage != counts.get("records_rejected"):
        problems.append(f"stages reject {by_stage} records, counts say {counts.get('records_rejected')}")
    return problems


class Reconciliation:
    def __init__(self, manifest: dict):
        self.manifest, self.found = manifest, Counter()

    def update(self, frame):
        self.found.update(zip(frame["stage"], frame["reason"]))

    def finish(self, rescan):
        expected = Counter({(stage, reason): n for stage, s in self.manifest.get("stages", {}).items()
                            for reason, n in s["rejected"].items()})
        differing = [f"{stage}/{reason}: {self.found.get((stage, reason), 0)} reject rows, manifest "
                     f"{expected.get((stage, reason), 0)}"
                     for stage, reason in sorted(set(expected) | set(self.found))
                     if self.found.get((stage, reason), 0) != expected.get((stage, reason), 0)]
        problems = manifest_arithmetic(self.manifest) + differing
        return not problems, {"observed_value": sum(self.found.values()), "details": {"differing": problems}}


def map_result(elements: int, unexpected: int, examples: list) -> dict:
    """A result in the shape of GX's column-map results (what Data Docs renders for them)."""
    return {"element_count": elements, "unexpected_count": unexpected,
            "unexpected_percent": 100.0 * unexpected / elements if elements else 0.0,
            "partial_unexpected_list": examples}

"""What changed between two releases of one dataset: entities, QA rows, splits, rejects, inputs, config.

Neither release is held in memory. Each is streamed shard by shard, batch by batch, and every
QA row becomes four small values: its entity, split, field, a 16-byte hash of its key (entity,
question and the columns that tell the rows of one entity apart) and a 16-byte hash of its answer.
Those go to bucket files on local scratch, the bucket chosen by the entity's hash, so that one
bucket of the old release and the same bucket of the new one hold every row of the same entities;
the buckets are then compared one pair at a time (an Arrow hash join), sized so that a pair fits
in memory whatever the releases' size.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections import Counter
from pathlib import Path

from etl.release.registry import ReleaseLocation

ROWS_PER_BUCKET = 500_000
EXAMPLES = 10  # entity ids listed per kind of change


class DiffError(ValueError):
    """Two releases that cannot be compared (different datasets)."""


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def row_layout(dataset) -> tuple[str, list[str], str]:
    """(entity id column, the columns that key a QA row, the column a row's field is read from)."""
    from etl.schema import table

    entity = dataset.entity.id_column
    names = table(dataset.gold_table).names
    # The release's sort keys without the answer tell the rows of an entity apart (UniProtQA: its
    # field; PubChemQA: the depositor and its description id); the question is part of every key.
    key = [entity, *[c for c in dataset.sort_keys if c not in (entity, "answer")], "question"]
    return entity, list(dict.fromkeys(key)), "field" if "field" in names else "question"


def bucket_rows(location: ReleaseLocation, dataset, buckets: int, scratch: Path) -> list[Path]:
    """Write (entity, split, field, key, answer) of every QA row of `location` into `buckets` files."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    entity, key_columns, field = row_layout(dataset)
    schema = pa.schema([("entity", pa.string()), ("split", pa.string()), ("field", pa.string()),
                        ("key", pa.binary(16)), ("answer", pa.binary(16))])
    paths = [scratch / f"bucket-{i:04d}.parquet" for i in range(buckets)]
    writers = [pq.ParquetWriter(path, schema) for path in paths]
    columns = list(dict.fromkeys([*key_columns, field, "answer", "split"]))
    try:
        for shard in location.parquet_files("data"):
            with location.filesystem.open_input_file(shard) as handle:
                for batch in pq.ParquetFile(handle).iter_batches(columns=columns, batch_size=65_536):
                    rows = batch.to_pydict()
                    entities = [str(e) for e in rows[entity]]
                    keys = ["\x1f".join(str(rows[c][i]) for c in key_columns) for i in range(batch.num_rows)]
                    chosen = [int.from_bytes(digest(e)[:4], "big") % buckets for e in entities]
                    table = pa.table({"entity": entities, "split": rows["split"], "field": rows[field],
                                      "key": [digest(k) for k in keys], "answer": [digest(a) for a in rows["answer"]]},
                                     schema=schema)
                    indices = pa.array(chosen)
                    for bucket in set(chosen):
                        writers[bucket].write_table(table.filter(pc.equal(indices, bucket)))
    finally:
        for writer in writers:
            writer.close()
    return paths


def count_by(table, columns: list[str]) -> Counter:
    """Rows of `table` per value of `columns` (a tuple key, or the value itself for one column)."""
    if not table.num_rows:
        return Counter()
    counted = table.group_by(columns).aggregate([([], "count_all")]).to_pydict()
    values = zip(*(counted[c] for c in columns))
    return Counter({(v if len(columns) > 1 else v[0]): n for v, n in zip(values, counted["count_all"])})


def true_count(mask) -> int:
    import pyarrow.compute as pc

    return pc.sum(mask).as_py() or 0  # the sum of no values is null


def compare_bucket(old_path: Path, new_path: Path, tally: dict) -> None:
    """Add one bucket pair's changes to `tally`."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    old, new = pq.read_table(old_path), pq.read_table(new_path)
    rows = old.join(new, keys="key", join_type="full outer", left_suffix="_old", right_suffix="_new")
    in_old, in_new = pc.is_valid(rows["entity_old"]), pc.is_valid(rows["entity_new"])
    both = pc.and_(in_old, in_new)
    changed = rows.filter(pc.and_(both, pc.not_equal(rows["answer_old"], rows["answer_new"])))
    tally["rows_added"] += count_by(rows.filter(pc.invert(in_old)), ["split_new", "field_new"])
    tally["rows_removed"] += count_by(rows.filter(pc.invert(in_new)), ["split_old", "field_old"])
    tally["rows_changed"] += count_by(changed, ["split_new", "field_new"])
    tally["rows_unchanged"] += true_count(both) - changed.num_rows
    tally["examples"]["answer_changed"] += [f"{e} {f}" for e, f in zip(changed["entity_new"].to_pylist(),
                                                                         changed["field_new"].to_pylist())]

    entities = old.group_by(["entity", "split"]).aggregate([]).join(
        new.group_by(["entity", "split"]).aggregate([]), keys="entity", join_type="full outer",
        left_suffix="_old", right_suffix="_new")
    in_old, in_new = pc.is_valid(entities["split_old"]), pc.is_valid(entities["split_new"])
    added, removed = entities.filter(pc.invert(in_old)), entities.filter(pc.invert(in_new))
    moved = entities.filter(pc.and_(pc.and_(in_old, in_new), pc.not_equal(entities["split_old"], entities["split_new"])))
    tally["entities_added"] += count_by(added, ["split_new"])
    tally["entities_removed"] += count_by(removed, ["split_old"])
    tally["split_changed"] += Counter({f"{a} -> {b}": n for (a, b), n in count_by(moved, ["split_old", "split_new"]).items()})
    tally["entities_unchanged"] += true_count(pc.and_(in_old, in_new)) - moved.num_rows
    for kind, table in (("added", added), ("removed", removed), ("split_changed", moved)):
        tally["examples"][kind] += table["entity"].to_pylist()
    # Only the first ids in order are kept, so the examples stay few whatever the number of buckets.
    for kind, names in tally["examples"].items():
        tally["examples"][kind] = sorted(names)[:EXAMPLES]


def by_split(counter: Counter) -> dict:
    """{(split, field): n} -> {split: {field: n}}, sorted."""
    nested: dict[str, dict[str, int]] = {}
    for (split, field), n in sorted(counter.items()):
        nested.setdefault(split, {})[field] = n
    return nested


def flatten(document: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists stay values."""
    flat = {}
    for key, value in document.items():
        if isinstance(value, dict) and value:
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_changes(old: dict, new: dict) -> dict:
    before, after = flatten(old), flatten(new)
    return {key: {"before": before.get(key), "after": after.get(key)}
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)}


def input_changes(old: dict, new: dict) -> dict:
    """Inputs by content: a file whose checksum is in one release only was added or removed."""
    def by_sha(manifest):
        return {entry["sha256"]: {k: entry.get(k) for k in ("path", "sha256", "source_release", "records")}
                for entry in manifest.get("inputs", [])}

    before, after = by_sha(old), by_sha(new)
    return {
        "added": [after[sha] for sha in sorted(set(after) - set(before))],
        "removed": [before[sha] for sha in sorted(set(before) - set(after))],
        "unchanged": len(set(before) & set(after)),
        "source_releases": {"before": old.get("source_releases", []), "after": new.get("source_releases", [])},
    }


def reject_changes(old: dict, new: dict) -> dict:
    before, after = old["counts"]["rejected_by_reason"], new["counts"]["rejected_by_reason"]
    return {reason: {"before": before.get(reason, 0), "after": after.get(reason, 0)}
            for reason in sorted(set(before) | set(after))}


def identity(location: ReleaseLocation, manifest: dict) -> dict:
    return {"path": str(location), "dataset": manifest["dataset"], "version": manifest["version"],
            "content_sha256": manifest["content_sha256"], "rows": manifest["counts"]["rows"]}


def diff_releases(old: ReleaseLocation, new: ReleaseLocation, rows_per_bucket: int = ROWS_PER_BUCKET) -> dict:
    """The changes from `old` to `new` (see the module's docstring for how they are computed)."""
    from etl.datasets import datasets

    old_manifest, new_manifest = old.read_json("manifest.json"), new.read_json("manifest.json")
    if old_manifest["dataset"] != new_manifest["dataset"]:
        raise DiffError(f"{old} is a {old_manifest['dataset']} release and {new} a {new_manifest['dataset']} "
                        "release; a diff compares two versions of one dataset")
    dataset = datasets()[new_manifest["dataset"]]
    rows = old_manifest["counts"]["rows"] + new_manifest["counts"]["rows"]
    buckets = max(1, math.ceil(rows / rows_per_bucket))
    tally = {"rows_added": Counter(), "rows_removed": Counter(), "rows_changed": Counter(), "rows_unchanged": 0,
             "entities_added": Counter(), "entities_removed": Counter(), "split_changed": Counter(),
             "entities_unchanged": 0,
             "examples": {"added": [], "removed": [], "split_changed": [], "answer_changed": []}}
    with tempfile.TemporaryDirectory(prefix="lifeqa-diff-") as scratch:
        for side in ("old", "new"):
            (Path(scratch) / side).mkdir()
        pairs = zip(bucket_rows(old, dataset, buckets, Path(scratch) / "old"),
                    bucket_rows(new, dataset, buckets, Path(scratch) / "new"))
        for old_bucket, new_bucket in pairs:
            compare_bucket(old_bucket, new_bucket, tally)
    entities = {kind: dict(sorted(tally[f"entities_{kind}"].items())) for kind in ("added", "removed")}
    return {
        "dataset": new_manifest["dataset"],
        "old": identity(old, old_manifest),
        "new": identity(new, new_manifest),
        "same_content": old_manifest["content_sha256"] == new_manifest["content_sha256"],
        "entities": {
            **entities,
            "split_changed": dict(sorted(tally["split_changed"].items())),
            "unchanged": tally["entities_unchanged"],
            "totals": {kind: sum(entities[kind].values()) for kind in entities}
            | {"split_changed": sum(tally["split_changed"].values())},
        },
        "rows": {
            "added": by_split(tally["rows_added"]),
            "removed": by_split(tally["rows_removed"]),
            "changed": by_split(tally["rows_changed"]),
            "unchanged": tally["rows_unchanged"],
            "totals": {kind: sum(tally[f"rows_{kind}"].values()) for kind in ("added", "removed", "changed")},
        },
        "examples": tally["examples"],
        "rejects": reject_changes(old_manifest, new_manifest),
        "inputs": input_changes(old_manifest, new_manifest),
        "config": config_changes(old_manifest["config"], new_manifest["config"]),
    }

"""`chemblqa`: OpenBioMed v1's molecule QA layout (DrugChat's ChEMBL-QA).

    {prefix}_train.json  {prefix}_test.json  {prefix}_val.json      (prefix: ChEMBL_QA, or --prefix)
    each one JSON object  {smiles: [[question, answer], ...]}

The loader (`ChEMBLQA`) opens `{prefix}_train.json` and `{prefix}_test.json` only. The validation
split goes to `{prefix}_val.json` in the same layout, the name DrugChat's own preprocessing uses:
not merged into train (the split was drawn so that no scaffold or group straddles it) nor into test,
and not dropped; a training run that wants it reads that file.
"""

from __future__ import annotations

from pathlib import Path

from etl.release.exports.layout import Export, ExportedFile, write_keyed
from etl.release.exports.source import ReleaseSource

SUFFIXES = {"train": "train", "test": "test", "validation": "val"}


def write(source: ReleaseSource, out: Path, prefix: str) -> list[ExportedFile]:
    columns = [source.entity.text_column, "question", "answer"]
    return [
        write_keyed(out / f"{prefix}_{suffix}.json", split, source.groups(split, columns),
                    lambda rows: [[question, answer] for _, question, answer in rows])
        for split, suffix in SUFFIXES.items()
    ]


EXPORT = Export(
    name="chemblqa",
    entity_kind="molecule",
    layout="`{prefix}_train.json`, `{prefix}_test.json`: each one JSON object `{smiles: [[question, answer], ...]}`.",
    reader="OpenBioMed v1's molecule QA loader (`ChEMBLQA`, DrugChat's ChEMBL-QA layout)",
    write=write,
    default_prefix="ChEMBL_QA",
    note=("That loader has no validation split: the release's validation rows are in `{prefix}_val.json`, in the "
          "same layout (the name DrugChat's preprocessing uses), kept apart from train and test."),
)

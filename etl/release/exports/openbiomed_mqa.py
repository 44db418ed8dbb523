"""`openbiomed-mqa`: OpenBioMed's molecule QA loader (`MQA`).

    train.json  val.json  test.json
    each a JSON list on ONE line  [{"smiles": [smiles], "question": str, "answer": str}, ...]
"""

from __future__ import annotations

from pathlib import Path

from etl.release.exports.layout import Export, ExportedFile, write_rows
from etl.release.exports.source import ReleaseSource

FILES = {"train": "train.json", "validation": "val.json", "test": "test.json"}


def write(source: ReleaseSource, out: Path, prefix: str | None) -> list[ExportedFile]:
    columns = [source.entity.text_column, "question", "answer"]
    return [
        write_rows(out / name, split, source.rows(split, columns),
                   lambda row: {"smiles": [row[0]], "question": row[1], "answer": row[2]})
        for split, name in FILES.items()
    ]


EXPORT = Export(
    name="openbiomed-mqa",
    entity_kind="molecule",
    layout=('`train.json`, `val.json`, `test.json`: each a JSON list on one line of '
            '`{"smiles": [smiles], "question": str, "answer": str}`.'),
    reader="OpenBioMed's molecule QA loader (`open_biomed/datasets/molecule_question_answering.py`, `MQA`)",
    write=write,
)

"""`openbiomed-pqa`: OpenBioMed's protein QA loader (`open_biomed/datasets/protein_question_answering.py`, `PQA`).

    sequences.json               {accession: sequence}, every split's proteins
    train.json  val.json  test.json
    each a JSON list on ONE line  [{"protein_accession": [accession], "question": str, "answer": str}, ...]
"""

from __future__ import annotations

from pathlib import Path

from etl.release.exports.layout import Export, ExportedFile, write_json_object, write_rows
from etl.release.exports.source import ReleaseSource

FILES = {"train": "train.json", "validation": "val.json", "test": "test.json"}
SEQUENCES = "sequences.json"


def write(source: ReleaseSource, out: Path, prefix: str | None) -> list[ExportedFile]:
    accession, sequence = source.entity.id_column, source.entity.text_column
    proteins = write_json_object(out / SEQUENCES, source.entities(accession, sequence))
    return [ExportedFile(SEQUENCES, "all", proteins, None)] + [
        write_rows(out / name, split, source.rows(split, [accession, "question", "answer"]),
                   lambda row: {"protein_accession": [row[0]], "question": row[1], "answer": row[2]})
        for split, name in FILES.items()
    ]


EXPORT = Export(
    name="openbiomed-pqa",
    entity_kind="protein",
    layout=('`sequences.json` (`{accession: sequence}`) and `train.json`, `val.json`, `test.json`: each a JSON list '
            'on one line of `{"protein_accession": [accession], "question": str, "answer": str}`.'),
    reader="OpenBioMed's protein QA loader (`open_biomed/datasets/protein_question_answering.py`, `PQA`)",
    write=write,
)

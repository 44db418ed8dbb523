"""`uniprotqa-hf`: the files of the published PharMolix/UniProtQA dataset.

    train.json  valid.json  test.json
    each one JSON object  {accession: {"sequence": str, "data": [[question, answer], ...]}}
"""

from __future__ import annotations

from pathlib import Path

from etl.release.exports.layout import Export, ExportedFile, write_keyed
from etl.release.exports.source import ReleaseSource

FILES = {"train": "train.json", "validation": "valid.json", "test": "test.json"}


def write(source: ReleaseSource, out: Path, prefix: str | None) -> list[ExportedFile]:
    columns = [source.entity.id_column, source.entity.text_column, "question", "answer"]
    return [
        write_keyed(out / name, split, source.groups(split, columns),
                    lambda rows: {"sequence": rows[0][1], "data": [[question, answer] for _, _, question, answer in rows]})
        for split, name in FILES.items()
    ]


EXPORT = Export(
    name="uniprotqa-hf",
    entity_kind="protein",
    layout=('`train.json`, `valid.json`, `test.json`: each one JSON object '
            '`{accession: {"sequence": str, "data": [[question, answer], ...]}}`.'),
    reader="the published PharMolix/UniProtQA files (BioMedGPT-10B)",
    write=write,
)

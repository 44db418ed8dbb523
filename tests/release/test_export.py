"""`lifeqa export`: every format read back, with readers written from the layouts issue 12 gives (not
with the writer's code), holds exactly the release's QA pairs; the bytes are the same on every run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from releases import write_release
from typer.testing import CliRunner

from etl.cli import app
from etl.release.exports import exports

SPLITS = ("train", "validation", "test")
QUESTION = "Please describe this molecule."


# -- readers, from the description of each layout ----------------------------------------


def load_object(path: Path) -> dict:
    """A JSON object, insisting that no key appears twice (json.load would keep the last silently)."""

    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), f"{path}: repeated keys"
        return dict(pairs)

    return json.loads(path.read_text(), object_pairs_hook=no_duplicates)


def first_line(path: Path) -> list:
    """What OpenBioMed's loaders do: `json.loads(f.readlines()[0])`."""
    lines = path.read_text().splitlines()
    assert len(lines) == 1, f"{path} is not one line"
    return json.loads(lines[0])


def read_uniprotqa_hf(out: Path) -> dict[str, Counter]:
    """train.json / valid.json / test.json: {accession: {"sequence": str, "data": [[q, a], ...]}}."""
    found = {}
    for split, name in zip(SPLITS, ("train.json", "valid.json", "test.json")):
        document = load_object(out / name)
        found[split] = Counter((acc, entry["sequence"], q, a) for acc, entry in document.items() for q, a in entry["data"])
    return found


def read_openbiomed_pqa(out: Path) -> dict[str, Counter]:
    """sequences.json {accession: sequence}; train/val/test.json: one-line lists of
    {"protein_accession": [accession], "question", "answer"}."""
    sequences = load_object(out / "sequences.json")
    found = {}
    for split, name in zip(SPLITS, ("train.json", "val.json", "test.json")):
        samples = first_line(out / name)
        assert all(set(s) == {"protein_accession", "question", "answer"} for s in samples)
        found[split] = Counter((s["protein_accession"][0], sequences[s["protein_accession"][0]], s["question"],
                                s["answer"]) for s in samples)
    return found


def read_openbiomed_mqa(out: Path) -> dict[str, Counter]:
    """train/val/test.json: one-line lists of {"smiles": [smiles], "question", "answer"}."""
    found = {}
    for split, name in zip(SPLITS, ("train.json", "val.json", "test.json")):
        samples = first_line(out / name)
        assert all(set(s) == {"smiles", "question", "answer"} and len(s["smiles"]) == 1 for s in samples)
        found[split] = Counter((s["smiles"][0], s["question"], s["answer"]) for s in samples)
    return found


def read_chemblqa(out: Path, prefix: str = "ChEMBL_QA") -> dict[str, Counter]:
    """{prefix}_train.json / {prefix}_test.json (and the validation split in {prefix}_val.json):
    {smiles: [[question, answer], ...]}, read the way OpenBioMed v1's ChEMBLQA reads them."""
    found = {}
    for split, suffix in zip(SPLITS, ("train", "val", "test")):
        data = load_object(out / f"{prefix}_{suffix}.json")
        found[split] = Counter((smi, question[0], str(question[1])) for smi in data for question in data[smi])
    return found


READERS = {"uniprotqa-hf": read_uniprotqa_hf, "openbiomed-pqa": read_openbiomed_pqa,
           "openbiomed-mqa": read_openbiomed_mqa, "chemblqa": read_chemblqa}
PROTEIN_COLUMNS = ["accession", "sequence", "question", "answer"]
MOLECULE_COLUMNS = ["smiles", "question", "answer"]


def release_pairs(release: Path, columns: list[str]) -> dict[str, Counter]:
    """The QA pairs of each split, straight from the release's parquet files."""
    found = {}
    for split in SPLITS:
        rows = pq.read_table(sorted((release / "data").glob(f"{split}-*.parquet")), columns=columns).to_pylist()
        found[split] = Counter(tuple(row[c] for c in columns) for row in rows)
    return found


def export(release: Path, fmt: str, out: Path, *extra: str):
    return CliRunner().invoke(app, ["export", str(release), "--format", fmt, "--out", str(out), *extra])


def exported(release: Path, fmt: str, out: Path, *extra: str) -> Path:
    result = export(release, fmt, out, *extra)
    assert result.exit_code == 0, result.output
    return out


# -- small releases, several shards per split, written without Spark ----------------------------


def protein_rows() -> list[dict]:
    fields = {"function": "What is the function of this protein?", "names": "What are the official names of this protein?",
              "family": "What is the protein family that this protein belongs to?",
              "location": "What are the subcellular locations of this protein?"}
    rows = []
    for index in range(14):
        accession = f"P{index:05d}"
        for field in list(fields)[: 1 + index % 4]:
            rows.append({"accession": accession, "sequence": "MK" + "ACDEFGHIKLMNPQRSTVWY"[index:] + "G" * index,
                         "field": field, "question": fields[field], "split": SPLITS[index % 3],
                         "answer": f"Binds Zn²⁺ — α/β fold {index}; \"quoted\" \\ {field}"})
    return rows


def molecule_rows() -> list[dict]:
    """CIDs 3 and 11 share a SMILES (as CIDs do once normalized to their parent); the release is sorted by
    CID, so their rows lie in different shards; the validation split is empty."""
    rows = []
    for cid in range(1, 13):
        smiles = "CCO" if cid in (3, 11) else "C" * cid + "N"
        for n in range(1 + cid % 2):
            rows.append({"cid": cid, "smiles": smiles, "question": QUESTION, "split": ("train", "test")[cid % 2],
                         "source_name": f"depositor {n}", "source_id": str(n),
                         "answer": f"This molecule is a café-coloured ☃ compound #{cid}.{n}"})
    return rows


@pytest.fixture(scope="module")
def small_releases(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("small")
    return {"protein": write_release(root / "uniprotqa", "uniprotqa", protein_rows()),
            "molecule": write_release(root / "pubchemqa", "pubchemqa", molecule_rows())}


FORMATS = [("uniprotqa-hf", "protein"), ("openbiomed-pqa", "protein"), ("openbiomed-mqa", "molecule"),
           ("chemblqa", "molecule")]


def test_the_registry_holds_one_module_per_format():
    assert {name: e.entity_kind for name, e in exports().items()} == dict(FORMATS)


@pytest.mark.parametrize(("fmt", "kind"), FORMATS)
def test_every_format_round_trips_a_sharded_release(small_releases, tmp_path, fmt, kind):
    release = small_releases[kind]
    assert len(list((release / "data").glob("train-*.parquet"))) == 3
    out = exported(release, fmt, tmp_path / fmt)
    columns = PROTEIN_COLUMNS if kind == "protein" else MOLECULE_COLUMNS
    assert READERS[fmt](out) == release_pairs(release, columns)


@pytest.mark.parametrize(("fmt", "kind"), FORMATS)
def test_output_bytes_are_deterministic_and_plain_json(small_releases, tmp_path, fmt, kind):
    first = exported(small_releases[kind], fmt, tmp_path / "a")
    second = exported(small_releases[kind], fmt, tmp_path / "b")
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        data = (first / name).read_bytes()
        assert data == (second / name).read_bytes(), name
        if name.endswith(".json"):
            assert data.isascii() and data.count(b"\n") == 1
            assert data.decode() == json.dumps(json.loads(data)) + "\n"  # what json.dump of the whole would write
    assert not any(p.name.startswith(".") for p in first.rglob("*"))  # the sort scratch is gone


def test_shared_smiles_are_one_key_with_every_pair(small_releases, tmp_path):
    out = exported(small_releases["molecule"], "chemblqa", tmp_path / "c")
    test = load_object(out / "ChEMBL_QA_test.json")
    assert list(test) == sorted(test)
    assert [a for _, a in test["CCO"]] == ["This molecule is a café-coloured ☃ compound #3.0",
                                            "This molecule is a café-coloured ☃ compound #3.1",
                                            "This molecule is a café-coloured ☃ compound #11.0",
                                            "This molecule is a café-coloured ☃ compound #11.1"]
    assert load_object(out / "ChEMBL_QA_val.json") == {}


def test_prefix_renames_the_chemblqa_files(small_releases, tmp_path):
    out = exported(small_releases["molecule"], "chemblqa", tmp_path / "p", "--prefix", "PubChem_QA")
    assert sorted(p.name for p in out.iterdir()) == ["PubChem_QA_test.json", "PubChem_QA_train.json",
                                                     "PubChem_QA_val.json", "README.md"]
    assert read_chemblqa(out, "PubChem_QA") == release_pairs(small_releases["molecule"], MOLECULE_COLUMNS)


def test_readme_names_the_release_and_counts(small_releases, tmp_path):
    release = small_releases["protein"]
    manifest = json.loads((release / "manifest.json").read_text())
    readme = (exported(release, "openbiomed-pqa", tmp_path / "r") / "README.md").read_text()
    assert f"dataset `uniprotqa`, version `2026.1`, content_sha256 `{manifest['content_sha256']}`" in readme
    pairs = release_pairs(release, PROTEIN_COLUMNS)
    assert f"| `sequences.json` | all | 14 |  |" in readme
    assert f"| `train.json` | train |  | {sum(pairs['train'].values())} |" in readme


@pytest.mark.parametrize(("fmt", "kind", "message"), [
    ("chemblqa", "protein", "format chemblqa is for molecule datasets; uniprotqa is about proteins "
                            "(its formats: openbiomed-pqa, uniprotqa-hf)"),
    ("openbiomed-pqa", "molecule", "format openbiomed-pqa is for protein datasets"),
])
def test_a_format_for_the_other_kind_is_refused(small_releases, tmp_path, fmt, kind, message):
    result = export(small_releases[kind], fmt, tmp_path / "x")
    assert result.exit_code == 1 and message in " ".join(result.output.split())
    assert not (tmp_path / "x").exists()


def test_usage_errors_are_one_line(small_releases, tmp_path):
    prefix = export(small_releases["protein"], "uniprotqa-hf", tmp_path / "a", "--prefix", "X")
    assert prefix.exit_code == 1 and "--prefix names the files of chemblqa only" in prefix.output
    not_a_release = export(tmp_path, "uniprotqa-hf", tmp_path / "b")
    assert not_a_release.exit_code == 2 and "is not a release directory (no manifest.json)" in not_a_release.output
    exported(small_releases["protein"], "uniprotqa-hf", tmp_path / "c")
    assert (exported(small_releases["protein"], "uniprotqa-hf", tmp_path / "new" / "dirs") / "train.json").is_file()
    (tmp_path / "file").write_text("")
    under_a_file = export(small_releases["protein"], "uniprotqa-hf", tmp_path / "file" / "out")
    assert under_a_file.exit_code == 2 and "is a file, not a directory" in under_a_file.output
    again = export(small_releases["protein"], "uniprotqa-hf", tmp_path / "c")
    assert again.exit_code == 1 and "use --force" in again.output
    assert export(small_releases["protein"], "uniprotqa-hf", tmp_path / "c", "--force").exit_code == 0


def test_a_release_out_of_its_declared_order_is_refused(tmp_path):
    """A keyed object needs each entity's rows together; rows not sorted as the dataset says stop the export."""
    release = write_release(tmp_path / "rel", "uniprotqa", protein_rows(), shards=1)
    shard = next((release / "data").glob("train-*.parquet"))
    table = pq.read_table(shard)
    pq.write_table(table.take(list(reversed(range(table.num_rows)))), shard)
    result = export(release, "uniprotqa-hf", tmp_path / "x")
    assert result.exit_code == 1 and "rows are not sorted by their key" in result.output


# -- the releases the CLI builds from the bundled sample ------------------------------------------


@pytest.mark.spark
@pytest.mark.parametrize("fmt", ["uniprotqa-hf", "openbiomed-pqa"])
def test_built_uniprotqa_round_trips(uniprotqa_release, tmp_path, fmt):
    out = exported(uniprotqa_release, fmt, tmp_path / fmt)
    assert READERS[fmt](out) == release_pairs(uniprotqa_release, PROTEIN_COLUMNS)


@pytest.mark.spark
@pytest.mark.parametrize("fmt", ["openbiomed-mqa", "chemblqa"])
def test_built_pubchemqa_round_trips(pubchemqa_release, tmp_path, fmt):
    out = exported(pubchemqa_release, fmt, tmp_path / fmt)
    assert READERS[fmt](out) == release_pairs(pubchemqa_release, MOLECULE_COLUMNS)

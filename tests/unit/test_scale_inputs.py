"""benchmarks/make_pubchem_scale.py at a tiny scale: real records under fresh CIDs, in formats the build reads."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from etl.parse.pubchem import detect_pubchem_format, iter_pubchem_records
from etl.pipeline.inputs import is_documentation
from etl.quality.rejects import Rejected

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "make_pubchem_scale.py"
DESCRIBED, ROWS, PER_PAGE = 60, 2_000, 25


def parsed(data: bytes, name: str) -> list[dict]:
    fmt = detect_pubchem_format(data[:65536], name)
    return list(iter_pubchem_records(io.BytesIO(data), name, fmt))


def generate(shared: Path, out: Path, *options: str) -> Path:
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--described", str(DESCRIBED),
                    "--cid-smiles-rows", str(ROWS), "--per-page", str(PER_PAGE), "--shared", str(shared), *options],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def generated(shared_data, tmp_path_factory) -> Path:
    return generate(shared_data, tmp_path_factory.mktemp("pubchem_scale"), "--gzip")


@pytest.fixture(scope="module")
def real(shared_data) -> dict[str, set]:
    """Every CID, SMILES and description text of the real PubChem files, as the build's parser reads them."""
    found = {"cid": set(), "smiles": set(), "text": set()}
    for path in sorted(p for p in (shared_data / "pubchem").rglob("*") if p.is_file()):
        try:
            records = parsed(path.read_bytes(), path.name)
        except Rejected:  # files in no PubChem format (taxonomy, pathways)
            continue
        for record in records:
            for key in found:
                if key in record:
                    found[key].add(record[key])
    return found


@pytest.fixture(scope="module")
def pages(generated) -> list[Path]:
    return sorted((generated / "annotations").glob("*.json"))


@pytest.fixture(scope="module")
def descriptions(pages) -> list[dict]:
    return [record for page in pages for record in parsed(page.read_bytes(), page.name)]


@pytest.fixture(scope="module")
def structures(generated) -> list[dict]:
    return parsed(gzip.decompress((generated / "synthetic_CID-SMILES.gz").read_bytes()), "synthetic_CID-SMILES")


def test_the_build_reads_every_record_and_skips_the_readme(generated, pages, descriptions, structures):
    assert {detect_pubchem_format(page.read_bytes()[:65536], page.name) for page in pages} == {"pug_view_annotations"}
    assert {r["kind"] for r in descriptions} == {"description"} and {r["kind"] for r in structures} == {"structure"}
    readme = generated / "README.md"
    text = readme.read_text()
    assert is_documentation(readme) and "Synthetic" in text and "NCBI public-domain" in text
    # The shared data's attribution of every file it is made from.
    for source in ("blender-nlp/MolT5", "cheminfo/pubchem", "unix-follower/pubchem-cid4-analysis", "Debian r-bioc-rcpi"):
        assert source in text


def test_row_and_page_counts(pages, descriptions, structures):
    assert len(structures) == ROWS and len({r["cid"] for r in descriptions}) == DESCRIBED
    assert len(pages) == -(-len(descriptions) // PER_PAGE)
    numbering = [json.loads(page.read_text())["Annotations"] for page in pages]
    assert [(a["Page"], a["TotalPages"]) for a in numbering] == [(n, len(pages)) for n in range(1, len(pages) + 1)]


def test_fresh_cids_are_unique_and_no_real_cid(structures, real):
    cids = [r["cid"] for r in structures]
    assert len(set(cids)) == len(cids) == ROWS and cids == sorted(cids)
    assert not set(cids) & real["cid"]


def test_described_cids_carry_real_texts_and_their_structures_are_in_cid_smiles(descriptions, structures, real):
    smiles_of = {r["cid"]: r["smiles"] for r in structures}
    assert {r["cid"] for r in descriptions} <= set(smiles_of)
    assert {r["text"] for r in descriptions} <= real["text"]
    assert set(smiles_of.values()) <= real["smiles"]
    # Most rows are CIDs that no description names, as in PubChem's CID-SMILES.
    described = {r["cid"] for r in descriptions}
    assert sum(r["cid"] not in described for r in structures) == ROWS - DESCRIBED


def test_the_same_seed_gives_the_same_records(shared_data, generated, tmp_path):
    again = generate(shared_data, tmp_path / "again")  # not gzipped this time
    assert (again / "synthetic_CID-SMILES").read_bytes() == gzip.decompress(
        (generated / "synthetic_CID-SMILES.gz").read_bytes())
    assert [p.read_bytes() for p in sorted((again / "annotations").glob("*.json"))] == [
        p.read_bytes() for p in sorted((generated / "annotations").glob("*.json"))]

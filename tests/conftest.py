"""Shared fixtures: the real data in ../shared/data and one SparkSession per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    path = Path(os.environ.get("LIFEQA_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        raise FileNotFoundError(f"real test data not found at {path}; set LIFEQA_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_data_dir()


@pytest.fixture(scope="session")
def cid_smiles(shared_data) -> bytes:
    """A bulk CID-SMILES file of the real ChEBI-20 structures, with what the line reader must skip or
    reject in it: blank and whitespace-only lines, a line that is not UTF-8, one with three fields."""
    rows = (shared_data / "pubchem" / "chebi20_test.tsv").read_text().splitlines()[1:]
    lines = [f"{cid}\t{smiles}".encode() for cid, smiles, _ in (row.split("\t") for row in rows)]
    for at, damage in [(5, b""), (6, b"  \t"), (700, b"7\tC\xff"), (1500, b"8\tC\tC"), (2200, b""), (2201, b"")]:
        lines.insert(at, damage)
    return b"\n".join(lines) + b"\n"


@pytest.fixture(scope="session")
def spark():
    from etl.spark import get_spark

    # One JVM serves every in-process build of the session (some 40 of them, ~5,000 Spark stages):
    # the 2 GB a single `lifeqa build` gets ran out of aggregation memory late in the suite.
    session = get_spark(master="local[2]", app_name="lifeqa-tests", extra_conf={"spark.driver.memory": "6g"})
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def release_cached_tables(request):
    """A test that builds stages directly leaves them persisted; the next test starts with none."""
    yield
    if "spark" in request.fixturenames:
        request.getfixturevalue("spark").catalog.clearCache()


def build_release(dataset: str, out: Path, *extra: str) -> Path:
    """Run `lifeqa build DATASET` in-process (sharing the test SparkSession) and insist it succeeds."""
    from typer.testing import CliRunner

    from etl.cli import app

    result = CliRunner().invoke(app, ["build", dataset, "--out", str(out), "--master", "local[2]", *extra])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def build(spark):
    """`build(dataset, out, *extra_args) -> out`: a release built through the CLI."""
    return build_release


@pytest.fixture(scope="session")
def uniprotqa_release(tmp_path_factory, spark) -> Path:
    """UniProtQA built by `lifeqa build uniprotqa` from the bundled sample."""
    return build_release("uniprotqa", tmp_path_factory.mktemp("releases") / "uniprotqa")


@pytest.fixture(scope="session")
def pubchemqa_release(tmp_path_factory, spark) -> Path:
    """PubChemQA built by `lifeqa build pubchemqa` from the bundled sample."""
    return build_release("pubchemqa", tmp_path_factory.mktemp("releases") / "pubchemqa")

"""Two UniProtQA versions in one registry: 2026.11 from the first 120 records of the real flat file,
2026.12 from the whole uniprot directory with its splits pinned to 2026.11 (`--previous uniprotqa@latest`)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIRST_RECORDS = 120


def lifeqa(*args: str):
    """Run the CLI in-process (sharing the test SparkSession); return click's result."""
    from typer.testing import CliRunner

    from etl.cli import app

    return CliRunner().invoke(app, list(args))


def first_records(flat: Path, out: Path, count: int) -> Path:
    """The first `count` records of a UniProt flat file, cut at its `//` lines."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"\n//\n".join(flat.read_bytes().split(b"\n//\n")[:count]) + b"\n//\n")
    return out


def build_version(root: Path, version: str, *extra: str):
    return lifeqa("build", "uniprotqa", "--registry", str(root), "--version", version, "--master", "local[2]", *extra)


@pytest.fixture(scope="session")
def subset_input(tmp_path_factory, shared_data) -> Path:
    return first_records(shared_data / "uniprot" / "uniprotkb_sample.dat",
                         tmp_path_factory.mktemp("v1-input") / "first.dat", FIRST_RECORDS)


@pytest.fixture(scope="session")
def registry_versions(tmp_path_factory, spark, shared_data, subset_input) -> Path:
    """The registry root holding uniprotqa@2026.11 (subset) and uniprotqa@2026.12 (superset)."""
    root = tmp_path_factory.mktemp("registry")
    for version, extra in [("2026.11", ["--input", str(subset_input)]),
                           ("2026.12", ["--input", str(shared_data / "uniprot"), "--previous", "uniprotqa@latest"])]:
        result = build_version(root, version, *extra)
        assert result.exit_code == 0, result.output
    return root

"""`pip install .` gives a complete lifeqa: the wheel carries the code, schemas/, pipelines/,
the bundled sample and etl/resources, and `lifeqa build` works from anywhere with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What a checkout holds that is not source: setuptools and the dev setup write these.
TOP_LEVEL_NOT_SOURCE = {".git", ".venv", "build", "dist", "out", "spark-warehouse", "metastore_db"}


def not_source(directory: str, names: list[str]) -> set[str]:
    top = Path(directory) == REPO
    return {n for n in names
            if n in {"__pycache__", ".pytest_cache"} or n.endswith(".egg-info") or (top and n in TOP_LEVEL_NOT_SOURCE)}


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip wheel` builds from a copy of the checkout.

    Built from a copy because setuptools writes build/ and lifeqa.egg-info/ into the
    source folder, and a build/lib left by an earlier build would carry modules since
    deleted from the tree into the wheel; a copy keeps the check hermetic and the
    checkout untouched.
    """
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(REPO, source, ignore=not_source)
    dist = tmp / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(dist), str(source)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = dist.glob("lifeqa-*.whl")
    return built


def test_wheel_carries_code_schemas_pipelines_sample_and_resources(wheel):
    # Expected from the source tree itself, so a package missing from pyproject's
    # explicit `packages` list, or a new schema, fails here.
    expected = {f"etl/schemas/{p.name}" for p in (REPO / "schemas").glob("*.yaml")}
    expected |= {f"etl/pipelines/{p.name}" for p in (REPO / "pipelines").glob("*.yaml")}
    for data in ("etl/sample", "etl/resources"):
        expected |= {p.relative_to(REPO).as_posix() for p in files_under(REPO / data)}
    expected |= {p.relative_to(REPO).as_posix() for p in files_under(REPO / "etl") if p.suffix == ".py"}
    # Guards the comparison itself: an empty expectation (a wrong REPO) would pass.
    assert {"etl/schemas/rejects.yaml", "etl/pipelines/uniprotqa.yaml", "etl/cli.py"} <= expected

    with zipfile.ZipFile(wheel) as zf:
        missing = sorted(expected - set(zf.namelist()))
    assert not missing, f"{wheel.name} lacks {len(missing)} source files: {missing}"


@pytest.mark.slow
@pytest.mark.spark
def test_wheel_installed_in_fresh_venv_builds_uniprotqa_outside_the_repository(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The dev environment's pip installs into the new venv (--python), before the
    # new venv can see the dev site-packages, so it cannot mistake the dev
    # environment's editable lifeqa for this install.
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    # Dependencies come from the dev environment: its site-packages as a .pth line. A
    # folder added that way has its own .pth files left unprocessed, so the dev
    # environment's editable-install finder (which maps `etl` to the checkout) stays out.
    venv_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    dev_sites = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    Path(venv_site, "lifeqa-test-dev-site-packages.pth").write_text("".join(f"{d}\n" for d in dev_sites))

    work = tmp_path / "elsewhere"
    work.mkdir()
    assert not work.resolve().is_relative_to(REPO)
    # Nothing may point the new venv back at the checkout or at the dev interpreter
    # (an in-process Spark test session sets PYSPARK_PYTHON to it).
    env = {k: v for k, v in os.environ.items()
           if k not in {"LIFEQA_HOME", "PYTHONPATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "VIRTUAL_ENV"}}

    probe = subprocess.run(
        [str(python), "-c", "import sys, etl, etl.paths; print(etl.__file__); print(etl.paths.schemas_dir()); "
                            "print(any(name.startswith('__editable__') for name in sys.modules))"],
        cwd=work, env=env, capture_output=True, text=True,
    )
    assert probe.returncode == 0, probe.stderr
    package_file, schemas, editable_finder_loaded = probe.stdout.splitlines()
    assert editable_finder_loaded == "False", "the dev environment's editable-install finder leaked in"
    package_file, schemas = Path(package_file).resolve(), Path(schemas).resolve()
    assert package_file.is_relative_to(venv.resolve()), f"etl imported from {package_file}, not the new venv"
    assert schemas.is_relative_to(venv.resolve()), f"schemas read from {schemas}, not the new venv"

    out = work / "uniprotqa"
    build = subprocess.run(
        [str(venv / "bin" / "lifeqa"), "build", "uniprotqa", "--out", str(out)],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["reconciled"] is True

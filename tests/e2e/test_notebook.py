"""The exploration notebook runs top to bottom on the releases the builds make from the bundled sample."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.spark, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "explore_release.ipynb"


@pytest.mark.parametrize("release_fixture", ["uniprotqa_release", "pubchemqa_release"])
def test_notebook_executes_on_a_release(release_fixture, request, monkeypatch):
    release = request.getfixturevalue(release_fixture)
    monkeypatch.setenv("LIFEQA_RELEASE", str(release))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(release)}}).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["content_sha256"][:16] in outputs
    assert "entities shared between splits" in outputs
    assert "rows per field shown" in outputs and all(path in outputs for path in manifest["plots"].values())
    images = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) == len(manifest["plots"])
    assert (release.parent / f"{release.name}-overview.png").stat().st_size > 10_000
    assert os.environ["LIFEQA_RELEASE"] == str(release)

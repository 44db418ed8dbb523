"""The version-comparison notebook runs top to bottom on the two versions the registry tests build."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.spark, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "compare_versions.ipynb"


def test_the_comparison_notebook_executes_on_two_versions(registry_versions, monkeypatch, tmp_path):
    plot = tmp_path / "diff.png"
    monkeypatch.setenv("LIFEQA_REGISTRY", str(registry_versions))
    monkeypatch.setenv("LIFEQA_OLD", "uniprotqa@2026.11")
    monkeypatch.setenv("LIFEQA_NEW", "uniprotqa@latest")
    monkeypatch.setenv("LIFEQA_DIFF_PLOT", str(plot))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "uniprotqa 2026.11 -> 2026.12" in outputs and "'removed': 0" in outputs
    assert plot.stat().st_size > 10_000

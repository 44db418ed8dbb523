"""How the embedding modules import each other: one way only, and torch only where it is needed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import etl.embed

EMBED_DIR = Path(etl.embed.__file__).parent


def imported_embed_modules(source: Path) -> set[str]:
    """The etl.embed modules a file imports, at its top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "etl.embed":
            found |= {f"etl.embed.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {name for name in found if name.startswith("etl.embed.")}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every path module -> ... -> module of the graph (depth first, each cycle once per start)."""
    cycles = []

    def walk(path: list[str]) -> None:
        for child in sorted(graph.get(path[-1], ())):
            if child == path[0]:
                cycles.append(path + [child])
            elif child not in path:
                walk(path + [child])

    for module in sorted(graph):
        walk([module])
    return cycles


def test_no_embed_module_imports_a_module_that_imports_it_back():
    graph = {f"etl.embed.{path.stem}": imported_embed_modules(path) for path in EMBED_DIR.glob("*.py") if path.stem != "__init__"}
    assert "etl.embed.esm2" in graph["etl.embed.encoders"]  # the scan does see the registry's imports
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"], ["b", "c", "a", "b"], ["c", "a", "b", "c"]]


@pytest.mark.parametrize("modules", ["etl.embed.encoders, etl.embed.esm2, etl.embed.gin", "etl.embed.gin, etl.embed.esm2, etl.embed.encoders"])
def test_registry_and_encoders_import_in_any_order_in_a_fresh_process(modules):
    result = subprocess.run([sys.executable, "-c", f"import {modules}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_command_line_vocabulary_and_featurizer_import_without_torch():
    # The vocabulary is read by normalization, which runs without torch; `lifeqa` starts without it too.
    modules = "etl.embed.commands, etl.embed.encoder, etl.embed.featurize, etl.normalize.gin_vocabulary, etl.normalize.molecules"
    script = f"import sys, {modules}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"

"""`lifeqa embed`'s options: fixed choices checked by the command line, library errors shown with their flag.

These tests mount the embed command in an app of their own, so they need neither a built release nor torch.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main
from typer.testing import CliRunner

import etl.embed as embed_package
from etl.embed.commands import FLAGS, embed
from etl.normalize import gin_vocabulary, molecules


LIBRARY_SOURCES = [p for p in Path(embed_package.__file__).parent.glob("*.py") if p.name != "commands.py"] + [
    Path(molecules.__file__), Path(gin_vocabulary.__file__)]
CHOICES = {"--dtype": ["fp16", "bf16", "fp32"], "--pooling": ["none", "mean", "both"],
           "--long": ["truncate", "windows"], "--device": ["cpu", "cuda"]}


def embed_app() -> typer.Typer:
    """The embed command alone, mounted as `lifeqa` mounts it (in a group, so it is invoked by name)."""
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command()(embed)
    return app


def flat(output: str) -> str:
    """CLI output without rich's box drawing and line wrapping."""
    return " ".join(output.replace("│", " ").split())


@pytest.mark.parametrize("option, choices", sorted(CHOICES.items()))
def test_a_value_outside_an_options_choices_is_a_usage_error_listing_them(option, choices, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the command ran")

    monkeypatch.setattr("etl.embed.encoders.resolve_encoder", never)
    result = CliRunner().invoke(embed_app(), ["embed", str(tmp_path), "--encoder", "graphmvp_gin", option, "nonsense"])
    assert result.exit_code == 2, result.output
    assert all(f"'{choice}'" in flat(result.output) for choice in choices), result.output


# Run in a fresh process, so that "torch was never imported" is a fact about this command line alone.
WRONG_DTYPE = """
import json, sys
from typer.testing import CliRunner
from tests.embed.test_cli_options import embed_app
result = CliRunner().invoke(embed_app(), ["embed", sys.argv[1], "--encoder", "esm2_t6_8M_UR50D", "--weights", "random", "--dtype", "fp8"])
print(json.dumps({"exit_code": result.exit_code, "output": result.output, "torch": "torch" in sys.modules}))
"""


def test_embed_with_dtype_fp8_exits_2_without_importing_torch(tmp_path):
    run = subprocess.run([sys.executable, "-c", WRONG_DTYPE, str(tmp_path)], capture_output=True, text=True,
                         cwd=Path(__file__).parents[2])
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert (result["exit_code"], result["torch"]) == (2, False), result["output"]
    assert "'fp8' is not one of 'fp16', 'bf16', 'fp32'" in flat(result["output"])


def test_a_library_error_reaches_the_command_line_with_the_flag_at_fault(tmp_path):
    result = CliRunner().invoke(embed_app(), ["embed", str(tmp_path), "--encoder", "graphmvp_gin", "--weights", "random", "--layer", "9"])
    assert result.exit_code == 2
    assert "error: --layer: layer 9 is outside 1..5" in result.output


def raised_strings(source: Path) -> list[tuple[int, str]]:
    """(line, text) of every string constant in the file's raise statements, f-string parts included."""
    return [
        (node.lineno, node.value)
        for statement in ast.walk(ast.parse(source.read_text()))
        if isinstance(statement, ast.Raise)
        for node in ast.walk(statement)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_library_error_messages_name_no_flags():
    assert any("refusing to load" in text for _, text in raised_strings(Path(embed_package.__file__).parent / "encoder.py"))
    flags = [(source.name, line, text) for source in LIBRARY_SOURCES for line, text in raised_strings(source) if "--" in text]
    assert flags == []


def test_every_setting_a_library_error_names_is_a_flag_of_the_command():
    settings = {
        keyword.value.value
        for source in LIBRARY_SOURCES
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "setting" and isinstance(keyword.value, ast.Constant)
    }
    assert settings == set(FLAGS)  # every setting named has a flag, and every flag listed is named by some error
    options = {opt for param in typer.main.get_command(embed_app()).commands["embed"].params for opt in param.opts}
    assert set(FLAGS.values()) <= options

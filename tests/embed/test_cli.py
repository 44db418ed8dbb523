"""`lifeqa embed` from the command line."""

from __future__ import annotations

from typer.testing import CliRunner

from etl.cli import app
from etl.embed import EmbeddingStore
from etl.embed.release import open_release


def test_embed_command_fills_a_store_and_summarises(pubchemqa_release, tmp_path):
    store_dir = tmp_path / "gin"
    args = ["embed", str(pubchemqa_release), "--encoder", "graphmvp_gin", "--weights", "random",
            "--out", str(store_dir), "--dtype", "bf16", "--pooling", "mean", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    entities = open_release(pubchemqa_release).entities()
    assert f"{len(entities):,} embedded" in result.output and "atoms/s" in result.output
    store = EmbeddingStore(store_dir)
    assert len(store) == len(entities) and store.get(next(iter(entities))).shape == (300,)
    again = CliRunner().invoke(app, args)
    assert f"{len(entities):,} already in the store, 0 embedded" in again.output


def test_missing_weights_are_a_clear_error(pubchemqa_release, tmp_path, monkeypatch):
    monkeypatch.setenv("LIFEQA_WEIGHTS_DIR", str(tmp_path / "weights"))
    result = CliRunner().invoke(app, ["embed", str(pubchemqa_release), "--encoder", "graphmvp_gin", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "graphmvp_gin.pth" in result.output and "never downloads" in result.output
    assert "error: --weights: GraphMVP GIN checkpoint not found" in result.output


def test_a_failed_first_run_leaves_no_store_behind(tmp_path):
    # A UniProtQA release (its manifest is all the check reads) cannot be embedded by the GIN:
    # the run stops after taking the store's lock, and the directory it created goes again.
    release = tmp_path / "release"
    release.mkdir()
    (release / "manifest.json").write_text('{"dataset": "uniprotqa", "version": "1"}')
    store_dir = tmp_path / "store"
    result = CliRunner().invoke(app, ["embed", str(release), "--encoder", "graphmvp_gin", "--weights", "random",
                                      "--out", str(store_dir), "--quiet"])
    assert result.exit_code != 0 and "embeds atoms" in result.output
    assert not store_dir.exists()

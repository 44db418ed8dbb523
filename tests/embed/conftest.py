"""Fixtures for the embedding tests: tiny ESM-2 weights, a store, and `write_release` for
cut-down releases. The releases themselves (`uniprotqa_release`, `pubchemqa_release`) are the real
ones `lifeqa build` makes from the bundled sample (tests/conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest



def write_release(directory: Path, dataset: str, rows: list[dict]) -> Path:
    """A release directory: README.md, manifest.json and one parquet file per split."""
    (directory / "data").mkdir(parents=True)
    schema = pa.Table.from_pylist(rows).schema
    for split in ("train", "validation", "test"):
        table = pa.Table.from_pylist([r for r in rows if r["split"] == split], schema=schema)
        pq.write_table(table, directory / "data" / f"{split}-00000-of-00001.parquet")
    (directory / "manifest.json").write_text(json.dumps({"dataset": dataset, "version": "test"}))
    (directory / "README.md").write_text(f"---\nconfigs: []\n---\n# {dataset} (test fixture)\n")
    return directory


TINY_ESM = "esm2_t2_tiny"  # not a published model: its architecture is read from the checkpoint's config


def save_fair_esm_checkpoint(path: Path, layers: int, dim: int, heads: int) -> Path:
    """A randomly initialised ESM-2 saved in fair-esm's hub checkpoint format ({"model", "cfg"})."""
    from argparse import Namespace

    import esm
    import torch

    torch.manual_seed(1)
    model = esm.model.esm2.ESM2(num_layers=layers, embed_dim=dim, attention_heads=heads, alphabet="ESM-1b")
    cfg = Namespace(encoder_layers=layers, encoder_embed_dim=dim, encoder_attention_heads=heads, token_dropout=True)
    state = {f"encoder.sentence_encoder.{name}": value for name, value in model.state_dict().items()}
    torch.save({"model": state, "cfg": {"model": cfg}}, path)
    return path


@pytest.fixture(scope="session")
def tiny_esm_weights(tmp_path_factory) -> Path:
    return save_fair_esm_checkpoint(tmp_path_factory.mktemp("weights") / f"{TINY_ESM}.pt", layers=2, dim=64, heads=4)


@pytest.fixture(scope="session")
def esm_store(uniprotqa_release, tiny_esm_weights, tmp_path_factory):
    """The whole UniProtQA release embedded by a small ESM-2 (per-token and pooled, fp16, truncated at 1,022)."""
    from etl.embed.encoders import resolve_encoder
    from etl.embed.runner import embed_release
    from etl.embed.store import EmbeddingStore

    path = tmp_path_factory.mktemp("stores") / "esm"
    summary = embed_release(uniprotqa_release, path, resolve_encoder(TINY_ESM, str(tiny_esm_weights)))
    return EmbeddingStore(path), summary

"""Precomputed encoder embeddings (ESM-2 per residue, GraphMVP GIN per atom) for alignment training.

`lifeqa embed` (etl.embed.commands) fills an embedding store from a release; training reads it back
through `EmbeddingStore` and `qa_with_embeddings` (QA rows with their vectors) + `pad_collate`.
"""

from importlib import import_module

__all__ = ["EmbeddingStore", "QAEmbeddingDataset", "pad_collate", "qa_with_embeddings"]
_HOMES = {"EmbeddingStore": "etl.embed.store", "QAEmbeddingDataset": "etl.embed.feed", "pad_collate": "etl.embed.feed", "qa_with_embeddings": "etl.embed.feed"}


def __getattr__(name: str):
    # Imported on first use, so that `lifeqa` commands other than embed do not pay for importing torch.
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'etl.embed' has no attribute {name!r}")

"""Feeding training: a release's QA rows with their entity's precomputed embeddings.

    from torch.utils.data import DataLoader
    from etl.embed import EmbeddingStore, pad_collate, qa_with_embeddings

    data = qa_with_embeddings("out/uniprotqa", EmbeddingStore("out/embeddings/esm2_t36_3B_UR50D"), split="train")
    for batch in DataLoader(data, batch_size=8, shuffle=True, collate_fn=pad_collate):
        batch["embeddings"]  # (8, longest, 2560) float32, zeros past each entity's length
        batch["mask"]        # (8, longest) bool, True on real residues
        batch["question"], batch["answer"]  # lists of 8 strings

The vectors are read from the store's memory-mapped shards one row at a time, so the dataset's
memory is the QA table's, whatever the size of the store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from etl.embed.encoder import EmbedError
from etl.embed.release import open_release
from etl.embed.store import EmbeddingStore

TEXT_COLUMNS = ["question", "answer"]


class QAEmbeddingDataset(Dataset):
    """QA rows of one split, each with its entity's vectors: (tokens, dim), or (dim,) when pooled."""

    def __init__(self, release_dir: str | Path, store: EmbeddingStore, split: str = "train", pooled: bool = False):
        release = open_release(release_dir)
        table = release.table(split, columns=TEXT_COLUMNS)
        self.store, self.pooled = store, pooled
        self.keys: list[str] = table.column("key").to_pylist()
        self.questions: list[str] = table.column("question").to_pylist()
        self.answers: list[str] = table.column("answer").to_pylist()
        missing = {k for k in self.keys if k not in store}
        if missing:
            raise EmbedError(
                f"{len(missing)} of the {split} split's entities are not in {store.path}; "
                f"embed {release.path} into it first (lifeqa embed)"
            )

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> dict:
        vectors = self.store.get(self.keys[index], pooled=self.pooled)
        return {
            "key": self.keys[index],
            "question": self.questions[index],
            "answer": self.answers[index],
            "embedding": torch.from_numpy(np.array(vectors, dtype=np.float32)),
        }


def qa_with_embeddings(release_dir: str | Path, store: EmbeddingStore | str | Path, split: str = "train", pooled: bool = False) -> QAEmbeddingDataset:
    """The torch Dataset of a release split's QA rows with their embeddings; batch it with pad_collate."""
    if not isinstance(store, EmbeddingStore):
        store = EmbeddingStore(store)
    return QAEmbeddingDataset(release_dir, store, split, pooled)


def pad_collate(items: list[dict]) -> dict:
    """Stack a batch: per-token embeddings right-padded with zeros plus a mask (True = real token); pooled ones stacked."""
    batch = {name: [item[name] for item in items] for name in ("key", "question", "answer")}
    embeddings = [item["embedding"] for item in items]
    if embeddings[0].dim() == 1:
        batch["embeddings"] = torch.stack(embeddings)
        return batch
    lengths = torch.tensor([len(e) for e in embeddings])
    padded = torch.zeros(len(items), int(lengths.max()), embeddings[0].shape[1])
    for row, vectors in enumerate(embeddings):
        padded[row, : len(vectors)] = vectors
    batch["embeddings"] = padded
    batch["mask"] = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
    return batch

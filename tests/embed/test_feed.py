"""Feeding training: QA rows with their embeddings, padded and masked."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from etl.embed import pad_collate, qa_with_embeddings
from etl.embed.encoder import EmbedError
from etl.embed.release import open_release


def test_rows_come_with_their_per_residue_vectors(esm_store, uniprotqa_release):
    store, _ = esm_store
    data = qa_with_embeddings(uniprotqa_release, store.path, split="train")
    table = open_release(uniprotqa_release).table("train")
    assert len(data) == table.num_rows
    assert data[0]["question"] == table.column("question")[0].as_py()
    batch = next(iter(DataLoader(data, batch_size=6, shuffle=False, collate_fn=pad_collate)))
    lengths = [store.length(k) for k in batch["key"]]
    assert batch["embeddings"].shape == (6, max(lengths), 64) and batch["embeddings"].dtype == torch.float32
    assert batch["mask"].sum(1).tolist() == lengths
    for row, key in enumerate(batch["key"]):
        np.testing.assert_array_equal(batch["embeddings"][row, : lengths[row]].numpy(), store.get(key).astype(np.float32))
        assert not batch["embeddings"][row, lengths[row] :].any()  # padding is zeros


def test_pooled_rows_stack(esm_store, uniprotqa_release):
    store, _ = esm_store
    data = qa_with_embeddings(uniprotqa_release, store, split="test", pooled=True)
    batch = pad_collate([data[i] for i in range(4)])
    assert batch["embeddings"].shape == (4, 64) and "mask" not in batch


def test_a_store_missing_entities_is_an_error(esm_store, pubchemqa_release):
    store, _ = esm_store
    with pytest.raises(EmbedError, match="lifeqa embed"):
        qa_with_embeddings(pubchemqa_release, store)

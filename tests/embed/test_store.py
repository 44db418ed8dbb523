"""The store's layout contract: committed shards only, memory-mapped reads, one kind of vector per store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from etl.embed.encoder import EmbedError
from etl.embed.encoders import resolve_encoder
from etl.embed.store import EmbeddingStore, ShardWriter, StoreLock, prepare_store, store_metadata, write_index

DIM = 320


def make_store(path, dtype="fp16", pooling="both", layer=-1):
    prepare_store(path, store_metadata(resolve_encoder("esm2_t6_8M_UR50D", "random", layer=layer), dtype, pooling))
    return path


def vectors(n, seed):
    return torch.randn(n, DIM, generator=torch.Generator().manual_seed(seed))


def to_store(t: torch.Tensor, dtype: str) -> np.ndarray:
    if dtype == "bf16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    return t.to({"fp16": torch.float16, "fp32": torch.float32}[dtype]).numpy()


@pytest.mark.parametrize("dtype", ["fp16", "bf16", "fp32"])
def test_written_vectors_read_back_through_memory_maps(tmp_path, dtype):
    make_store(tmp_path, dtype)
    writer = ShardWriter(tmp_path, dtype, "both", shard_bytes=DIM * 2 * 25)
    data = {f"k{i}": vectors(5 + i, i) for i in range(12)}
    for key, t in data.items():
        writer.add(key, len(t), to_store(t, dtype), to_store(t.mean(0), dtype))
    writer.commit()
    assert len(writer.committed) > 1  # the shard size was reached several times
    store = EmbeddingStore(tmp_path)
    assert sorted(store.keys()) == sorted(data)
    for key, t in data.items():
        got = store.get(key)
        expected = t.to(torch.bfloat16).float() if dtype == "bf16" else t.to({"fp16": torch.float16, "fp32": torch.float32}[dtype]).float()
        np.testing.assert_array_equal(np.asarray(got, dtype=np.float32), expected.numpy())
        assert store.get(key, pooled=True).shape == (DIM,) and store.length(key) == len(t)
    if dtype != "bf16":
        assert isinstance(store.get("k3"), np.memmap)  # a view of the shard file, not a copy


def test_half_written_shards_are_invisible_and_cleared(tmp_path):
    make_store(tmp_path)
    writer = ShardWriter(tmp_path, "fp16", "both", shard_bytes=1 << 30)
    writer.add("done", 3, to_store(vectors(3, 0), "fp16"), to_store(vectors(1, 0)[0], "fp16"))
    writer.commit()
    writer.add("dying", 3, to_store(vectors(3, 1), "fp16"), to_store(vectors(1, 1)[0], "fp16"))  # never committed
    assert EmbeddingStore(tmp_path).keys() == ["done"]
    assert any((tmp_path / "tmp").iterdir())
    make_store(tmp_path)  # the next run
    assert not any((tmp_path / "tmp").iterdir())
    assert EmbeddingStore(tmp_path).keys() == ["done"]


def test_index_and_later_shards_are_both_read(tmp_path):
    make_store(tmp_path, pooling="mean")
    first = ShardWriter(tmp_path, "fp16", "mean", shard_bytes=1 << 30)
    first.add("a", 4, None, to_store(vectors(1, 0)[0], "fp16"))
    first.commit()
    assert write_index(tmp_path) == 1
    second = ShardWriter(tmp_path, "fp16", "mean", shard_bytes=1 << 30)
    second.add("b", 7, None, to_store(vectors(1, 1)[0], "fp16"))
    second.commit()
    store = EmbeddingStore(tmp_path)
    assert sorted(store.keys()) == ["a", "b"] and store.length("b") == 7
    assert store.get("b").shape == (DIM,)  # a pooled-only store returns pooled vectors
    with pytest.raises(KeyError, match="pooling='mean'"):
        store.get("a", pooled=False)


def test_a_store_takes_only_its_own_kind_of_vectors(tmp_path):
    make_store(tmp_path, "fp16", "both")
    make_store(tmp_path, "fp16", "both")  # same encoder, weights, layer, dtype: fine
    with pytest.raises(EmbedError, match="dtype"):
        make_store(tmp_path, "bf16", "both")
    with pytest.raises(EmbedError, match="layer"):
        make_store(tmp_path, "fp16", "both", layer=3)


def test_one_writer_at_a_time(tmp_path):
    with StoreLock(tmp_path):
        with pytest.raises(EmbedError, match="another lifeqa embed"):
            with StoreLock(tmp_path):
                pass
    with StoreLock(tmp_path):
        pass

"""The embedding job on whole releases: one entry per key, truncation, resuming after SIGKILL, incremental runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import Chem

from etl import __version__
from etl.embed.encoders import resolve_encoder
from etl.fileio import file_sha256
from etl.embed.release import open_release
from etl.embed.runner import EmbedOptions, embed_release
from etl.embed.spark import embed_arrow_partition
from etl.embed.store import EmbeddingStore, prepare_store, store_metadata
from tests.embed.conftest import TINY_ESM, write_release

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_one_entry_per_unique_sequence_truncated_at_the_limit(esm_store, uniprotqa_release, tiny_esm_weights):
    store, summary = esm_store
    release = open_release(uniprotqa_release)
    entities = release.entities()
    assert len(release.table()) > len(entities)  # many QA rows share a protein
    assert sorted(store.keys()) == sorted(entities)
    assert summary.embedded == len(entities) and summary.already_stored == 0
    assert any(len(s) > 1022 for s in entities.values())
    for key, sequence in entities.items():
        assert store.length(key) == min(len(sequence), 1022)
        tokens = store.get(key)
        assert tokens.shape == (min(len(sequence), 1022), 64) and tokens.dtype == np.float16
        np.testing.assert_allclose(store.get(key, pooled=True), tokens.astype(np.float32).mean(0), atol=2e-3)
    meta = store.metadata
    assert (meta["encoder"], meta["layer"], meta["dtype"], meta["pooling"]) == (TINY_ESM, 2, "fp16", "both")
    assert meta["weights_sha256"] == file_sha256(tiny_esm_weights) and meta["lifeqa_version"] == __version__
    assert meta["truncation"] == {"long": "truncate", "max_residues": 1022, "overlap": 0}


def test_molecules_in_two_worker_processes(pubchemqa_release, tmp_path):
    summary = embed_release(pubchemqa_release, tmp_path, resolve_encoder("graphmvp_gin", "random"),
                            EmbedOptions(dtype="fp32", pooling="none", shard_mb=0.1), workers=2)
    entities = open_release(pubchemqa_release).entities()
    store = EmbeddingStore(tmp_path)
    assert summary.workers == 2 and sorted(store.keys()) == sorted(entities)
    for key, smiles in entities.items():
        vectors = store.get(key)
        assert vectors.shape == (Chem.MolFromSmiles(smiles).GetNumHeavyAtoms(), 300) and vectors.dtype == np.float32


def test_a_superset_release_embeds_only_the_new_keys(uniprotqa_release, tiny_esm_weights, tmp_path):
    rows = pa.concat_tables(pq.read_table(f) for f in open_release(uniprotqa_release).files()).to_pylist()
    older_keys = sorted({r["sequence_sha256"] for r in rows})[::2]
    older = write_release(tmp_path / "older", "uniprotqa", [r for r in rows if r["sequence_sha256"] in set(older_keys)])
    spec = resolve_encoder(TINY_ESM, str(tiny_esm_weights))
    store_dir = tmp_path / "store"
    first = embed_release(older, store_dir, spec)
    assert first.embedded == len(older_keys)
    # The rate is taken over the embedding alone; the run's seconds also hold loading the model.
    assert 0 < first.embed_seconds < first.seconds and first.tokens_per_second == first.tokens / first.embed_seconds
    before = {key: np.array(EmbeddingStore(store_dir).get(key)) for key in older_keys}

    second = embed_release(uniprotqa_release, store_dir, spec)
    everything = open_release(uniprotqa_release).entities()
    assert second.already_stored == len(older_keys)
    assert second.embedded == len(everything) - len(older_keys)
    store = EmbeddingStore(store_dir)
    assert sorted(store.keys()) == sorted(everything)
    for key, vectors in before.items():
        np.testing.assert_array_equal(store.get(key), vectors)
    assert embed_release(uniprotqa_release, store_dir, spec).embedded == 0


def test_a_sigkilled_run_resumes_to_a_complete_store(uniprotqa_release, tiny_esm_weights, tmp_path):
    store_dir = tmp_path / "store"
    command = [sys.executable, "-m", "etl.cli", "embed", str(uniprotqa_release), "--encoder", TINY_ESM,
               "--weights", str(tiny_esm_weights), "--out", str(store_dir), "--shard-mb", "0.2",
               "--max-tokens", "1024", "--quiet"]
    run = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (store_dir / "shards").is_dir() or not os.listdir(store_dir / "shards"):
        assert run.poll() is None, run.stdout.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert run.poll() is None  # killed in the middle of the run, not after it
    run.send_signal(signal.SIGKILL)
    run.wait()
    entities = open_release(uniprotqa_release).entities()
    partial = EmbeddingStore(store_dir)
    assert 0 < len(partial) < len(entities)

    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert f"{len(partial):,} already in the store" in finished.stderr
    store = EmbeddingStore(store_dir)
    keys = pa.concat_tables(pq.read_table(p / "entries.parquet") for p in (store_dir / "shards").iterdir()).column("key").to_pylist()
    assert sorted(keys) == sorted(entities)  # every key exactly once across the committed shards
    assert not any((store_dir / "tmp").iterdir())
    for key, sequence in entities.items():
        assert store.get(key).shape == (min(len(sequence), 1022), 64)


def test_the_spark_task_core_embeds_a_partition(pubchemqa_release, tmp_path):
    spec = resolve_encoder("graphmvp_gin", "random")
    options = EmbedOptions(pooling="mean")
    prepare_store(tmp_path, store_metadata(spec, options.dtype, options.pooling))
    entities = open_release(pubchemqa_release).entities()
    items = list(entities.items())[:50] + [("broken", "C1CC")]  # an unclosed ring: RDKit rejects it
    batches = [pa.RecordBatch.from_pylist([{"key": k, "text": t} for k, t in items[i : i + 20]]) for i in range(0, len(items), 20)]
    (result,) = embed_arrow_partition(iter(batches), spec, str(tmp_path), options, "cpu").__next__().to_pylist()
    assert result["embedded"] == 50 and result["skipped_keys"] == ["broken"]
    store = EmbeddingStore(tmp_path)
    assert sorted(store.keys()) == sorted(k for k, _ in items[:50])
    assert store.get(items[0][0]).shape == (300,)


def test_embed_with_spark_fills_the_store_once_and_then_only_new_keys(spark, pubchemqa_release, tmp_path):
    from etl.embed.spark import embed_with_spark

    spec = resolve_encoder("graphmvp_gin", "random")
    options = EmbedOptions(pooling="mean", device="cpu")
    entities = open_release(pubchemqa_release).entities()
    summary = embed_with_spark(spark, pubchemqa_release, tmp_path / "store", spec, options, partitions=2)
    assert summary.workers == 2 and summary.embedded + len(summary.skipped) == len(entities)
    store = EmbeddingStore(tmp_path / "store")
    assert sorted(store.keys()) == sorted(k for k in entities if k not in summary.skipped)
    again = embed_with_spark(spark, pubchemqa_release, tmp_path / "store", spec, options, partitions=2)
    assert again.embedded == 0 and again.already_stored == summary.embedded


@pytest.mark.parametrize("release_fixture", ["uniprotqa_release", "pubchemqa_release"])
def test_the_spark_plan_keys_entities_as_the_local_plan_does(spark, request, release_fixture, tmp_path):
    from etl.embed.spark import release_entities_df, stored_keys_df

    release = open_release(request.getfixturevalue(release_fixture))
    planned = {row["key"]: row["text"] for row in release_entities_df(spark, release).collect()}
    assert planned == release.entities()
    assert stored_keys_df(spark, tmp_path).count() == 0  # no store yet: every key is missing

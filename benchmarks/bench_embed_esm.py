"""Residues per second of `lifeqa embed` against fair-esm's own extraction method, on the same real
sequences and the same ESM-2 architecture with the same (seeded random) weights, in one run.

    python benchmarks/bench_embed_esm.py [--model esm2_t12_35M_UR50D] [--sequences 160] [--dtypes fp16,bf16]

The reference is fair-esm's scripts/extract.py as people run it: FastaBatchedDataset batches from
get_batch_indices(4096, extra_toks_per_seq=1), the batch converter truncating at 1,022 residues,
ESM2.forward in fp32 under torch.no_grad, then per sequence the per-token and mean representations
of the last layer cloned and torch.save'd to one file. The lifeqa side is `embed_release`, what
`lifeqa embed` runs: a release in the contract's layout holding the same sequences, a fresh store
(per-token and pooled, in each --dtypes), featurizing, batching, writing and committing shards
included. No weights are downloaded: both sides use `--weights random`, the same seeded model.

Reported: residues (after truncation) per second for each, the ratio, and the cosine similarity
of lifeqa's pooled vectors to the fp32 reference's mean representations (minimum and mean over
sequences).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from Bio import SwissProt

from etl.embed.encoders import resolve_encoder
from etl.embed.esm2 import load_fair_esm2
from etl.embed.runner import EmbedOptions, embed_release
from etl.embed.store import EmbeddingStore

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "uniprot" / "uniprotkb_sample.dat"
LIMIT = 1022


def real_sequences(path: Path, count: int) -> list[str]:
    """The first `count` distinct sequences of the UniProt sample, in file order."""
    seen: dict[str, None] = {}
    with open(path) as handle:
        for record in SwissProt.parse(handle):
            seen.setdefault(record.sequence.upper())
            if len(seen) == count:
                break
    return list(seen)


def write_release(directory: Path, sequences: list[str]) -> Path:
    """A one-split UniProtQA release in the release contract's layout, one QA row per sequence."""
    (directory / "data").mkdir(parents=True)
    rows = [{"accession": f"S{i}", "sequence": s, "sequence_sha256": hashlib.sha256(s.encode()).hexdigest(),
             "question": "What is the function of this protein?", "answer": "-", "split": "train"}
            for i, s in enumerate(sequences)]
    pq.write_table(pa.Table.from_pylist(rows), directory / "data" / "train-00000-of-00001.parquet")
    (directory / "manifest.json").write_text(json.dumps({"dataset": "uniprotqa", "version": "bench"}))
    return directory


def fair_esm_extract(model, sequences: list[str], out_dir: Path) -> tuple[float, dict[str, torch.Tensor]]:
    """fair-esm's extraction loop (scripts/extract.py, --include mean per_tok); returns seconds and mean vectors."""
    import esm

    dataset = esm.data.FastaBatchedDataset([f"seq{i}" for i in range(len(sequences))], sequences)
    batches = dataset.get_batch_indices(4096, extra_toks_per_seq=1)
    loader = torch.utils.data.DataLoader(dataset, collate_fn=model.alphabet.get_batch_converter(LIMIT), batch_sampler=batches)
    layer = model.num_layers
    means = {}
    started = time.perf_counter()
    with torch.no_grad():
        for labels, strs, tokens in loader:
            representations = model(tokens, repr_layers=[layer], return_contacts=False)["representations"][layer]
            for i, label in enumerate(labels):
                kept = min(LIMIT, len(strs[i]))
                result = {"label": label, "representations": {layer: representations[i, 1 : kept + 1].clone()},
                          "mean_representations": {layer: representations[i, 1 : kept + 1].mean(0).clone()}}
                torch.save(result, out_dir / f"{label}.pt")
                means[strs[i]] = result["mean_representations"][layer]
    return time.perf_counter() - started, means


def lifeqa_embed(release: Path, store: Path, spec, dtype: str) -> float:
    started = time.perf_counter()
    summary = embed_release(release, store, spec, EmbedOptions(device="cpu", dtype=dtype, pooling="both"))
    assert summary.embedded == summary.entities
    return time.perf_counter() - started


def cosines(store_dir: Path, reference: dict[str, torch.Tensor]) -> torch.Tensor:
    store = EmbeddingStore(store_dir)
    values = []
    for sequence, expected in reference.items():
        pooled = torch.from_numpy(store.get(hashlib.sha256(sequence.encode()).hexdigest(), pooled=True).astype("float32"))
        values.append(F.cosine_similarity(pooled, expected, dim=0))
    return torch.stack(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="esm2_t12_35M_UR50D", help="an ESM-2 architecture (random weights)")
    parser.add_argument("--sequences", type=int, default=160)
    parser.add_argument("--dtypes", default="fp16,bf16", help="lifeqa store dtypes to time (bf16 also computes in bf16 on CPU)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()

    sequences = real_sequences(args.data, args.sequences)
    residues = sum(min(LIMIT, len(s)) for s in sequences)
    spec = resolve_encoder(args.model, "random")
    print(f"{args.model} (random weights, seed 0), {len(sequences)} real sequences, {residues:,} residues after truncation "
          f"at {LIMIT}, {torch.get_num_threads()} torch threads")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        release = write_release(scratch / "release", sequences)
        (scratch / "fair").mkdir()
        reference_seconds, reference = fair_esm_extract(load_fair_esm2(spec).eval(), sequences, scratch / "fair")
        reference_rate = residues / reference_seconds
        print(f"fair-esm extract (fp32, 4096-token batches): {reference_seconds:7.1f} s  {reference_rate:9,.0f} residues/s")
        for dtype in args.dtypes.split(","):
            store = scratch / f"store-{dtype}"
            seconds = lifeqa_embed(release, store, spec, dtype)
            similarity = cosines(store, reference)
            print(f"lifeqa embed --dtype {dtype:<4}:                  {seconds:7.1f} s  {residues / seconds:9,.0f} residues/s  "
                  f"{reference_seconds / seconds:4.2f}x  pooled cosine to fp32 reference: min {similarity.min():.6f} "
                  f"mean {similarity.mean():.6f}")


if __name__ == "__main__":
    main()

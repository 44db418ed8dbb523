"""Residues per second of `lifeqa embed` against fair-esm's own extraction method, on the same real
sequences and the same ESM-2 architecture with the same (seeded random) weights, in one run.

    python benchmarks/bench_embed_esm.py [--model esm2_t12_35M_UR50D] [--sequences 160] [--dtypes fp16,bf16]
    python benchmarks/bench_embed_esm.py --device cuda --model esm2_t33_650M_UR50D --sequences 1000 --repeats 3

The reference is fair-esm's scripts/extract.py as people run it: FastaBatchedDataset batches from
get_batch_indices(4096, extra_toks_per_seq=1), the batch converter truncating at 1,022 residues,
ESM2.forward in fp32 under torch.no_grad, then per sequence the per-token and mean representations
of the last layer cloned and torch.save'd to one file. The lifeqa side is `embed_release`, what
`lifeqa embed` runs: a release in the contract's layout holding the same sequences, a fresh store
(per-token and pooled, in each --dtypes), featurizing, batching, writing and committing shards
included; each side's model is loaded once, untimed. No weights are downloaded: both sides use
`--weights random`, the same seeded model.

Reported: residues (after truncation) per second for each, the ratio, and the cosine similarity
of lifeqa's pooled vectors to the fp32 reference's mean representations (minimum and mean over
sequences). With --device cuda both sides run on the GPU (fair-esm in fp32 as extract.py does,
copying each batch's representations to the host), one untimed warm-up run comes first, the best of
--repeats runs counts, and the model FLOP utilization is printed as well: the forward's matmul FLOPs
over the real tokens (no padding), per second, over the GPU's dense fp16/bf16 peak.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from Bio import SwissProt

from etl.embed.encoders import build_encoder, resolve_encoder
from etl.embed.esm2 import load_fair_esm2
from etl.embed.runner import EmbedOptions, embed_release, encoder_batches, inference
from etl.embed.store import EmbeddingStore

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "uniprot" / "uniprotkb_sample.dat"
LIMIT = 1022
# Dense fp16/bf16 tensor-core peaks (FLOP/s) by device name, for the model FLOP utilization.
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


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


def forward_flops(spec, sequences: list[str]) -> float:
    """Matmul FLOPs of the ESM-2 forward over each sequence's real tokens (BOS + residues + EOS).

    Per layer and token: 2 x 12 d^2 for the QKV, output and feed-forward (4d) projections, plus
    2 x 2 L d for the attention scores and their weighted sum over L tokens.
    """
    d = spec.dim
    total = 0.0
    for sequence in sequences:
        tokens = min(LIMIT, len(sequence)) + 2
        total += spec.layer * (24 * d * d * tokens + 4 * tokens * tokens * d)
    return total


def peak_flops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for model, peak in PEAK_FLOPS.items() if model in name), None)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fair_esm_extract(model, sequences: list[str], out_dir: Path, device: torch.device) -> tuple[float, dict[str, torch.Tensor]]:
    """fair-esm's extraction loop (scripts/extract.py, --include mean per_tok); returns seconds and mean vectors."""
    import esm

    dataset = esm.data.FastaBatchedDataset([f"seq{i}" for i in range(len(sequences))], sequences)
    batches = dataset.get_batch_indices(4096, extra_toks_per_seq=1)
    loader = torch.utils.data.DataLoader(dataset, collate_fn=model.alphabet.get_batch_converter(LIMIT), batch_sampler=batches)
    layer = model.num_layers
    out_dir.mkdir()
    means = {}
    started = time.perf_counter()
    with torch.no_grad():
        for labels, strs, tokens in loader:
            tokens = tokens.to(device, non_blocking=True)
            representations = model(tokens, repr_layers=[layer], return_contacts=False)["representations"][layer]
            representations = representations.to("cpu")
            for i, label in enumerate(labels):
                kept = min(LIMIT, len(strs[i]))
                result = {"label": label, "representations": {layer: representations[i, 1 : kept + 1].clone()},
                          "mean_representations": {layer: representations[i, 1 : kept + 1].mean(0).clone()}}
                torch.save(result, out_dir / f"{label}.pt")
                means[strs[i]] = result["mean_representations"][layer]
    synchronize(device)
    seconds = time.perf_counter() - started
    shutil.rmtree(out_dir)  # repeats of a large model would fill the disk
    return seconds, means


def lifeqa_embed(release: Path, store: Path, encoder, options: EmbedOptions) -> float:
    started = time.perf_counter()
    summary = embed_release(release, store, encoder.spec, options, encoder=encoder)
    assert summary.embedded == summary.entities
    return time.perf_counter() - started


def forward_only(encoder, sequences: list[str], options: EmbedOptions) -> float:
    """Seconds of the encoder's forward alone over lifeqa's batches: the part of a run the model costs."""
    chunks = [chunk for i, s in enumerate(sequences) for chunk in encoder.featurize(str(i), s)]
    batches = encoder_batches(encoder, chunks, options)
    synchronize(encoder.device)
    started = time.perf_counter()
    with inference(encoder.device, options.dtype):
        for batch in batches:
            encoder.forward(batch)
    synchronize(encoder.device)
    return time.perf_counter() - started


def print_profile(encoder, sequences: list[str], options: EmbedOptions) -> None:
    """Where the forward's device time goes: the kernels by total time, and their share by kind."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if encoder.device.type == "cuda" else [])
    with profile(activities=activities) as profiler:
        forward_only(encoder, sequences, options)
    kernels = [e for e in profiler.key_averages() if e.device_type.name == "CUDA"] or list(profiler.key_averages())
    time_of = (lambda e: e.device_time_total) if encoder.device.type == "cuda" else (lambda e: e.self_cpu_time_total)
    total = sum(time_of(e) for e in kernels) or 1
    shares: dict[str, float] = {}
    for event in kernels:
        name = event.key.lower()
        kind = ("matmul" if any(w in name for w in ("gemm", "matmul", "addmm", "cutlass", "nvjet", "sm90_xmma"))
                else "attention" if any(w in name for w in ("fmha", "attention", "flash", "efficient")) else "other")
        shares[kind] = shares.get(kind, 0) + time_of(event)
    print("  device time by kind: " + ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])))
    for event in sorted(kernels, key=time_of, reverse=True)[:12]:
        print(f"    {time_of(event) / total:6.1%}  {event.count:6d}x  {event.key[:110]}")


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
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides run there)")
    parser.add_argument("--max-tokens", default="default", help="lifeqa batch budgets to time, comma-separated ('default': lifeqa embed's)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each side; the best counts")
    parser.add_argument("--forward-only", action="store_true",
                        help="also time lifeqa's encoder forward alone (no featurizing, copies or store)")
    parser.add_argument("--profile", action="store_true",
                        help="also print where lifeqa's forward spends its time, kernel by kernel (torch.profiler)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense fp16/bf16 peak, for MFU")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()

    device = torch.device(args.device)
    sequences = real_sequences(args.data, args.sequences)
    residues = sum(min(LIMIT, len(s)) for s in sequences)
    spec = resolve_encoder(args.model, "random")
    flops, peak = forward_flops(spec, sequences), peak_flops(device, args.peak_tflops)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} torch threads"
    print(f"{args.model} (random weights, seed 0), {len(sequences)} real sequences, {residues:,} residues after truncation "
          f"at {LIMIT}, {flops / 1e12:.1f} TFLOP per pass, on {where}, best of {args.repeats}")

    def rates(seconds: float) -> str:
        mfu = f"  MFU {flops / seconds / peak:6.1%}" if peak else ""
        return f"{seconds:7.2f} s  {residues / seconds:9,.0f} residues/s{mfu}"

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        release = write_release(scratch / "release", sequences)
        model = load_fair_esm2(spec).eval().to(device)
        runs = args.repeats + (device.type == "cuda")  # on a GPU the first run only warms up (kernels, allocator)
        timed = [fair_esm_extract(model, sequences, scratch / f"fair-{run}", device) for run in range(runs)][-args.repeats:]
        reference_seconds, reference = min(timed, key=lambda run: run[0])
        del model
        print(f"fair-esm extract (fp32, 4096-token batches): {rates(reference_seconds)}")
        # Both sides keep one model loaded across their runs; loading it is not timed.
        encoder = build_encoder(spec, device)
        budgets = [None if budget == "default" else int(budget) for budget in args.max_tokens.split(",")]
        for dtype, budget in itertools.product(args.dtypes.split(","), budgets):
            options = EmbedOptions(device=args.device, dtype=dtype, pooling="both", max_tokens=budget)
            store = scratch / f"store-{dtype}-{budget}"
            times = []
            for _ in range(runs):
                shutil.rmtree(store, ignore_errors=True)  # each run fills a fresh store
                times.append(lifeqa_embed(release, store, encoder, options))
            seconds = min(times[-args.repeats:])
            similarity = cosines(store, reference)
            shutil.rmtree(store)
            print(f"lifeqa embed --dtype {dtype:<4} --max-tokens {options.max_tokens or 'default'}: {rates(seconds)}  "
                  f"{reference_seconds / seconds:5.2f}x  pooled cosine to fp32 reference: min {similarity.min():.6f} "
                  f"mean {similarity.mean():.6f}")
            if args.forward_only:
                forward = min(forward_only(encoder, sequences, options) for _ in range(args.repeats))
                print(f"  of which the forward alone:            {rates(forward)}")
            if args.profile:
                print_profile(encoder, sequences, options)


if __name__ == "__main__":
    main()

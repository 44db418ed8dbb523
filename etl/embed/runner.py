"""The embedding job: what is missing from the store, embedded in batches, written in the background.

`embed_release` is the local job (one process on a CPU, one worker process per GPU); `embed_items` is
the core it and the Spark job (etl.embed.spark) share: featurize, batch largest first, run the encoder
under inference_mode and autocast, stitch windows, pool, cast to the store's dtype on the device, copy
only the stored vectors to the host, and hand them to a writer thread that commits shards.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from etl.embed.batching import plan_batches
from etl.embed.encoder import Chunk, EmbedError, Encoder, EncoderSpec, UnsupportedEntity
from etl.embed.encoders import build_encoder
from etl.embed.release import Release, open_release
from etl.embed.store import EmbeddingStore, ShardWriter, StoreLock, prepare_store, store_metadata, write_index

TORCH_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
# Default token budgets: fair-esm's extraction default for ESM-2 (padded residues + BOS/EOS per batch),
# and atoms per batch for the GIN, whose batches are small next to any device's memory.
DEFAULT_MAX_TOKENS = {"residue": 4096, "atom": 16384}
WRITE_QUEUE_DEPTH = 8


@dataclass(frozen=True)
class EmbedOptions:
    device: str = "cpu"
    dtype: str = "fp16"  # what the store keeps: fp16, bf16 or fp32
    pooling: str = "both"  # none (per-token only), mean (pooled only) or both
    max_tokens: int | None = None  # batch budget; None = DEFAULT_MAX_TOKENS for the encoder's unit
    shard_mb: float = 256.0  # a shard is committed once it holds this much


@dataclass
class WorkResult:
    """What one worker (or one Spark task) did."""

    embedded: int = 0
    tokens: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    shards: list[str] = field(default_factory=list)
    seconds: float = 0.0  # featurizing to the last commit; loading the model is not in it

    def merge(self, other: "WorkResult") -> None:
        self.embedded += other.embedded
        self.tokens += other.tokens
        self.skipped.update(other.skipped)
        self.shards += other.shards
        self.seconds = max(self.seconds, other.seconds)  # workers run side by side


@dataclass
class EmbedSummary:
    encoder: str
    unit: str
    entities: int  # unique entities in the release
    already_stored: int
    embedded: int
    tokens: int  # residues or atoms embedded by this run
    skipped: dict[str, str]  # key -> why the encoder could not take it
    shards: int
    workers: int
    seconds: float  # the whole run: planning, loading the model, embedding, the index
    embed_seconds: float  # embedding alone (the slowest worker's), what the rate is taken over
    store: str

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.embed_seconds if self.embed_seconds else 0.0


class Reporter(Protocol):
    def planned(self, tokens: int, entities: int) -> None: ...
    def advance(self, tokens: int, entities: int) -> None: ...


class _Silent:
    def planned(self, tokens: int, entities: int) -> None:
        pass

    def advance(self, tokens: int, entities: int) -> None:
        pass


def compute_dtype(device: torch.device, dtype: str) -> torch.dtype:
    """The autocast dtype: the store's precision on GPUs; on CPUs bf16 only when the store is bf16.

    CPU fp16 matmuls are slow or emulated, so an fp16 store is computed in fp32 on a CPU and rounded once.
    """
    if device.type == "cuda":
        return TORCH_DTYPES[dtype]
    return torch.bfloat16 if dtype == "bf16" else torch.float32


def encoder_batches(encoder: Encoder, chunks: list[Chunk], options: EmbedOptions) -> list[list[Chunk]]:
    """The chunks packed into batches within options.max_tokens (or the default budget for the encoder's unit)."""
    return plan_batches(chunks, options.max_tokens or DEFAULT_MAX_TOKENS[encoder.spec.unit], encoder.padded)


@contextmanager
def inference(device: torch.device, dtype: str):
    """inference_mode, under autocast to compute_dtype(device, dtype) unless that is fp32."""
    autocast_dtype = compute_dtype(device, dtype)
    with torch.inference_mode(), torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype != torch.float32):
        yield


def embed_release(
    release_dir: str | Path,
    store_dir: str | Path,
    spec: EncoderSpec,
    options: EmbedOptions = EmbedOptions(),
    workers: int | None = None,
    reporter: Reporter | None = None,
    encoder: Encoder | None = None,
) -> EmbedSummary:
    """Embed every entity of the release that the store lacks (spec from resolve_encoder); safe to kill and run again.

    `encoder`, an encoder already built from `spec` on `options.device`, lets one process embed several
    releases with one loaded model; it implies a single worker.
    """
    started = time.perf_counter()
    reporter = reporter or _Silent()
    device = torch.device(options.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EmbedError(f"device {options.device!r}, but PyTorch sees no CUDA device", setting="device")
    if encoder is not None and (encoder.spec != spec or encoder.device.type != device.type or (workers or 1) != 1):
        raise EmbedError(f"the encoder passed in is not {spec.name} on {device} with a single worker")
    workers = 1 if encoder is not None else workers or (torch.cuda.device_count() if device.type == "cuda" else 1)
    with StoreLock(store_dir):
        entities, todo = plan_run(release_dir, store_dir, spec, options)
        result = WorkResult()
        if todo and workers == 1:
            result = embed_items(encoder or build_encoder(spec, device), store_dir, todo, options, reporter)
        elif todo:
            result = _run_workers(spec, store_dir, todo, options, workers, reporter)
        write_index(store_dir)
    return EmbedSummary(
        encoder=spec.name, unit=spec.unit, entities=len(entities), already_stored=len(entities) - len(todo),
        embedded=result.embedded, tokens=result.tokens, skipped=result.skipped, shards=len(result.shards),
        workers=workers if todo else 0, seconds=time.perf_counter() - started, embed_seconds=result.seconds,
        store=str(store_dir),
    )


def open_run(release_dir, store_dir, spec: EncoderSpec, options: EmbedOptions) -> Release:
    """The release, once checked to suit the encoder; creates or checks the store. Hold StoreLock."""
    release = open_release(release_dir)
    if release.entity.unit != spec.unit:
        raise EmbedError(f"{spec.name} embeds {spec.unit}s, but {release.path} is a {release.dataset} release")
    prepare_store(store_dir, store_metadata(spec, options.dtype, options.pooling))
    return release


def plan_run(release_dir, store_dir, spec: EncoderSpec, options: EmbedOptions) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(the release's entities, the (key, text) pairs the store lacks); prepares the store. Hold StoreLock."""
    release = open_run(release_dir, store_dir, spec, options)
    stored = EmbeddingStore(store_dir)
    entities = release.entities()
    return entities, [(key, text) for key, text in entities.items() if key not in stored]


def worker_share(key: str, workers: int) -> int:
    """Which of `workers` embeds `key`: by hash, so shares are even and stable across runs."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % workers


def embed_items(encoder: Encoder, store_dir, items: list[tuple[str, str]], options: EmbedOptions, reporter: Reporter | None = None) -> WorkResult:
    """Embed (key, text) pairs into the store's shards; the core of every worker and Spark task."""
    reporter = reporter or _Silent()
    started = time.perf_counter()
    result = WorkResult()
    chunks = []
    for key, text in items:
        try:
            chunks += encoder.featurize(key, text)
        except UnsupportedEntity as error:
            result.skipped[key] = str(error)
    batches = encoder_batches(encoder, chunks, options)
    reporter.planned(sum(c.keep[1] - c.keep[0] for c in chunks), len(items) - len(result.skipped))
    writer = BackgroundWriter(ShardWriter(store_dir, options.dtype, options.pooling, int(options.shard_mb * 2**20)))
    assembler = _Assembler(options)
    try:
        with inference(encoder.device, options.dtype):
            for batch in batches:
                done = assembler.add(batch, encoder.forward(batch))
                writer.put(done, _copied_event(encoder.device))
                tokens = sum(c.keep[1] - c.keep[0] for c in batch)
                result.tokens += tokens
                result.embedded += len(done)
                reporter.advance(tokens, len(done))
    finally:
        result.shards = writer.close()
    result.seconds = time.perf_counter() - started
    return result


class _Assembler:
    """Collects an entity's chunks (windows may fall in different batches), then pools, casts and starts the copy to the host."""

    def __init__(self, options: EmbedOptions):
        self.dtype = TORCH_DTYPES[options.dtype]
        self.tokens = options.pooling in ("none", "both")
        self.pooled = options.pooling in ("mean", "both")
        self._parts: dict[str, list[torch.Tensor | None]] = {}

    def add(self, chunks: list[Chunk], outputs: list[torch.Tensor]) -> list[tuple[str, int, torch.Tensor | None, torch.Tensor | None]]:
        done = []
        for chunk, output in zip(chunks, outputs):
            parts = self._parts.setdefault(chunk.key, [None] * chunk.count)
            parts[chunk.index] = output[chunk.keep[0] : chunk.keep[1]]
            if all(p is not None for p in parts):
                del self._parts[chunk.key]
                vectors = parts[0] if len(parts) == 1 else torch.cat(parts)
                done.append(self._finish(chunk.key, vectors))
        return done

    def _finish(self, key: str, vectors: torch.Tensor):
        # Pool in fp32 whatever the compute dtype, then round once to the store's dtype, on the device.
        pooled = _to_host(vectors.float().mean(0).to(self.dtype)) if self.pooled else None
        tokens = _to_host(vectors.to(self.dtype)) if self.tokens else None
        return key, len(vectors), tokens, pooled


def _to_host(tensor: torch.Tensor) -> torch.Tensor:
    """Start copying a device tensor into pinned host memory; the writer waits for the batch's event."""
    if tensor.device.type != "cuda":
        return tensor
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    return host


def _copied_event(device: torch.device):
    if device.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(device))  # the stream of this worker's GPU, not of cuda:0
    return event


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(np.uint16)
    return tensor.numpy()


class BackgroundWriter:
    """Writes finished entities to shards on a thread, so the device never waits for the disk."""

    def __init__(self, writer: ShardWriter):
        self.writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=WRITE_QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lifeqa-embed-writer", daemon=True)
        self._thread.start()

    def put(self, done: list, event) -> None:
        if self._error is not None:
            raise EmbedError(f"writing the store failed: {self._error}") from self._error
        self._queue.put((done, event))

    def close(self) -> list[str]:
        """Wait for every queued entity, commit the last shard, and return the shards committed."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise EmbedError(f"writing the store failed: {self._error}") from self._error
        self.writer.commit()
        return self.writer.committed

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining, so that put() never blocks on a dead writer
            done, event = message
            try:
                if event is not None:
                    event.synchronize()
                for key, length, tokens, pooled in done:
                    self.writer.add(
                        key, length, None if tokens is None else _numpy(tokens), None if pooled is None else _numpy(pooled)
                    )
            except BaseException as error:  # reported to the producer on its next put() or close()
                self._error = error


def _run_workers(spec: EncoderSpec, store_dir, todo, options: EmbedOptions, workers: int, reporter: Reporter) -> WorkResult:
    """One process per device (cuda:0..n-1, or n CPU processes), each embedding its share of keys by hash."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
    messages = context.Queue()
    shares = [[] for _ in range(workers)]
    for key, text in todo:
        shares[worker_share(key, workers)].append((key, text))
    device = torch.device(options.device)
    processes = []
    for index, share in enumerate(shares):
        worker_device = f"cuda:{index}" if device.type == "cuda" else "cpu"
        threads = max(1, (os.cpu_count() or 1) // workers)
        process = context.Process(
            target=_worker_main, args=(spec, str(store_dir), share, options, worker_device, threads, index, messages), daemon=True
        )
        process.start()
        processes.append(process)
    result, reported, failures = WorkResult(), set(), []
    while len(reported) < workers:
        try:
            kind, index, payload = messages.get(timeout=1.0)
        except queue.Empty:
            # A worker killed from outside (OOM killer, SIGKILL) never reports; its exit code says so.
            for index, process in enumerate(processes):
                if index not in reported and process.exitcode not in (None, 0):
                    failures.append(f"worker {index} exited with code {process.exitcode}")
                    reported.add(index)
            continue
        if kind == "planned":
            reporter.planned(*payload)
        elif kind == "advance":
            reporter.advance(*payload)
        elif kind == "done":
            result.merge(payload)
            reported.add(index)
        else:
            failures.append(f"worker {index} failed:\n{payload}")
            reported.add(index)
    for process in processes:
        process.join()
    if failures:
        raise EmbedError("\n".join(failures))
    return result


class _QueueReporter:
    def __init__(self, messages, index: int):
        self.messages, self.index = messages, index

    def planned(self, tokens: int, entities: int) -> None:
        self.messages.put(("planned", self.index, (tokens, entities)))

    def advance(self, tokens: int, entities: int) -> None:
        self.messages.put(("advance", self.index, (tokens, entities)))


def _worker_main(spec, store_dir, items, options, device, threads, index, messages) -> None:
    try:
        torch.set_num_threads(threads)
        encoder = build_encoder(spec, device)
        messages.put(("done", index, embed_items(encoder, store_dir, items, options, _QueueReporter(messages, index))))
    except BaseException:
        messages.put(("error", index, traceback.format_exc()))

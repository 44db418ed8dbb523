"""`lifeqa embed`: precompute a release's encoder embeddings into a store."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

# Torch-free: the option choices below are read from them when `lifeqa` starts.
from etl.embed.encoder import DEVICE_TYPES, LONG_MODES, EmbedError
from etl.embed.store import DTYPES, POOLINGS

# The flag of each setting a library EmbedError can name (the library names settings, never flags).
FLAGS = {
    "encoder": "--encoder",
    "weights": "--weights",
    "store_dir": "--out",
    "device": "--device",
    "dtype": "--dtype",
    "pooling": "--pooling",
    "layer": "--layer",
    "long": "--long",
    "overlap": "--overlap",
}


def _choices(name: str, values: Iterable[str]) -> type[Enum]:
    """A str Enum of the values the library accepts: typer lists them in --help and rejects any other (exit 2)."""
    return Enum(name, [(value, value) for value in values], type=str)


Device = _choices("Device", DEVICE_TYPES)
Dtype = _choices("Dtype", DTYPES)
Pooling = _choices("Pooling", POOLINGS)
LongProteins = _choices("LongProteins", LONG_MODES)


class _RateColumn(ProgressColumn):
    """Residues (or atoms) per second."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.unit}s/s" if speed else f"- {self.unit}s/s")


class _BarReporter:
    """Feeds the runner's progress (tokens, entities) to a rich progress bar; workers add their plans as they start."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.task = progress.add_task("embedding", total=0, entities=0)
        self.total = 0
        self.entities = 0

    def planned(self, tokens: int, entities: int) -> None:
        self.total += tokens
        self.progress.update(self.task, total=self.total)

    def advance(self, tokens: int, entities: int) -> None:
        self.entities += entities
        self.progress.update(self.task, advance=tokens, entities=self.entities)


def embed(
    release_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A release directory (manifest.json + data/)."),
    encoder: str = typer.Option(..., "--encoder", help="esm2_* (fair-esm), hf:<model dir or id> (transformers EsmModel), or graphmvp_gin."),
    weights: str = typer.Option(None, "--weights", help="Weights file or model directory, or 'random'. Default: the torch hub / Hugging Face cache, or $LIFEQA_WEIGHTS_DIR/graphmvp_gin.pth."),
    out: Path = typer.Option(None, "--out", help="The store. Default: embeddings/<encoder> next to the release, shared by its versions."),
    device: Device = typer.Option(Device.cpu, "--device", help="The CPU, or CUDA with one worker per visible GPU."),
    dtype: Dtype = typer.Option(Dtype.fp16, "--dtype", help="Stored precision."),
    pooling: Pooling = typer.Option(Pooling.both, "--pooling", help="Per-token vectors (none), their mean (mean), or both."),
    max_tokens: int = typer.Option(None, "--max-tokens", help="Batch budget in padded tokens (ESM-2, default 4096) or atoms (GIN, default 16384)."),
    layer: int = typer.Option(-1, "--layer", help="Which layer's output; -1 = the last."),
    long: LongProteins = typer.Option(LongProteins.truncate, "--long", help="Proteins over the encoder's limit: truncate (to the first residues) or windows."),
    overlap: int = typer.Option(256, "--overlap", help="Residues shared by neighbouring windows (--long windows)."),
    max_residues: int = typer.Option(None, "--max-residues", help="Residues per ESM-2 input, BOS/EOS excluded (default 1022, the model's limit)."),
    workers: int = typer.Option(None, "--workers", help="Worker processes; default one per GPU (cuda) or 1 (cpu)."),
    shard_mb: float = typer.Option(256.0, "--shard-mb", help="Commit a shard once it holds this many MiB."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Precompute encoder embeddings for a release; only the keys the store lacks are embedded."""
    # Imported here: they import torch, which other lifeqa commands should not wait for.
    from etl.embed.encoders import ESM2_MAX_RESIDUES, resolve_encoder, safe_name
    from etl.embed.runner import EmbedOptions, embed_release

    store = out or release_dir.resolve().parent / "embeddings" / safe_name(encoder)
    options = EmbedOptions(device=device.value, dtype=dtype.value, pooling=pooling.value, max_tokens=max_tokens, shard_mb=shard_mb)
    console = Console(stderr=True, soft_wrap=True)  # summary lines stay whole in logs
    try:
        spec = resolve_encoder(encoder, weights, layer, long.value, overlap, max_residues or ESM2_MAX_RESIDUES)
        progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} " + spec.unit + "s"),
            TextColumn("{task.fields[entities]:,} entities"), _RateColumn(spec.unit), TimeElapsedColumn(),
            TextColumn("left"), TimeRemainingColumn(), console=console, disable=quiet,
        )
        with progress:
            summary = embed_release(release_dir, store, spec, options, workers, _BarReporter(progress))
    except EmbedError as error:
        console.print(f"[red]error:[/red] {escape(_command_line_message(error))}")
        raise typer.Exit(2) from None
    _print_summary(console, summary)


def _command_line_message(error: EmbedError) -> str:
    """The library's message, led by the flag of the setting at fault when it names one."""
    flag = FLAGS.get(error.setting)
    return f"{flag}: {error}" if flag else str(error)


def _print_summary(console: Console, s) -> None:
    console.print(
        f"{s.encoder}: {s.entities:,} unique entities in the release, {s.already_stored:,} already in the store, "
        f"{s.embedded:,} embedded ({s.tokens:,} {s.unit}s in {s.embed_seconds:.1f} s, {s.tokens_per_second:,.0f} {s.unit}s/s, "
        f"{s.shards} shards, {s.workers} workers; {s.seconds:.1f} s in all, loading the model included) -> {s.store}",
        highlight=False,
    )
    for key, reason in sorted(s.skipped.items()):
        console.print(f"[yellow]skipped[/yellow] {key}: {reason}")

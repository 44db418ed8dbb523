"""The encoder interface: what every encoder is and does, and what the encoder modules share.

The encoders (etl.embed.esm2, etl.embed.gin) implement `Encoder` and import this module; the
registry (etl.embed.encoders) imports them to resolve a name to an `EncoderSpec` and build the
encoder it describes. This module imports neither, so no import runs back. Nor does it import torch
at import time (the functions that need it import it), so the command line, the store and the
release reader use its errors and values without paying for torch.
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    import torch

RANDOM = "random"
# Random weights are seeded, so two processes asked for the same random architecture build the same model
# (the benchmark compares fair-esm's extraction and lifeqa's on exactly the same weights).
RANDOM_SEED = 0
# Proteins longer than an encoder's input: the first residues only, or overlapping windows over all of them.
LONG_MODES = ("truncate", "windows")
# Where encoders run: the CPU, or every visible GPU (one worker each).
DEVICE_TYPES = ("cpu", "cuda")


class EmbedError(Exception):
    """A problem the user can fix: a missing weights file, a bad option, a store made by another encoder.

    `setting` names the setting at fault by its Python name (weights, layer, dtype, store_dir, ...), so that
    the command line can name its own flag; the message itself names no flag.
    """

    def __init__(self, message: str, setting: str | None = None):
        super().__init__(message)
        self.setting = setting


class UnsupportedEntity(ValueError):
    """One molecule or sequence the encoder cannot featurize; the run skips it and reports it."""


@dataclass(frozen=True)
class Chunk:
    """One encoder input: a whole entity, or one window of a protein longer than the encoder's limit.

    `size` is what the chunk costs in a batch (tokens with BOS/EOS, or atoms); the forward returns
    `n_out` vectors for it, of which `keep` (start, stop) belong to the entity. An entity's chunks are
    numbered `index` of `count`, in sequence order, and their kept vectors concatenate to the entity.
    """

    key: str
    inputs: Any
    size: int
    n_out: int
    keep: tuple[int, int]
    index: int = 0
    count: int = 1


@dataclass(frozen=True)
class EncoderSpec:
    """What an encoder is, resolved without loading it: the store records these fields."""

    name: str
    family: str  # "esm2-fair" | "esm2-hf" | "gin"
    weights: str  # a file or directory, or "random"
    weights_sha256: str | None  # None for random weights
    num_layers: int
    dim: int
    layer: int  # 0 = input embeddings, num_layers = last layer
    unit: str  # what one per-token vector stands for: "residue" or "atom"
    max_residues: int | None  # residues per encoder input; None for molecules
    long: str  # proteins over max_residues: one of LONG_MODES
    overlap: int  # residues shared by neighbouring windows
    heads: int = 0
    hf_config: str | None = None  # config.json text for a transformers model


class Encoder(ABC):
    """A frozen encoder: featurize entities on the CPU, embed chunks on the device."""

    spec: EncoderSpec
    device: torch.device
    # True when a batch is a padded (batch, longest) tensor, so its cost is longest x count;
    # graphs are concatenated, so a batch of molecules costs the sum of its atoms.
    padded: bool

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dim(self) -> int:
        return self.spec.dim

    @abstractmethod
    def featurize(self, key: str, text: str) -> list[Chunk]:
        """The chunks for one entity (a sequence or a SMILES); raises UnsupportedEntity."""

    @abstractmethod
    def forward(self, chunks: list[Chunk]) -> list[torch.Tensor]:
        """One (n_out, dim) tensor on the device per chunk, in order."""


def random_init(build: Callable[[], Any]) -> Any:
    """Build a module with the fixed random seed, leaving the caller's random state as it was."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return build()


def load_checkpoint(path: str | Path, allowed_globals: Sequence[type] = ()) -> Any:
    """A checkpoint's contents, unpickled without running any code it names.

    A pickle rebuilds objects by calling whatever callables it names, so a weights file could run
    anything when loaded. torch's weights-only unpickler rebuilds only tensors, containers and plain
    values, plus the classes in `allowed_globals`, and refuses the rest: such a file is an EmbedError.
    """
    import torch

    try:
        with torch.serialization.safe_globals(list(allowed_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        needed = _globals_outside(path, allowed_globals) or _torch_reason(error)
        raise EmbedError(
            f"refusing to load {path}: it needs code to be executed to unpickle ({needed})", setting="weights"
        ) from None


def _globals_outside(path: str | Path, allowed_globals: Sequence[type]) -> str:
    """The callables the checkpoint's pickle names beyond the allowed ones ("" when torch cannot list them)."""
    import torch

    allowed = {f"{cls.__module__}.{cls.__qualname__}" for cls in allowed_globals}
    try:
        named = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except (ValueError, pickle.UnpicklingError):  # pre-zip (legacy) files, opcodes the scanner does not read
        return ""
    return ", ".join(name for name in named if name not in allowed)


def _torch_reason(error: pickle.UnpicklingError) -> str:
    # torch's message is paragraphs of advice around one line that says what was refused, last but one.
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-2] if len(lines) > 1 else str(error)

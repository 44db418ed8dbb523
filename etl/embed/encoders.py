"""The encoder registry: how an encoder name plus its weights becomes a model.

Every encoder is used the same way by the runner:

    spec = resolve_encoder("esm2_t36_3B_UR50D", weights=None, layer=-1)   # cheap: paths, sha256, sizes
    encoder = build_encoder(spec, device)                                 # loads the weights
    chunks = encoder.featurize(key, text)                                 # CPU: tokens or a graph
    vectors = encoder.forward(chunks)                                     # one (n_out, dim) tensor per chunk

`EncoderSpec` (the interface, etl.embed.encoder) is a plain picklable value, so the
same spec reaches worker processes and Spark executors, and its fields are what the
store records. No weights are ever downloaded: a missing file is an error that names
every place it was looked for, and random weights are built only for weights="random".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import torch

from etl.embed.encoder import LONG_MODES, RANDOM, EmbedError, Encoder, EncoderSpec
from etl.embed.esm2 import FairEsm2Encoder, HfEsm2Encoder, fair_checkpoint_architecture
from etl.embed.gin import GinEncoder
from etl.fileio import file_sha256

GIN_NAME = "graphmvp_gin"
HF_PREFIX = "hf:"

# ESM-2 architectures by fair-esm name: (layers, embedding dimension, attention heads).
ESM2_ARCHITECTURES: dict[str, tuple[int, int, int]] = {
    "esm2_t6_8M_UR50D": (6, 320, 20),
    "esm2_t12_35M_UR50D": (12, 480, 20),
    "esm2_t30_150M_UR50D": (30, 640, 20),
    "esm2_t33_650M_UR50D": (33, 1280, 20),
    "esm2_t36_3B_UR50D": (36, 2560, 40),
    "esm2_t48_15B_UR50D": (48, 5120, 40),
}
# ESM-2 was trained on crops of 1,024 tokens: 1,022 residues plus BOS and EOS.
ESM2_MAX_RESIDUES = 1022
GIN_LAYERS = 5
GIN_DIM = 300


def resolve_encoder(
    name: str,
    weights: str | None = None,
    layer: int = -1,
    long: str = "truncate",
    overlap: int = 256,
    max_residues: int = ESM2_MAX_RESIDUES,
) -> EncoderSpec:
    """Find the weights for `name` and describe the encoder; nothing is loaded, nothing downloaded."""
    if long not in LONG_MODES:
        raise EmbedError(f"long must be one of {list(LONG_MODES)}, not {long!r}", setting="long")
    if name == GIN_NAME:
        path, sha = _resolve_file(weights, _gin_weight_candidates(), "GraphMVP GIN checkpoint")
        return EncoderSpec(
            name=name, family="gin", weights=path, weights_sha256=sha, num_layers=GIN_LAYERS, dim=GIN_DIM,
            layer=_resolve_layer(layer, GIN_LAYERS, first=1), unit="atom", max_residues=None,
            long="truncate", overlap=0,
        )
    if name.startswith(HF_PREFIX):
        return _resolve_hf(name, weights, layer, long, overlap, max_residues)
    if name.startswith("esm2_"):
        return _resolve_fair(name, weights, layer, long, overlap, max_residues)
    raise EmbedError(
        f"unknown encoder {name!r}: use an esm2_* name (fair-esm), hf:<model dir or id> (transformers) or {GIN_NAME}",
        setting="encoder",
    )


def build_encoder(spec: EncoderSpec, device: str | torch.device = "cpu") -> Encoder:
    """Load the encoder that `spec` describes onto `device`, in eval mode."""
    device = torch.device(device)
    if spec.family == "gin":
        return GinEncoder(spec, device)
    if spec.family == "esm2-fair":
        return FairEsm2Encoder(spec, device)
    return HfEsm2Encoder(spec, device)


def _resolve_layer(layer: int, num_layers: int, first: int = 0) -> int:
    """Python-style negative layers (-1 = last), checked against the architecture."""
    resolved = layer + num_layers + 1 if layer < 0 else layer
    if not first <= resolved <= num_layers:
        raise EmbedError(f"layer {layer} is outside {first}..{num_layers} (or -1 for the last layer)", setting="layer")
    return resolved


def _resolve_file(weights: str | None, candidates: list[Path], what: str) -> tuple[str, str | None]:
    if weights == RANDOM:
        return RANDOM, None
    looked = [Path(weights).expanduser()] if weights else candidates
    for path in looked:
        if path.is_file():
            return str(path.resolve()), file_sha256(path)
    places = "\n  ".join(str(p) for p in looked)
    raise EmbedError(
        f"{what} not found; looked for:\n  {places}\n"
        "lifeqa never downloads weights: put the file there, give the weights' path, "
        "or 'random' for a randomly initialised model (tests, benchmarks).",
        setting="weights",
    )


def _gin_weight_candidates() -> list[Path]:
    home = Path(os.environ.get("LIFEQA_WEIGHTS_DIR", Path.home() / ".cache" / "lifeqa" / "weights"))
    return [home / f"{GIN_NAME}.pth"]


def _resolve_fair(name, weights, layer, long, overlap, max_residues) -> EncoderSpec:
    if weights == RANDOM and name not in ESM2_ARCHITECTURES:
        raise EmbedError(
            f"no architecture known for {name!r}; random weights need one of {sorted(ESM2_ARCHITECTURES)}", setting="encoder"
        )
    hub_file = Path(torch.hub.get_dir()) / "checkpoints" / f"{name}.pt"
    path, sha = _resolve_file(weights, [hub_file], f"fair-esm weights for {name}")
    arch = ESM2_ARCHITECTURES.get(name) or fair_checkpoint_architecture(Path(path))
    num_layers, dim, heads = arch
    return EncoderSpec(
        name=name, family="esm2-fair", weights=path, weights_sha256=sha, num_layers=num_layers, dim=dim,
        layer=_resolve_layer(layer, num_layers), unit="residue", max_residues=_check_windows(max_residues, long, overlap),
        long=long, overlap=overlap if long == "windows" else 0, heads=heads,
    )


def _resolve_hf(name, weights, layer, long, overlap, max_residues) -> EncoderSpec:
    model_ref = name[len(HF_PREFIX):]
    if weights == RANDOM:
        config_text, location, sha = _random_hf_config(model_ref), RANDOM, None
    else:
        directory = _hf_directory(Path(weights).expanduser() if weights else None, model_ref)
        config_text = (directory / "config.json").read_text()
        location, sha = str(directory.resolve()), _directory_weights_sha256(directory)
    config = json.loads(config_text)
    num_layers = config["num_hidden_layers"]
    return EncoderSpec(
        name=name, family="esm2-hf", weights=location, weights_sha256=sha, num_layers=num_layers,
        dim=config["hidden_size"], layer=_resolve_layer(layer, num_layers), unit="residue",
        max_residues=_check_windows(min(max_residues, config["max_position_embeddings"] - 2), long, overlap),
        long=long, overlap=overlap if long == "windows" else 0, heads=config["num_attention_heads"],
        hf_config=config_text,
    )


def _random_hf_config(model_ref: str) -> str:
    """config.json for random weights: the model directory's own, or the architecture of an esm2 model id."""
    directory = Path(model_ref).expanduser()
    if (directory / "config.json").is_file():
        return (directory / "config.json").read_text()
    arch = ESM2_ARCHITECTURES.get(model_ref.rsplit("/", 1)[-1])
    if arch is None:
        raise EmbedError(
            f"no architecture known for {model_ref!r}: give a directory with config.json or an esm2 model id", setting="encoder"
        )
    from transformers import EsmConfig

    layers, dim, heads = arch
    config = EsmConfig(
        vocab_size=33, hidden_size=dim, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * dim, max_position_embeddings=1026, position_embedding_type="rotary",
        token_dropout=True, emb_layer_norm_before=False, pad_token_id=1, mask_token_id=32,
        layer_norm_eps=1e-5,
    )
    return config.to_json_string()


def _hf_directory(weights: Path | None, model_ref: str) -> Path:
    """A local model directory: the weights given, the encoder's own path, or the Hugging Face cache (offline)."""
    if weights is not None:
        if (weights / "config.json").is_file():
            return weights
        raise EmbedError(f"transformers model directory not found: {weights} has no config.json", setting="weights")
    if (Path(model_ref).expanduser() / "config.json").is_file():
        return Path(model_ref).expanduser()
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE

    try:
        return Path(snapshot_download(model_ref, local_files_only=True))
    except Exception as error:  # the hub client raises several types for "not in the cache"
        raise EmbedError(
            f"transformers model {model_ref!r} not found: it is neither a directory with config.json nor in the "
            f"Hugging Face cache ({HF_HUB_CACHE}). lifeqa never downloads weights: give the model directory, "
            "or 'random' for a randomly initialised model.",
            setting="weights",
        ) from error


def _directory_weights_sha256(directory: Path) -> str:
    files = sorted(p for p in directory.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    if not files:
        raise EmbedError(f"no weights (*.safetensors, *.bin) in {directory}", setting="weights")
    if len(files) == 1:
        return file_sha256(files[0])
    listing = "".join(f"{p.name} {file_sha256(p)}\n" for p in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def _check_windows(max_residues: int, long: str, overlap: int) -> int:
    if long == "windows" and not 0 <= overlap < max_residues // 2:
        raise EmbedError(
            f"overlap must be between 0 and half the window ({max_residues // 2 - 1}), not {overlap}", setting="overlap"
        )
    return max_residues


def safe_name(name: str) -> str:
    """An encoder name usable as a directory name (hf:org/model -> hf-org-model)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")

"""Weights files are loaded without running code: a checkpoint whose pickle calls something is refused."""

from __future__ import annotations

import os
import re
import shlex
from argparse import Namespace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from etl.embed.encoder import EmbedError, load_checkpoint
from etl.embed.encoders import build_encoder, resolve_encoder
from etl.embed.esm2 import load_fair_checkpoint
from tests.embed.conftest import TINY_ESM


class CreatesFileWhenUnpickled:
    """Unpickling this runs a shell command, as a malicious checkpoint would."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.target))}",)


def save_checkpoint_with_payload(path: Path, target: Path, tiny_esm_weights: Path) -> Path:
    """The tiny fair-esm checkpoint plus the payload (every loader unpickles the whole file before reading it)."""
    data = load_fair_checkpoint(tiny_esm_weights)
    data["extra_state"] = CreatesFileWhenUnpickled(target)
    torch.save(data, path)
    return path


def test_the_payload_runs_when_unpickled_unsafely(tmp_path, tiny_esm_weights):
    target = tmp_path / "ran"
    torch.load(save_checkpoint_with_payload(tmp_path / "esm2_t2_payload.pt", target, tiny_esm_weights), weights_only=False)
    assert target.exists()  # so the refusals below are refusals of live code


def resolve_unpublished_esm2(path: Path):
    return resolve_encoder("esm2_t2_payload", str(path))  # an unknown name: its architecture is read from the file


def build_published_esm2(path: Path):
    return build_encoder(resolve_encoder("esm2_t6_8M_UR50D", str(path)))  # a known name: the file is read by the build


def build_gin(path: Path):
    return build_encoder(resolve_encoder("graphmvp_gin", str(path)))


@pytest.mark.parametrize("load", [resolve_unpublished_esm2, build_published_esm2, build_gin])
def test_a_checkpoint_that_runs_code_is_refused_and_the_code_never_runs(tmp_path, tiny_esm_weights, load):
    target = tmp_path / "ran"
    path = save_checkpoint_with_payload(tmp_path / "esm2_t2_payload.pt", target, tiny_esm_weights)
    with pytest.raises(EmbedError) as raised:
        load(path)
    message = str(raised.value)
    assert message.startswith(f"refusing to load {path.resolve()}: it needs code to be executed to unpickle (")
    assert f"{os.system.__module__}.system" in message and "\n" not in message
    assert raised.value.setting == "weights"
    assert not target.exists()


def test_a_legacy_format_checkpoint_that_runs_code_is_refused_too(tmp_path):
    # torch < 1.6 wrote no zip archive; torch cannot list such a file's globals, so its own reason is given.
    path = tmp_path / "legacy.pt"
    torch.save({"model": {}, "extra_state": CreatesFileWhenUnpickled(tmp_path / "ran")}, path, _use_new_zipfile_serialization=False)
    refusal = rf"^refusing to load {re.escape(str(path))}: it needs code to be executed to unpickle \(.*{os.system.__module__}\.system.*\)$"
    with pytest.raises(EmbedError, match=refusal):
        load_checkpoint(path)
    assert not (tmp_path / "ran").exists()


def test_only_namespaces_are_allowed_beyond_tensors_and_containers(tmp_path, tiny_esm_weights):
    data = load_fair_checkpoint(tiny_esm_weights)
    data["cfg"]["model"] = SimpleNamespace(**vars(data["cfg"]["model"]))  # harmless, but not what fair-esm saves
    torch.save(data, tmp_path / "esm2_t2_simple.pt")
    with pytest.raises(EmbedError, match=r"to unpickle \(types\.SimpleNamespace\)"):
        resolve_encoder("esm2_t2_simple", str(tmp_path / "esm2_t2_simple.pt"))


def test_a_fair_esm_checkpoint_with_its_namespaces_still_loads(tmp_path, tiny_esm_weights):
    data = load_fair_checkpoint(tiny_esm_weights)
    assert isinstance(data["cfg"]["model"], Namespace)
    # ESM-1 checkpoints and fairseq's keep an `args` Namespace beside the state dict as well.
    data["args"] = Namespace(arch="esm2", **vars(data["cfg"]["model"]))
    path = tmp_path / f"{TINY_ESM}.pt"
    torch.save(data, path)
    spec = resolve_encoder(TINY_ESM, str(path))
    assert (spec.num_layers, spec.dim, spec.heads) == (2, 64, 4)
    loaded = build_encoder(spec)
    reference = build_encoder(resolve_encoder(TINY_ESM, str(tiny_esm_weights)))
    for (name, got), (_, expected) in zip(loaded.trunk.state_dict().items(), reference.trunk.state_dict().items()):
        torch.testing.assert_close(got, expected, msg=name)
    # The allow-list holds only while a checkpoint loads: nothing is left trusted for other torch.load calls.
    assert Namespace not in torch.serialization.get_safe_globals()

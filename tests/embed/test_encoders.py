"""Encoders on real sequences and molecules, with random weights built only when asked for."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from rdkit import Chem

from etl.embed.encoder import EmbedError
from etl.embed.encoders import build_encoder, resolve_encoder
from etl.embed.esm2 import load_fair_esm2, windows
from etl.embed.featurize import mol_graph
from etl.embed.gin import GinEncoder
from etl.embed.release import open_release
from etl.embed.runner import compute_dtype
from etl.fileio import file_sha256
from tests.embed.conftest import TINY_ESM


@pytest.fixture(scope="module")
def sequences(uniprotqa_release) -> list[str]:
    """Real sequences of the release, shortest to longest."""
    return sorted(open_release(uniprotqa_release).entities().values(), key=len)


@pytest.fixture(scope="module")
def fair_t6():
    return build_encoder(resolve_encoder("esm2_t6_8M_UR50D", "random"))


@pytest.fixture(scope="module")
def hf_tiny(tmp_path_factory):
    """transformers' EsmModel from a local directory holding only config.json, with random weights."""
    from transformers import EsmConfig

    directory = tmp_path_factory.mktemp("hf-esm")
    config = EsmConfig(vocab_size=33, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
                       max_position_embeddings=1026, position_embedding_type="rotary", token_dropout=True,
                       emb_layer_norm_before=False, pad_token_id=1, mask_token_id=32)
    config.save_pretrained(directory)
    return build_encoder(resolve_encoder(f"hf:{directory}", "random"))


def embed(encoder, key_texts, dtype=torch.float32) -> list[torch.Tensor]:
    chunks = [c for i, text in enumerate(key_texts) for c in encoder.featurize(str(i), text)]
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
        return [out.float() for out in encoder.forward(chunks)]


@pytest.mark.parametrize("layer", [-1, 3])
def test_fast_trunk_matches_fair_esm_forward(fair_t6, sequences, layer):
    spec = resolve_encoder("esm2_t6_8M_UR50D", "random", layer=layer)
    encoder = build_encoder(spec)
    reference = load_fair_esm2(spec).eval()
    batch = [sequences[0], sequences[40], sequences[120]]
    converter = reference.alphabet.get_batch_converter()
    _, _, tokens = converter([(str(i), s) for i, s in enumerate(batch)])
    with torch.no_grad():
        expected = reference(tokens, repr_layers=[spec.layer])["representations"][spec.layer]
    for row, (sequence, got) in enumerate(zip(batch, embed(encoder, batch))):
        assert got.shape == (len(sequence), 320)
        torch.testing.assert_close(got, expected[row, 1 : len(sequence) + 1], atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("which", ["fair_t6", "hf_tiny"])
def test_same_sequence_alone_and_in_padded_batch(which, sequences, request):
    encoder = request.getfixturevalue(which)
    short, long = sequences[30], sequences[150]
    alone = embed(encoder, [short])[0]
    batched = embed(encoder, [long, short, sequences[0]])[1]
    assert len(long) > len(short)  # so `short` is padded in the batch
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("which", ["fair_t6", "hf_tiny"])
def test_bf16_autocast_tracks_fp32_past_512_residues(which, sequences, request):
    encoder = request.getfixturevalue(which)
    sequence = next(s for s in sequences if 700 < len(s) < 1022)
    exact = embed(encoder, [sequence])[0]
    half = embed(encoder, [sequence], torch.bfloat16)[0]
    per_residue = F.cosine_similarity(exact, half, dim=-1)
    # Rotary tables in bf16 misplace positions past 256 (bf16 holds 8 significant bits): with these random
    # weights that costs 2e-4 of cosine past residue 512, against under 1e-5 with the tables in fp32.
    assert 1 - per_residue[512:].min() < 5e-5
    assert F.cosine_similarity(exact.mean(0), half.mean(0), dim=0) > 0.9999


def test_rotary_tables_stay_fp32_under_autocast(fair_t6):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cos, sin = fair_t6.trunk._rotary(1024)
    assert cos.dtype == sin.dtype == torch.float32
    positions = torch.arange(1024, dtype=torch.float64)
    expected = torch.outer(positions, fair_t6.trunk.inv_freq.double()).cos()
    torch.testing.assert_close(cos[:, : expected.shape[1]].double(), expected, atol=1e-4, rtol=0)  # bf16 would be off by 1e-2 and more


def test_compute_dtype_follows_the_store_on_gpu_and_stays_exact_on_cpu():
    assert compute_dtype(torch.device("cuda"), "fp16") == torch.float16
    assert compute_dtype(torch.device("cuda"), "bf16") == torch.bfloat16
    assert compute_dtype(torch.device("cpu"), "fp16") == torch.float32
    assert compute_dtype(torch.device("cpu"), "bf16") == torch.bfloat16


@pytest.mark.parametrize("length", [30, 1022, 1023, 2000, 3446])
def test_windows_keep_every_residue_once(length):
    spans = windows(length, 1022, 256)
    kept = [i for _, _, ks, ke in spans for i in range(ks, ke)]
    assert kept == list(range(length))
    for start, stop, keep_start, keep_stop in spans:
        assert stop - start <= 1022 and start <= keep_start < keep_stop <= stop
        # Away from the sequence's ends, a kept residue has at least overlap/2 residues of context.
        assert keep_start == 0 or keep_start - start >= 128
        assert keep_stop == length or stop - keep_stop >= 128


def test_long_protein_in_windows_is_embedded_whole(sequences):
    longest = sequences[-1]
    assert len(longest) > 2 * 1022
    truncated = build_encoder(resolve_encoder("esm2_t6_8M_UR50D", "random"))
    windowed = build_encoder(resolve_encoder("esm2_t6_8M_UR50D", "random", long="windows", overlap=256))
    chunks = windowed.featurize("k", longest)
    assert len(chunks) > 2 and sum(c.keep[1] - c.keep[0] for c in chunks) == len(longest)
    first = embed(truncated, [longest])[0]
    assert first.shape == (1022, 320)
    with torch.inference_mode():
        outputs = windowed.forward(chunks)
    # The first window is the truncated input, and keeps its vectors up to the middle of the first overlap.
    keep = chunks[0].keep[1]
    torch.testing.assert_close(outputs[0][:keep], first[:keep], atol=1e-5, rtol=1e-5)


def test_gin_gives_one_vector_per_heavy_atom(pubchemqa_release):
    smiles = list(open_release(pubchemqa_release).entities().values())[:60]
    encoder = build_encoder(resolve_encoder("graphmvp_gin", "random"))
    for text, vectors in zip(smiles, embed(encoder, smiles)):
        assert vectors.shape == (Chem.MolFromSmiles(text).GetNumHeavyAtoms(), 300)
    assert torch.isfinite(torch.cat(embed(encoder, smiles))).all()


def test_molecule_features_follow_graphmvp():
    graph = mol_graph("F/C=C/[C@H](N)Cl")
    assert graph.atoms[:, 0].tolist() == [8, 5, 5, 5, 6, 16]  # atomic number - 1
    assert graph.atoms[3, 1] in (1, 2) and graph.atoms[[0, 1, 2, 4, 5], 1].tolist() == [0, 0, 0, 0, 0]
    bonds = {(int(s), int(t)): tuple(b) for s, t, b in zip(*graph.edges, graph.bonds)}
    assert bonds[1, 2][0] == 1 and bonds[0, 1][1] in (1, 2)  # double bond; directional single bond
    assert bonds[0, 1] == bonds[1, 0]
    assert mol_graph("c1ccccc1").bonds[:, 0].tolist() == [3] * 12  # aromatic


def test_gin_loads_a_graphmvp_checkpoint(tmp_path, pubchemqa_release):
    random_gin = build_encoder(resolve_encoder("graphmvp_gin", "random"))
    state = {f"molecule_model.{name}": value for name, value in random_gin.model.state_dict().items()}
    path = tmp_path / "graphmvp.pth"
    torch.save({"model": state}, path)
    spec = resolve_encoder("graphmvp_gin", str(path))
    assert spec.weights_sha256 == file_sha256(path)
    loaded = build_encoder(spec)
    assert isinstance(loaded, GinEncoder)
    smiles = list(open_release(pubchemqa_release).entities().values())[:10]
    for a, b in zip(embed(random_gin, smiles), embed(loaded, smiles)):
        torch.testing.assert_close(a, b)
    torch.save({"not_a_gin.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(EmbedError, match="GraphMVP GIN"):
        build_encoder(resolve_encoder("graphmvp_gin", str(tmp_path / "other.pth")))


def test_fair_esm_checkpoint_file_is_loaded_and_hashed(tiny_esm_weights, sequences):
    spec = resolve_encoder(TINY_ESM, str(tiny_esm_weights))
    assert (spec.num_layers, spec.dim, spec.layer, spec.weights_sha256) == (2, 64, 2, file_sha256(tiny_esm_weights))
    vectors = embed(build_encoder(spec), sequences[:3])
    assert [v.shape for v in vectors] == [(len(s), 64) for s in sequences[:3]]


def test_missing_weights_say_where_they_were_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("LIFEQA_WEIGHTS_DIR", str(tmp_path / "lifeqa"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(EmbedError, match=str(tmp_path / "torch" / "hub" / "checkpoints" / "esm2_t36_3B_UR50D.pt")):
        resolve_encoder("esm2_t36_3B_UR50D")
    with pytest.raises(EmbedError, match=str(tmp_path / "lifeqa" / "graphmvp_gin.pth")):
        resolve_encoder("graphmvp_gin")
    with pytest.raises(EmbedError, match="'random' for a randomly initialised model") as raised:
        resolve_encoder("graphmvp_gin", str(tmp_path / "nowhere.pth"))
    assert raised.value.setting == "weights"
    with pytest.raises(EmbedError, match="Hugging Face cache"):
        resolve_encoder("hf:facebook/esm2_t6_8M_UR50D")


def test_hf_random_architecture_from_a_model_id():
    spec = resolve_encoder("hf:facebook/esm2_t6_8M_UR50D", "random", layer=4)
    assert (spec.num_layers, spec.dim, spec.layer, spec.max_residues) == (6, 320, 4, 1022)
    assert json.loads(spec.hf_config)["position_embedding_type"] == "rotary"
    encoder = build_encoder(spec)
    assert len(encoder.model.encoder.layer) == 4  # nothing past the requested layer runs
    assert np.isfinite(embed(encoder, ["MKV"])[0].numpy()).all()


def test_hf_model_directory_loads_with_its_weights(hf_tiny, sequences, tmp_path):
    hf_tiny.model.save_pretrained(tmp_path / "model")
    spec = resolve_encoder(f"hf:{tmp_path / 'model'}")
    weights_file = next((tmp_path / "model").glob("*.safetensors"))
    assert spec.weights_sha256 == file_sha256(weights_file)
    loaded = build_encoder(spec)
    assert loaded.model.config._attn_implementation == "sdpa"
    for a, b in zip(embed(hf_tiny, sequences[:4]), embed(loaded, sequences[:4])):
        torch.testing.assert_close(a, b)

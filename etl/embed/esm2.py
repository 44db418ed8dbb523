"""ESM-2 protein encoders: fair-esm weights under a fast forward, and transformers' EsmModel.

Both share the ESM-2 alphabet (fair-esm's "ESM-1b" alphabet, the vocabulary of every ESM-2 model,
which transformers' EsmTokenizer also uses), the truncation or windowing of long proteins, and the
batch layout: BOS + residues + EOS, right-padded. Per-residue vectors never include BOS or EOS.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from etl.embed.encoder import RANDOM, Chunk, EmbedError, Encoder, EncoderSpec, UnsupportedEntity, load_checkpoint, random_init

# ESM-2 was trained with 15% of residues selected and 80% of those replaced by <mask>, whose embeddings are
# zeroed ("token dropout"); at inference without <mask> tokens the embeddings are scaled by the kept fraction.
MASK_RATIO_TRAIN = 0.15 * 0.8
# fair-esm checkpoints hold tensors and plain containers, plus their training configuration as argparse
# Namespaces (ESM-1's "args", ESM-2's cfg["model"]): the one class they need rebuilt, and the only one allowed.
FAIR_ESM_CHECKPOINT_CLASSES = (Namespace,)


class Esm2Alphabet:
    """Residue letters -> token ids of the ESM-2 vocabulary, vectorised through a byte lookup table."""

    def __init__(self):
        import esm

        alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
        self.bos, self.eos, self.pad = alphabet.cls_idx, alphabet.eos_idx, alphabet.padding_idx
        self.mask = alphabet.mask_idx
        self.size = len(alphabet)
        table = np.full(256, alphabet.unk_idx, dtype=np.uint8)
        for token in alphabet.standard_toks:
            if len(token) == 1:
                table[ord(token)] = alphabet.get_idx(token)
        self._table = table

    def encode(self, sequence: str) -> np.ndarray:
        """Token ids of the residues (no BOS/EOS); any non-ESM letter becomes <unk>."""
        return self._table[np.frombuffer(sequence.encode("ascii", "replace"), dtype=np.uint8)]

    def batch(self, chunks: list[Chunk]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(tokens, padding mask or None): BOS + residues + EOS per row, right-padded to the longest."""
        width = max(c.size for c in chunks)
        tokens = np.full((len(chunks), width), self.pad, dtype=np.int64)
        for row, chunk in enumerate(chunks):
            n = len(chunk.inputs)
            tokens[row, 0] = self.bos
            tokens[row, 1 : n + 1] = chunk.inputs
            tokens[row, n + 1] = self.eos
        tokens = torch.from_numpy(tokens)
        padded = any(c.size < width for c in chunks)
        return tokens, tokens.eq(self.pad) if padded else None


def windows(length: int, limit: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Windows of at most `limit` residues over a sequence, neighbours sharing `overlap` residues.

    Each is (start, stop, keep_start, keep_stop) in sequence coordinates: a residue in an overlap is taken
    from the window where it lies further from the edge (the overlap is split at its middle), so every
    residue is kept exactly once, with at least overlap/2 residues of context on each side (but at the sequence's ends).
    """
    if length <= limit:
        return [(0, length, 0, length)]
    stride = limit - overlap
    starts = list(range(0, length - limit, stride)) + [length - limit]
    spans = [(s, s + limit) for s in starts]
    cuts = [0] + [(spans[i + 1][0] + spans[i][1]) // 2 for i in range(len(spans) - 1)] + [length]
    return [(s, e, cuts[i], cuts[i + 1]) for i, (s, e) in enumerate(spans)]


class _Esm2Base(Encoder):
    """Featurization and batching shared by both ESM-2 encoders; subclasses run the network."""

    padded = True

    def __init__(self, spec: EncoderSpec, device: torch.device):
        self.spec, self.device = spec, device
        self.alphabet = Esm2Alphabet()

    def featurize(self, key: str, text: str) -> list[Chunk]:
        if not text:
            raise UnsupportedEntity("empty sequence")
        tokens = self.alphabet.encode(text)
        limit = self.spec.max_residues
        if self.spec.long == "truncate" or len(tokens) <= limit:
            # BioMedGPT's truncation: the first `limit` residues, as fair-esm's truncation_seq_length does.
            kept = tokens[:limit]
            return [Chunk(key, kept, len(kept) + 2, len(kept), (0, len(kept)))]
        spans = windows(len(tokens), limit, self.spec.overlap)
        return [
            Chunk(key, tokens[s:e], e - s + 2, e - s, (ks - s, ke - s), index, len(spans))
            for index, (s, e, ks, ke) in enumerate(spans)
        ]

    def forward(self, chunks: list[Chunk]) -> list[torch.Tensor]:
        tokens, padding = self.alphabet.batch(chunks)
        tokens = tokens.to(self.device, non_blocking=True)
        padding = padding.to(self.device, non_blocking=True) if padding is not None else None
        hidden = self._hidden(tokens, padding)
        return [hidden[row, 1 : c.n_out + 1] for row, c in enumerate(chunks)]

    @abstractmethod
    def _hidden(self, tokens: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
        """(batch, width, dim) representations at spec.layer."""


class FairEsm2Encoder(_Esm2Base):
    """ESM-2 with fair-esm's weights (a torch hub checkpoint or random), run by `Esm2Trunk`."""

    def __init__(self, spec: EncoderSpec, device: torch.device):
        super().__init__(spec, device)
        model = load_fair_esm2(spec)
        self.trunk = Esm2Trunk(model, spec.layer).eval().to(device)

    def _hidden(self, tokens, padding):
        return self.trunk(tokens, padding)


def load_fair_esm2(spec: EncoderSpec):
    """fair-esm's ESM2 module for the spec: random (seeded) or from a local checkpoint file."""
    import esm

    if spec.weights == RANDOM:
        return random_init(lambda: esm.model.esm2.ESM2(spec.num_layers, spec.dim, spec.heads, alphabet="ESM-1b"))
    # fair-esm's own loader, minus the contact-regression file, which embeddings never use.
    model, _alphabet = esm.pretrained.load_model_and_alphabet_core(spec.name, load_fair_checkpoint(spec.weights), None)
    return model


def load_fair_checkpoint(path: str | Path) -> dict:
    """A fair-esm checkpoint ({"model": state dict, "cfg" and/or "args": configuration}), loaded without running code."""
    return load_checkpoint(path, FAIR_ESM_CHECKPOINT_CLASSES)


def fair_checkpoint_architecture(path: Path) -> tuple[int, int, int]:
    """(layers, dimension, heads) from an ESM-2 checkpoint's configuration, for names that are not a published ESM-2."""
    cfg = load_fair_checkpoint(path)["cfg"]["model"]
    return cfg.encoder_layers, cfg.encoder_embed_dim, cfg.encoder_attention_heads


class Esm2Trunk(nn.Module):
    """ESM-2's forward over fair-esm's parameters, built for inference throughput.

    Same arithmetic as fair-esm's ESM2.forward up to `layer`, but batch-first, with Q, K and V in one
    matmul (the query scaling folded into its weights), PyTorch's scaled_dot_product_attention instead
    of fair-esm's explicit softmax(QK^T) (which also averages attention maps nobody reads), no LM head,
    and no layers past the requested one. Rotary tables are computed and applied in fp32, so positions
    past 256 stay exact under bf16/fp16 autocast.
    """

    def __init__(self, model, layer: int):
        super().__init__()
        self.embed_tokens = model.embed_tokens
        self.padding_idx = model.padding_idx
        self.token_dropout = model.token_dropout
        self.blocks = nn.ModuleList(_Esm2Block(model.layers[i]) for i in range(layer))
        # fair-esm applies the final layer norm to the last layer's representation only.
        self.final_norm = model.emb_layer_norm_after if layer == model.num_layers else None
        head_dim = model.embed_dim // model.attention_heads
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim)))

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
        x = self.embed_tokens(tokens)
        if self.token_dropout:
            x = x * (1 - MASK_RATIO_TRAIN)
        attend = None
        if padding is not None:
            x = x.masked_fill(padding.unsqueeze(-1), 0.0)
            attend = ~padding[:, None, None, :]  # (batch, 1, 1, keys): True where a key may be attended
        cos, sin = self._rotary(tokens.shape[1])
        for block in self.blocks:
            x = block(x, cos, sin, attend)
        return self.final_norm(x) if self.final_norm is not None else x

    def _rotary(self, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(width, device=self.inv_freq.device, dtype=torch.float32)
        freqs = torch.outer(positions, self.inv_freq.float())
        angles = torch.cat((freqs, freqs), dim=-1)
        return angles.cos(), angles.sin()


class _Esm2Block(nn.Module):
    """One pre-LN transformer layer of ESM-2 (fair-esm's TransformerLayer), re-wired for SDPA."""

    def __init__(self, layer):
        super().__init__()
        attention = layer.self_attn
        self.heads = attention.num_heads
        self.norm_attention = layer.self_attn_layer_norm
        self.norm_ffn = layer.final_layer_norm
        self.out_proj, self.fc1, self.fc2 = attention.out_proj, layer.fc1, layer.fc2
        q, k, v = attention.q_proj, attention.k_proj, attention.v_proj
        dim = q.weight.shape[0]
        self.qkv = nn.Linear(dim, 3 * dim)
        with torch.no_grad():
            # fair-esm scales the queries before the rotary embedding; scaling is linear, so fold it in.
            self.qkv.weight.copy_(torch.cat((q.weight * attention.scaling, k.weight, v.weight)))
            self.qkv.bias.copy_(torch.cat((q.bias * attention.scaling, k.bias, v.bias)))

    def forward(self, x, cos, sin, attend):
        batch, width, dim = x.shape
        qkv = self.qkv(self.norm_attention(x)).view(batch, width, 3, self.heads, dim // self.heads)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, batch, heads, width, head_dim)
        q, k = _rotate(qkv[:2], cos, sin).unbind(0)  # queries and keys in one pass
        v = qkv[2]
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, scale=1.0)
        x = x + self.out_proj(attended.transpose(1, 2).reshape(batch, width, dim))
        return x + self.fc2(F.gelu(self.fc1(self.norm_ffn(x))))


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding, applied in fp32 whatever the autocast dtype."""
    x32 = x.float()
    first, second = x32.chunk(2, dim=-1)
    return (x32 * cos + torch.cat((-second, first), dim=-1) * sin).to(x.dtype)


class HfEsm2Encoder(_Esm2Base):
    """ESM-2 through transformers' EsmModel with SDPA attention (a local directory or a cached model id)."""

    def __init__(self, spec: EncoderSpec, device: torch.device):
        super().__init__(spec, device)
        from transformers import EsmConfig, EsmModel

        config = EsmConfig.from_dict(json.loads(spec.hf_config))
        if (config.pad_token_id, config.mask_token_id, config.vocab_size) != (self.alphabet.pad, self.alphabet.mask, self.alphabet.size):
            raise EmbedError(f"{spec.name} does not use the ESM-2 vocabulary (pad, mask and size differ)", setting="encoder")
        if spec.weights == RANDOM:
            config._attn_implementation = "sdpa"
            model = random_init(lambda: EsmModel(config, add_pooling_layer=False))
        else:
            model = EsmModel.from_pretrained(spec.weights, add_pooling_layer=False, attn_implementation="sdpa", local_files_only=True)
        if spec.layer < spec.num_layers:
            # Intermediate layers come without the final layer norm (as in fair-esm), and nothing past them runs.
            model.encoder.layer = model.encoder.layer[: spec.layer]
            model.encoder.emb_layer_norm_after = None
        self.model = model.eval().to(device)

    def _hidden(self, tokens, padding):
        attention_mask = torch.ones_like(tokens) if padding is None else (~padding).long()
        return self.model(input_ids=tokens, attention_mask=attention_mask).last_hidden_state


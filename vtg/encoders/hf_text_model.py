"""The torch module behind :mod:`vtg.encoders.hf_text`: the text transformer of a transformers-format
CLIP (Radford et al. 2021, Sec. 2.4) or SigLIP (Zhai et al. 2023), with the checkpoint's parameter
names (``text_model.*``), so ``model.safetensors`` of a ``CLIPModel`` / ``SiglipModel`` loads as is.

Pre-LayerNorm blocks: LayerNorm, multi-head self-attention (separate q/k/v/out projections with
biases, scaled by head_dim^-0.5), residual; LayerNorm, MLP (fc1, activation, fc2), residual; a
final LayerNorm. CLIP attends causally and pools the first end-of-text position (the highest
token id for old configs whose ``eos_token_id`` is 2), then ``text_projection`` (no bias). SigLIP
attends to every position, padding included (as it was trained, in big_vision), pools the last
position and applies ``text_model.head`` (with bias).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: transformers' ``hidden_act`` names this tower implements.
ACTIVATIONS = ("quick_gelu", "gelu", "gelu_pytorch_tanh", "gelu_new")


def activation(name: str, x: torch.Tensor) -> torch.Tensor:
    """The MLP activation a transformers config names (one of :data:`ACTIVATIONS`); shared with
    BLIP-2's Q-Former text tower (vtg.encoders.blip2_text), which reads the same config key."""
    if name == "quick_gelu":
        return x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return F.gelu(x)
    return F.gelu(x, approximate="tanh")  # gelu_pytorch_tanh, gelu_new: the tanh approximation


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        n, length, width = x.shape
        shape = (n, length, self.heads, width // self.heads)
        q, k, v = (p(x).view(shape).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.out_proj(out.transpose(1, 2).reshape(n, length, width))


class _Mlp(nn.Module):
    def __init__(self, width: int, hidden: int, act: str):
        super().__init__()
        self.act = act
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(activation(self.act, self.fc1(x)))


class _Layer(nn.Module):
    def __init__(self, width: int, hidden: int, heads: int, act: str, eps: float):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(width, eps=eps)
        self.self_attn = _Attention(width, heads)
        self.layer_norm2 = nn.LayerNorm(width, eps=eps)
        self.mlp = _Mlp(width, hidden, act)

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x), causal)
        return x + self.mlp(self.layer_norm2(x))


class _Embeddings(nn.Module):
    def __init__(self, vocab: int, width: int, positions: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.position_embedding = nn.Embedding(positions, width)


class _Encoder(nn.Module):
    def __init__(self, layers: int, **kw):
        super().__init__()
        self.layers = nn.ModuleList([_Layer(**kw) for _ in range(layers)])


class _TextModel(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        width = int(cfg["hidden_size"])
        self.embeddings = _Embeddings(int(cfg["vocab_size"]), width, int(cfg["max_position_embeddings"]))
        self.encoder = _Encoder(int(cfg["num_hidden_layers"]), width=width, hidden=int(cfg["intermediate_size"]),
                                heads=int(cfg["num_attention_heads"]), act=str(cfg["hidden_act"]),
                                eps=float(cfg["layer_norm_eps"]))
        self.final_layer_norm = nn.LayerNorm(width, eps=float(cfg["layer_norm_eps"]))
        if cfg["family"] == "hf-siglip":
            self.head = nn.Linear(width, int(cfg["projection_dim"]))


class HFTextTower(nn.Module):
    """``hidden(ids)`` -> last hidden states [N, L, W]; ``embed(ids)`` -> pooled, projected [N, D]
    (unnormalised), as ``get_text_features`` of the transformers model."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.siglip = cfg["family"] == "hf-siglip"
        self.eos_id = int(cfg["eos_token_id"])
        self.text_model = _TextModel(cfg)
        if not self.siglip:
            self.text_projection = nn.Linear(int(cfg["hidden_size"]), int(cfg["projection_dim"]), bias=False)

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        tm = self.text_model
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding(positions)
        for layer in tm.encoder.layers:
            x = layer(x, causal=not self.siglip)
        return tm.final_layer_norm(x)

    def eos_positions(self, ids: torch.Tensor) -> torch.Tensor:
        """CLIP's pooled position per row: the highest id for legacy configs (``eos_token_id`` 2),
        else the first end-of-text token."""
        if self.eos_id == 2:
            return ids.argmax(dim=-1)
        return (ids == self.eos_id).int().argmax(dim=-1)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        if self.siglip:
            return self.text_model.head(self.hidden(ids)[:, -1])
        # causal: no position sees a later one, so the padding after the last pooled position
        # cannot change the result; running only up to it makes short sentences cheap
        pooled_at = self.eos_positions(ids)
        n = int(pooled_at.max()) + 1
        hidden = self.hidden(ids[:, :n])
        return self.text_projection(hidden[torch.arange(ids.shape[0], device=ids.device), pooled_at])

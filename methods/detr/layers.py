"""Building blocks the DETR-family models share (DETR, Carion et al. 2020, as Moment-DETR uses it):
input projections, the sine position code over clips, a learned position code for words, and
post-norm transformer encoder / decoder layers that add position codes to queries and keys only.

Tensors are batch-first here ``(batch, length, width)``; parameter names follow the released
checkpoints so their state dicts load unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LinearLayer(nn.Module):
    """LayerNorm -> dropout -> Linear -> optional ReLU (the released input projection)."""

    def __init__(self, width_in: int, width_out: int, dropout: float = 0.1, relu: bool = True):
        super().__init__()
        self.relu = relu
        self.LayerNorm = nn.LayerNorm(width_in)
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(width_in, width_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.net(self.LayerNorm(x))
        return F.relu(x) if self.relu else x


def input_projection(width_in: int, hidden: int, layers: int, dropout: float) -> nn.Sequential:
    """``layers`` LinearLayers to ``hidden``; the last one without ReLU."""
    widths = [width_in] + [hidden] * (layers - 1)
    return nn.Sequential(*[LinearLayer(w, hidden, dropout, relu=i < layers - 1) for i, w in enumerate(widths)])


class MLP(nn.Module):
    """Linear layers with ReLU between them (DETR's box head)."""

    def __init__(self, width_in: int, hidden: int, width_out: int, depth: int):
        super().__init__()
        sizes = [width_in] + [hidden] * (depth - 1) + [width_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


def sine_positions(mask: torch.Tensor, width: int, temperature: float = 10000.0) -> torch.Tensor:
    """Sine/cosine code of each valid clip's rank, normalised to (0, 2 pi] over the video
    (DETR's ``PositionEmbeddingSine(normalize=True)`` in 1-D): (batch, L) -> (batch, L, width)."""
    rank = mask.float().cumsum(1)
    rank = rank / (rank[:, -1:] + 1e-6) * (2 * math.pi)
    index = torch.arange(width, dtype=torch.float32, device=mask.device)
    freq = temperature ** (2 * torch.div(index, 2, rounding_mode="floor") / width)
    angles = rank[:, :, None] / freq
    return torch.stack((angles[:, :, 0::2].sin(), angles[:, :, 1::2].cos()), dim=3).flatten(2)


class LearnedPositions(nn.Module):
    """Word positions: embedding by index, added, then LayerNorm (used when ``use_txt_pos``)."""

    def __init__(self, max_len: int, width: int, dropout: float = 0.1):
        super().__init__()
        self.position_embeddings = nn.Embedding(max_len, width)
        self.LayerNorm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = torch.arange(x.shape[1], device=x.device)
        return self.dropout(self.LayerNorm(x + self.position_embeddings(ids)[None]))


def attend(attn: nn.MultiheadAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
            pad: torch.Tensor | None) -> torch.Tensor:
    """Multi-head attention on batch-first tensors through the sequence-first module the
    checkpoints hold (``pad``: True where a key is padding)."""
    out = attn(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), key_padding_mask=pad)[0]
    return out.transpose(0, 1)


class EncoderLayer(nn.Module):
    """Post-norm self-attention + feed-forward; position codes go into queries and keys only.
    ``prelu``: the feed-forward's activation is a learned PReLU (QD-DETR, CG-DETR), else ReLU."""

    def __init__(self, width: int, heads: int, hidden: int, dropout: float = 0.1, prelu: bool = False):
        super().__init__()
        self.activation = nn.PReLU() if prelu else nn.ReLU()
        self.self_attn = nn.MultiheadAttention(width, heads, dropout=dropout)
        self.linear1 = nn.Linear(width, hidden)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(hidden, width)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None, pos: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout1(attend(self.self_attn, x + pos, x + pos, x, pad)))
        return self.norm2(x + self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x))))))


class DecoderLayer(nn.Module):
    """Post-norm self-attention over moment queries, cross-attention to the memory, feed-forward."""

    def __init__(self, width: int, heads: int, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(width, heads, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(width, heads, dropout=dropout)
        self.linear1 = nn.Linear(width, hidden)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(hidden, width)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, t: torch.Tensor, memory: torch.Tensor, pad: torch.Tensor | None, pos: torch.Tensor,
                query_pos: torch.Tensor) -> torch.Tensor:
        t = self.norm1(t + self.dropout1(attend(self.self_attn, t + query_pos, t + query_pos, t, None)))
        t = self.norm2(t + self.dropout2(attend(self.multihead_attn, t + query_pos, memory + pos, memory, pad)))
        return self.norm3(t + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(t))))))


class Stack(nn.Module):
    """``count`` layers under ``.layers``, and the final LayerNorm (decoder) under ``.norm``:
    the checkpoints' naming."""

    def __init__(self, make, count: int, norm_width: int | None = None):
        super().__init__()
        self.layers = nn.ModuleList(make() for _ in range(count))
        self.norm = nn.LayerNorm(norm_width) if norm_width else nn.Identity()


class DetrTransformer(nn.Module):
    """DETR's encoder-decoder: the memory, and each decoder layer's normalised output (the
    decoder's final LayerNorm is shared by every layer's output, as released)."""

    def __init__(self, width: int, heads: int, enc_layers: int, dec_layers: int, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.d_model = width
        self.encoder = Stack(lambda: EncoderLayer(width, heads, hidden, dropout), enc_layers)
        self.decoder = Stack(lambda: DecoderLayer(width, heads, hidden, dropout), dec_layers, norm_width=width)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, src: torch.Tensor, pad: torch.Tensor, queries: torch.Tensor,
                pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src, pos: (B, L, d); pad: (B, L) True on padding; queries: (Q, d) ->
        (hs (layers, B, Q, d), memory (B, L, d))."""
        memory = src
        for layer in self.encoder.layers:
            memory = layer(memory, pad, pos)
        query_pos = queries[None].expand(src.shape[0], -1, -1)
        t = torch.zeros_like(query_pos)
        outputs = []
        for layer in self.decoder.layers:
            t = layer(t, memory, pad, pos, query_pos)
            outputs.append(self.decoder.norm(t))
        return torch.stack(outputs), memory

"""The anchor-query decoder QD-DETR and CG-DETR share (DAB-DETR's, Liu et al. ICLR 2022, with
Conditional DETR's split content/position attention, Meng et al. ICCV 2021): each moment query is
a learned (centre, width) anchor, refined layer by layer; attention concatenates content and
sine-coded anchor position per head instead of adding them. Batch-first; parameter names are the
released checkpoints'.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import nn

from .layers import MLP


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def anchor_sine(anchors: torch.Tensor, width: int) -> torch.Tensor:
    """(B, Q, 2) anchors in [0, 1] -> (B, Q, width): sine code of the centre then of the width,
    ``width / 2`` features each (128 in every released model, whose hidden width is 256)."""
    half = width // 2
    index = torch.arange(half, dtype=torch.float32, device=anchors.device)
    freq = 10000 ** (2 * torch.div(index, 2, rounding_mode="floor") / half)
    codes = []
    for coord in (anchors[:, :, 0], anchors[:, :, 1]):
        angles = coord[:, :, None] * (2 * math.pi) / freq
        codes.append(torch.stack((angles[:, :, 0::2].sin(), angles[:, :, 1::2].cos()), dim=3).flatten(2))
    return torch.cat(codes, dim=2)


class OutputOnlyAttention(nn.Module):
    """Multi-head attention whose inputs arrive already projected (the layer projects them), so
    it holds only ``out_proj``; queries and keys may be wider than values (``value_width``)."""

    def __init__(self, key_width: int, heads: int, value_width: int):
        super().__init__()
        self.heads, self.key_width = heads, key_width
        self.out_proj = nn.Linear(value_width, value_width)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        """q (B, Lq, Dk), k (B, Lk, Dk), v (B, Lk, Dv); pad (B, Lk) True on padding."""
        b, lq, lk, h = q.shape[0], q.shape[1], k.shape[1], self.heads
        qh = (q * (self.key_width // h) ** -0.5).reshape(b, lq, h, -1).transpose(1, 2)
        kh = k.reshape(b, lk, h, -1).transpose(1, 2)
        vh = v.reshape(b, lk, h, -1).transpose(1, 2)
        logits = qh @ kh.transpose(2, 3)
        if pad is not None:
            logits = logits.masked_fill(pad[:, None, None, :], float("-inf"))
        weights = torch.softmax(logits - logits.max(dim=-1, keepdim=True)[0], dim=-1)
        return self.out_proj((weights @ vh).transpose(1, 2).reshape(b, lq, -1))


class AnchorDecoderLayer(nn.Module):
    """Self-attention among queries, then cross-attention to clips with content and position
    concatenated per head (the query's anchor position enters the first layer's cross-attention
    content too), then a PReLU feed-forward; post-norm throughout."""

    def __init__(self, width: int, heads: int, hidden: int, dropout: float = 0.1, first: bool = False):
        super().__init__()
        self.heads = heads
        self.sa_qcontent_proj, self.sa_qpos_proj = nn.Linear(width, width), nn.Linear(width, width)
        self.sa_kcontent_proj, self.sa_kpos_proj = nn.Linear(width, width), nn.Linear(width, width)
        self.sa_v_proj = nn.Linear(width, width)
        self.ca_qcontent_proj, self.ca_kcontent_proj = nn.Linear(width, width), nn.Linear(width, width)
        self.ca_kpos_proj, self.ca_v_proj = nn.Linear(width, width), nn.Linear(width, width)
        self.ca_qpos_sine_proj = nn.Linear(width, width)
        self.ca_qpos_proj = nn.Linear(width, width) if first else None
        self.self_attn = OutputOnlyAttention(width, heads, width)
        self.cross_attn = OutputOnlyAttention(2 * width, heads, width)
        self.linear1, self.linear2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.activation = nn.PReLU()
        self.dropout = nn.Dropout(dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def _per_head(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Concatenate ``a`` and ``b`` (B, L, d) head by head -> (B, L, 2d)."""
        bs, n, d = a.shape
        return torch.cat([a.reshape(bs, n, self.heads, -1), b.reshape(bs, n, self.heads, -1)], dim=3).reshape(bs, n, 2 * d)

    def forward(self, t: torch.Tensor, memory: torch.Tensor, pad: torch.Tensor | None, pos: torch.Tensor,
                query_pos: torch.Tensor, query_sine: torch.Tensor) -> torch.Tensor:
        q = self.sa_qcontent_proj(t) + self.sa_qpos_proj(query_pos)
        k = self.sa_kcontent_proj(t) + self.sa_kpos_proj(query_pos)
        t = self.norm1(t + self.dropout1(self.self_attn(q, k, self.sa_v_proj(t), None)))
        k_pos = self.ca_kpos_proj(pos)
        q, k = self.ca_qcontent_proj(t), self.ca_kcontent_proj(memory)
        if self.ca_qpos_proj is not None:
            q, k = q + self.ca_qpos_proj(query_pos), k + k_pos
        q = self._per_head(q, self.ca_qpos_sine_proj(query_sine))
        k = self._per_head(k, k_pos)
        t = self.norm2(t + self.dropout2(self.cross_attn(q, k, self.ca_v_proj(memory), pad)))
        return self.norm3(t + self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(t))))))


class AnchorDecoder(nn.Module):
    """Layers refining (centre, width) anchors; returns each layer's normalised output and the
    anchor it started from (the model adds its span head's offset to that anchor)."""

    def __init__(self, width: int, heads: int, hidden: int, layers: int, dropout: float = 0.1):
        super().__init__()
        self.layers = nn.ModuleList(AnchorDecoderLayer(width, heads, hidden, dropout, first=i == 0) for i in range(layers))
        self.norm = nn.LayerNorm(width)
        self.query_scale = MLP(width, width, width, 2)
        self.ref_point_head = MLP(width, width, width, 2)
        self.bbox_embed = MLP(width, width, 2, 3)
        self.ref_anchor_head = MLP(width, width, 1, 2)
        self.width = width

    def forward(self, memory: torch.Tensor, pad: torch.Tensor | None, pos: torch.Tensor,
                anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """memory, pos (B, L, d); anchors (Q, 2) before sigmoid -> (outputs (layers, B, Q, d),
        anchors used by each layer (layers, B, Q, 2))."""
        ref = anchors.sigmoid()[None].expand(memory.shape[0], -1, -1)
        t = torch.zeros(ref.shape[0], ref.shape[1], self.width, device=memory.device, dtype=memory.dtype)
        outputs, used = [], []
        for i, layer in enumerate(self.layers):
            used.append(ref)
            sine = anchor_sine(ref, self.width)
            query_pos = self.ref_point_head(sine)
            if i > 0:
                sine = sine * self.query_scale(t)
            sine = sine * (self.ref_anchor_head(t).sigmoid()[..., 0] / ref[..., 1])[..., None]
            t = layer(t, memory, pad, pos, query_pos, sine)
            ref = (self.bbox_embed(t) + inverse_sigmoid(ref)).sigmoid().detach()
            outputs.append(self.norm(t))
        return torch.stack(outputs), torch.stack(used)


class _WithAnchorDecoder(Protocol):
    @property
    def decoder(self) -> AnchorDecoder: ...


class AnchorNet(Protocol):
    """The parts of QD-DETR's and CG-DETR's networks that :func:`anchor_heads` reads."""

    @property
    def transformer(self) -> _WithAnchorDecoder: ...
    @property
    def query_embed(self) -> nn.Embedding: ...
    @property
    def span_embed(self) -> MLP: ...
    @property
    def class_embed(self) -> nn.Linear: ...
    @property
    def saliency_proj1(self) -> nn.Linear: ...
    @property
    def saliency_proj2(self) -> nn.Linear: ...


def anchor_heads(net: AnchorNet, clips: torch.Tensor, glob: torch.Tensor, pad: torch.Tensor,
                 pos_vid: torch.Tensor) -> dict[str, torch.Tensor]:
    """QD-DETR's and CG-DETR's shared outputs: the anchor decoder over the clips, spans refined
    from the last layer's anchors, and saliency as each clip's agreement with the global token
    (scaled by the width's square root, as both papers' code does)."""
    hs, anchors = net.transformer.decoder(clips, pad[:, 1:], pos_vid, net.query_embed.weight)
    spans = (net.span_embed(hs[-1]) + inverse_sigmoid(anchors[-1])).sigmoid()
    saliency = (net.saliency_proj1(clips) * net.saliency_proj2(glob)[:, None]).sum(-1) / math.sqrt(clips.shape[2])
    return {"pred_logits": net.class_embed(hs[-1]), "pred_spans": spans, "saliency_scores": saliency}

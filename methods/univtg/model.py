"""The UniVTG network (Lin et al., ICCV 2023: the grounding model).

Video clip features (with the two-value temporal endpoint feature) and query token features are
each projected by small MLPs, tagged with a token-type embedding, concatenated into one sequence
and mixed by a post-norm transformer encoder (sine positions on the video part only). Three heads
read each clip:

* foreground ``f`` - three kernel-3 1-D convolutions then a sigmoid;
* boundaries ``b`` - three kernel-3 1-D convolutions then a sigmoid, signed ``(-d_start, +d_end)``
  so ``anchor + b`` is the clip's proposed window;
* saliency ``s`` - cosine between each projected clip token (before the encoder) and the sentence
  obtained by attention-pooling the projected word tokens.

Attribute names and nesting follow the released checkpoints exactly (``input_vid_proj.0.net.1``,
``transformer.encoder.layers.N.self_attn``, ``span_embed.layers.2``, ``weightedpool.weight``, the
unused ``txt_position_embed`` kept for ``use_txt_pos``...), so converted official weights load with
``strict=True``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


class LinearLayer(nn.Module):
    """LayerNorm -> Dropout -> Linear (-> ReLU): one step of the input projections."""

    def __init__(self, d_in: int, d_out: int, dropout: float, relu: bool):
        super().__init__()
        self.relu = relu
        self.LayerNorm = nn.LayerNorm(d_in)
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(d_in, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.net(self.LayerNorm(x))
        return F.relu(x) if self.relu else x


def input_projection(d_in: int, hidden: int, n_layers: int, dropout: float) -> nn.Sequential:
    """``n_layers`` LinearLayers, ReLU after all but the last (the released models use two)."""
    dims = [d_in] + [hidden] * n_layers
    return nn.Sequential(*[LinearLayer(dims[i], dims[i + 1], dropout, relu=i < n_layers - 1)
                           for i in range(n_layers)])


class ConvHead(nn.Module):
    """Three 1-D convolutions (kernel 3, same padding) over the clip axis, ReLU between them."""

    def __init__(self, hidden: int, d_out: int, n_layers: int = 3, kernel_size: int = 3):
        super().__init__()
        dims = [hidden] * n_layers + [d_out]
        self.layers = nn.ModuleList(nn.Conv1d(dims[i], dims[i + 1], kernel_size, padding=kernel_size // 2)
                                    for i in range(n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, L, d_out)
        x = x.transpose(1, 2)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x.transpose(1, 2)


class WeightedPool(nn.Module):
    """Attention pooling of word tokens into one sentence vector (a learned scoring vector)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(dim, 1)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (B, L, D), (B, L) -> (B, D)
        logits = (x @ self.weight).squeeze(-1).masked_fill(~mask.bool(), float("-inf"))
        alpha = torch.softmax(logits, dim=1)
        return torch.einsum("bl,bld->bd", alpha, x)


class SinePositions(nn.Module):
    """1-D sine/cosine positions over the valid clips, normalised to [0, 2*pi] (DETR-style)."""

    def __init__(self, dim: int, temperature: float = 10000.0):
        super().__init__()
        self.dim, self.temperature = dim, temperature

    def forward(self, mask: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, L, dim)
        pos = mask.float().cumsum(1)
        pos = pos / (pos[:, -1:] + 1e-6) * (2 * math.pi)
        i = torch.arange(self.dim, device=mask.device)
        freq = self.temperature ** (2 * torch.div(i, 2, rounding_mode="floor").float() / self.dim)
        angles = pos[:, :, None] / freq
        return torch.stack((angles[:, :, 0::2].sin(), angles[:, :, 1::2].cos()), dim=3).flatten(2)


class LearnedTextPositions(nn.Module):
    """Learned text positions + LayerNorm; present in every released checkpoint, used only with use_txt_pos."""

    def __init__(self, max_len: int, dim: int, dropout: float):
        super().__init__()
        self.position_embeddings = nn.Embedding(max_len, dim)
        self.LayerNorm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = torch.arange(x.shape[1], device=x.device).clamp(max=self.position_embeddings.num_embeddings - 1)
        return self.dropout(self.LayerNorm(x + self.position_embeddings(ids)[None]))


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch per sample during training."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, D)
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = (torch.rand(x.shape[0], 1, 1, device=x.device, dtype=x.dtype) < keep).to(x.dtype)
        return x * mask / keep


class EncoderLayer(nn.Module):
    """Post-norm encoder layer; positions are added to queries and keys only; GELU feed-forward."""

    def __init__(self, d: int, nhead: int, d_ff: int, dropout: float, droppath: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, nhead, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(d, d_ff)
        self.linear2 = nn.Linear(d_ff, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.droppath1 = DropPath(droppath)
        self.droppath2 = DropPath(droppath)

    def forward(self, x: torch.Tensor, pad: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        qk = x + pos
        attn = self.self_attn(qk, qk, value=x, key_padding_mask=pad, need_weights=False)[0]
        x = self.norm1(x + self.droppath1(attn))
        x = self.norm2(x + self.droppath2(self.linear2(F.gelu(self.linear1(x)))))
        return x


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(cfg.hidden_dim, cfg.nheads, cfg.dim_feedforward, cfg.dropout,
                                                 cfg.droppath) for _ in range(cfg.enc_layers))

    def forward(self, x, pad, pos):
        for layer in self.layers:
            x = layer(x, pad, pos)
        return x


class Transformer(nn.Module):
    """Holder named like the official module so parameter names read ``transformer.encoder.layers.N``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.encoder = Encoder(cfg)
        self.d_model = cfg.hidden_dim
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, x, pad, pos):
        return self.encoder(x, pad, pos)


class UniVTGModel(nn.Module):
    """The UniVTG grounding network; ``forward`` returns the three per-clip heads."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        h = cfg.hidden_dim
        self.transformer = Transformer(cfg)
        self.position_embed = SinePositions(h)
        self.txt_position_embed = LearnedTextPositions(cfg.max_q_l, h, cfg.input_dropout)
        self.token_type_embeddings = nn.Embedding(2, h)
        nn.init.normal_(self.token_type_embeddings.weight, std=0.02)
        self.span_embed = ConvHead(h, 2)
        self.class_embed = ConvHead(h, 1)
        self.input_txt_proj = input_projection(cfg.t_feat_dim, h, cfg.n_input_proj, cfg.input_dropout)
        self.input_vid_proj = input_projection(cfg.v_feat_dim, h, cfg.n_input_proj, cfg.input_dropout)
        self.weightedpool = WeightedPool(h)

    def forward(self, src_txt, src_txt_mask, src_vid, src_vid_mask) -> dict[str, torch.Tensor]:
        """Inputs ``(B, Lt, Dt)``, ``(B, Lt)``, ``(B, Lv, Dv)``, ``(B, Lv)`` (masks: 1 = valid).

        Returns ``pred_logits`` (B, Lv, 1) foreground probability, ``pred_spans`` (B, Lv, 2) signed
        normalised offsets, ``saliency_scores`` (B, Lv) cosine (padded clips ~ -100), and the
        projected clip tokens / pooled sentence used by the saliency losses.
        """
        vid_mask, txt_mask = src_vid_mask.bool(), src_txt_mask.bool()
        vid = self.input_vid_proj(src_vid) + self.token_type_embeddings.weight[1]
        txt = self.input_txt_proj(src_txt) + self.token_type_embeddings.weight[0]
        pos_vid = self.position_embed(vid_mask).to(vid.dtype)
        pos_txt = self.txt_position_embed(txt) if self.config.use_txt_pos else torch.zeros_like(txt)
        memory = self.transformer(torch.cat([vid, txt], 1), ~torch.cat([vid_mask, txt_mask], 1),
                                  torch.cat([pos_vid, pos_txt], 1))
        vid_mem = memory[:, :vid.shape[1]]
        fg = self.class_embed(vid_mem).sigmoid()
        sign = torch.tensor([-1.0, 1.0], device=vid.device, dtype=vid_mem.dtype)
        spans = self.span_embed(vid_mem).sigmoid() * sign
        sentence = self.weightedpool(txt, txt_mask)
        cos = F.cosine_similarity(vid, sentence[:, None, :], dim=-1)
        saliency = cos.masked_fill(~vid_mask, -100.0)
        return {"pred_logits": fg, "pred_spans": spans, "saliency_scores": saliency,
                "vid_mem_proj": vid, "txt_mem_proj": sentence[:, None, :], "src_vid_mask": src_vid_mask}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

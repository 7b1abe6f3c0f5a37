"""Moment-DETR (Lei et al., "QVHighlights: Detecting Moments and Highlights in Videos via Natural
Language Queries", NeurIPS 2021, Sec. 4): video clips and query words, each projected to the
hidden width, are concatenated and encoded by a DETR transformer; ``num_queries`` learned moment
queries decode (centre, width) spans with a foreground/background class, and a linear head on the
encoded clips gives saliency. Parameter names are the released checkpoints'."""

from __future__ import annotations

import torch
from torch import nn

from .config import DetrConfig
from .layers import MLP, DetrTransformer, LearnedPositions, input_projection, sine_positions
from .shapes import StateShapes


class MomentDETRNet(nn.Module):
    """The network; ``forward`` returns ``pred_logits`` (B, Q, 2; class 0 = foreground),
    ``pred_spans`` (B, Q, 2; sigmoid centre/width in [0, 1] of the video) and
    ``saliency_scores`` (B, L)."""

    def __init__(self, cfg: DetrConfig, dropout: float = 0.1, input_dropout: float = 0.5):
        super().__init__()
        d = cfg.hidden_dim
        self.use_txt_pos = cfg.use_txt_pos
        self.transformer = DetrTransformer(d, cfg.nheads, cfg.enc_layers, cfg.dec_layers, cfg.dim_feedforward, dropout)
        self.txt_position_embed = LearnedPositions(cfg.max_q_l, d, input_dropout)
        self.span_embed = MLP(d, d, 2, 3)
        self.class_embed = nn.Linear(d, 2)
        self.query_embed = nn.Embedding(cfg.num_queries, d)
        self.input_txt_proj = input_projection(cfg.t_feat_dim, d, cfg.n_input_proj, input_dropout)
        self.input_vid_proj = input_projection(cfg.v_feat_dim, d, cfg.n_input_proj, input_dropout)
        self.saliency_proj = nn.Linear(d, 1)

    def forward(self, src_txt: torch.Tensor, src_txt_mask: torch.Tensor, src_vid: torch.Tensor,
                src_vid_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        vid = self.input_vid_proj(src_vid)
        txt = self.input_txt_proj(src_txt)
        valid = torch.cat([src_vid_mask, src_txt_mask], dim=1).bool()
        pos_txt = self.txt_position_embed(txt) if self.use_txt_pos else torch.zeros_like(txt)
        pos = torch.cat([sine_positions(src_vid_mask, vid.shape[2]), pos_txt], dim=1)
        hs, memory = self.transformer(torch.cat([vid, txt], dim=1), ~valid, self.query_embed.weight, pos)
        return {"pred_logits": self.class_embed(hs[-1]), "pred_spans": self.span_embed(hs[-1]).sigmoid(),
                "saliency_scores": self.saliency_proj(memory[:, :vid.shape[1]]).squeeze(-1)}


def shape_options(state: dict) -> dict[str, int]:
    """Sizes of a Moment-DETR state dict (these win over the options a checkpoint states)."""
    shapes = StateShapes(state, "Moment-DETR")
    return {**shapes.common(), "hidden_dim": shapes.dim("query_embed.weight", 1)}

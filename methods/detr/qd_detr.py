"""QD-DETR (Moon et al., "Query-Dependent Video Representation for Moment Retrieval and
Highlight Detection", CVPR 2023, Sec. 3): clips first attend to the query's words (text-to-video
cross-attention layers), then a self-attention encoder runs over a learned global token plus the
clips; the anchor-query decoder (:mod:`.anchor_decoder`) predicts spans as offsets to its anchors;
saliency is the scaled dot product between each encoded clip and the global token."""

from __future__ import annotations


import torch
from torch import nn

from .anchor_decoder import AnchorDecoder, anchor_heads
from .config import DetrConfig
from .layers import MLP, EncoderLayer, LearnedPositions, Stack, attend, input_projection, sine_positions
from .shapes import StateShapes


class TextToVideoLayer(nn.Module):
    """Clips (queries) attend to words (keys, values), then a PReLU feed-forward. As released, the
    feed-forward reads the normalised sum but its residual adds to the sum before normalisation."""

    def __init__(self, width: int, heads: int, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(width, heads, dropout=dropout)
        self.linear1, self.linear2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.activation = nn.PReLU()
        self.dropout = nn.Dropout(dropout)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, vid: torch.Tensor, txt: torch.Tensor, pos_vid: torch.Tensor, pos_txt: torch.Tensor,
                txt_pad: torch.Tensor) -> torch.Tensor:
        x = vid + self.dropout1(attend(self.self_attn, vid + pos_vid, txt + pos_txt, txt, txt_pad))
        return self.norm2(x + self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(self.norm1(x)))))))


class QDTransformer(nn.Module):
    """t2v_encoder -> encoder over [global token, clips] -> anchor decoder (released names)."""

    def __init__(self, cfg: DetrConfig, dropout: float = 0.1):
        super().__init__()
        d, h, f = cfg.hidden_dim, cfg.nheads, cfg.dim_feedforward
        self.d_model = d
        self.t2v_encoder = Stack(lambda: TextToVideoLayer(d, h, f, dropout), cfg.t2v_layers)
        self.encoder = Stack(lambda: EncoderLayer(d, h, f, dropout, prelu=True), cfg.enc_layers)
        self.decoder = AnchorDecoder(d, h, f, cfg.dec_layers, dropout)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)


class QDDETRNet(nn.Module):
    """Outputs as :class:`MomentDETRNet`'s: ``pred_logits``, ``pred_spans``, ``saliency_scores``."""

    def __init__(self, cfg: DetrConfig, dropout: float = 0.1, input_dropout: float = 0.5):
        super().__init__()
        d = cfg.hidden_dim
        self.use_txt_pos = cfg.use_txt_pos
        self.transformer = QDTransformer(cfg, dropout)
        self.txt_position_embed = LearnedPositions(cfg.max_q_l, d, input_dropout)
        self.span_embed = MLP(d, d, 2, 3)
        self.class_embed = nn.Linear(d, 2)
        self.query_embed = nn.Embedding(cfg.num_queries, 2)
        self.input_txt_proj = input_projection(cfg.t_feat_dim, d, cfg.n_input_proj, input_dropout)
        self.input_vid_proj = input_projection(cfg.v_feat_dim, d, cfg.n_input_proj, input_dropout)
        self.saliency_proj1, self.saliency_proj2 = nn.Linear(d, d), nn.Linear(d, d)
        self.global_rep_token = nn.Parameter(torch.randn(d))
        self.global_rep_pos = nn.Parameter(torch.randn(d))

    def forward(self, src_txt: torch.Tensor, src_txt_mask: torch.Tensor, src_vid: torch.Tensor,
                src_vid_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        vid, txt = self.input_vid_proj(src_vid), self.input_txt_proj(src_txt)
        pos_vid = sine_positions(src_vid_mask, vid.shape[2])
        pos_txt = self.txt_position_embed(txt) if self.use_txt_pos else torch.zeros_like(txt)
        for layer in self.transformer.t2v_encoder.layers:
            vid = layer(vid, txt, pos_vid, pos_txt, ~src_txt_mask.bool())
        b = vid.shape[0]
        memory = torch.cat([self.global_rep_token.expand(b, 1, -1), vid], dim=1)
        pos = torch.cat([self.global_rep_pos.expand(b, 1, -1), pos_vid], dim=1)
        pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=vid.device), ~src_vid_mask.bool()], dim=1)
        for layer in self.transformer.encoder.layers:
            memory = layer(memory, pad, pos)
        glob, clips = memory[:, 0], memory[:, 1:]
        return anchor_heads(self, clips, glob, pad, pos_vid)


def shape_options(state: dict) -> dict[str, int]:
    """Sizes of a QD-DETR state dict."""
    shapes = StateShapes(state, "QD-DETR")
    return {**shapes.common(), "hidden_dim": shapes.dim("global_rep_token", 0),
            "t2v_layers": shapes.count("transformer.t2v_encoder.layers.")}

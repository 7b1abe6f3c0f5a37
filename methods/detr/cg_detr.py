"""CG-DETR (Moon et al., "Correlation-Guided Query-Dependency Calibration for Video Temporal
Grounding", 2023/2024, Sec. 3): like QD-DETR, clips attend to the words first, but beside the words
sit learned *dummy* tokens (encoded together with the words) that absorb attention a clip should not
give the query: the softmax runs over dummies and words, the output sums over words only. The global
token is built per query from learned prompt tokens, chosen by their similarity to the clips weighted
by how much each clip attends to the words. Inference paths only; parameters kept for training
alone (moment / sentence encoders) are dropped at conversion (:data:`TRAINING_ONLY`)."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .anchor_decoder import AnchorDecoder, OutputOnlyAttention, anchor_heads
from .config import DetrConfig
from .layers import MLP, EncoderLayer, LearnedPositions, Stack, input_projection, sine_positions
from .shapes import StateShapes

TRAINING_ONLY = ("transformer.mcls_encoder.", "scls_encoder.", "txt_proj_linear.", "moment_rep_token",
                 "moment_rep_pos", "sent_rep_token", "sent_rep_pos")


class DummyAttention(OutputOnlyAttention):
    """Attention without input projections whose first ``dummies`` keys take part in the softmax
    but not in the output; also returns the head-averaged weights (B, Lq, Lk)."""

    def __init__(self, width: int, heads: int, dummies: int):
        super().__init__(width, heads, width)
        self.dummies = dummies

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, lq, lk, h = q.shape[0], q.shape[1], k.shape[1], self.heads
        qh = (q * (self.key_width // h) ** -0.5).reshape(b, lq, h, -1).transpose(1, 2)
        kh = k.reshape(b, lk, h, -1).transpose(1, 2)
        vh = v.reshape(b, lk, h, -1).transpose(1, 2)
        weights = torch.softmax((qh @ kh.transpose(2, 3)).masked_fill(pad[:, None, None, :], float("-inf")), dim=-1)
        out = weights[..., self.dummies:] @ vh[:, :, self.dummies:]
        return self.out_proj(out.transpose(1, 2).reshape(b, lq, -1)), weights.mean(1)


class CGTextToVideoLayer(nn.Module):
    """Clips attend to [dummies, words]; the residual pattern of QD-DETR's layer (feed-forward on
    the normalised sum, residual on the sum)."""

    def __init__(self, width: int, heads: int, hidden: int, dummies: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = DummyAttention(width, heads, dummies)
        self.linear1, self.linear2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.activation = nn.PReLU()
        self.dropout = nn.Dropout(dropout)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm2(x + self.linear2(self.dropout(self.activation(self.linear1(self.norm1(x))))))

    def forward(self, vid: torch.Tensor, pos_vid: torch.Tensor, keys: torch.Tensor, pos_keys: torch.Tensor,
                pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, weights = self.self_attn.attend(vid + pos_vid, keys + pos_keys, keys, pad)
        return self._finish(vid + out), weights

    def without_keys(self, x: torch.Tensor) -> torch.Tensor:
        """The layer on a token with nothing to attend to: the released code runs the global token
        through these layers with an empty key set, where attention contributes only its output bias."""
        return self._finish(x + self.self_attn.out_proj.bias)


class CGTransformer(nn.Module):
    def __init__(self, cfg: DetrConfig, dropout: float = 0.1):
        super().__init__()
        d, h, f = cfg.hidden_dim, cfg.nheads, cfg.dim_feedforward
        self.d_model = d
        self.t2v_encoder = Stack(lambda: CGTextToVideoLayer(d, h, f, cfg.num_dummies, dropout), cfg.t2v_layers)
        self.encoder = Stack(lambda: EncoderLayer(d, h, f, dropout, prelu=True), cfg.enc_layers)
        self.decoder = AnchorDecoder(d, h, f, cfg.dec_layers, dropout)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)


class CGDETRNet(nn.Module):
    """Outputs as :class:`MomentDETRNet`'s: ``pred_logits``, ``pred_spans``, ``saliency_scores``."""

    def __init__(self, cfg: DetrConfig, dropout: float = 0.1, input_dropout: float = 0.5):
        super().__init__()
        d = cfg.hidden_dim
        self.use_txt_pos, self.num_prompts = cfg.use_txt_pos, cfg.num_prompts
        self.transformer = CGTransformer(cfg, dropout)
        self.txt_position_embed = LearnedPositions(cfg.max_q_l, d, input_dropout)
        self.span_embed = MLP(d, d, 2, 3)
        self.class_embed = nn.Linear(d, 2)
        self.token_type_embeddings = nn.Embedding(2, d)
        self.query_embed = nn.Embedding(cfg.num_queries, 2)
        self.input_txt_proj = input_projection(cfg.t_feat_dim, d, cfg.n_input_proj, input_dropout)
        self.input_vid_proj = input_projection(cfg.v_feat_dim, d, cfg.n_input_proj, input_dropout)
        self.saliency_proj1, self.saliency_proj2 = nn.Linear(d, d), nn.Linear(d, d)
        self.global_rep_token = nn.Parameter(torch.randn(cfg.total_prompts, d))
        self.global_rep_pos = nn.Parameter(torch.randn(1, d))
        self.dummy_rep_token = nn.Parameter(torch.randn(cfg.num_dummies, d))
        self.dummy_rep_pos = nn.Parameter(torch.randn(cfg.num_dummies, d))
        # the released code fixes this encoder's heads at 8
        self.txtproj_encoder = Stack(lambda: EncoderLayer(d, 8, cfg.dim_feedforward, dropout, prelu=True), cfg.dummy_layers)

    def _keys(self, txt: torch.Tensor, pos_txt: torch.Tensor, txt_pad: torch.Tensor):
        """[encoded dummies, words], their position codes and padding."""
        b, n = txt.shape[0], self.dummy_rep_token.shape[0]
        pos = torch.cat([self.dummy_rep_pos.expand(b, -1, -1), pos_txt], dim=1)
        pad = torch.cat([torch.zeros(b, n, dtype=torch.bool, device=txt.device), txt_pad], dim=1)
        mem = torch.cat([self.dummy_rep_token.expand(b, -1, -1), txt], dim=1)
        for layer in self.txtproj_encoder.layers:
            mem = layer(mem, pad, pos)
        return torch.cat([mem[:, :n], txt], dim=1), pos, pad

    def _global_token(self, vid: torch.Tensor, vid_mask: torch.Tensor, word_attention: torch.Tensor) -> torch.Tensor:
        """Context (mean clip) plus the prompts most similar to the clips, weighted by each clip's
        attention to the words (normalised to mean 1 over the padded length, as released)."""
        ctx = (vid * vid_mask[..., None]).sum(1) / vid_mask.sum(1, keepdim=True)
        sim = torch.softmax(F.normalize(vid - ctx[:, None], dim=2) @ F.normalize(self.global_rep_token, dim=1).T, dim=-1)
        importance = word_attention * vid_mask
        importance = importance / importance.sum(1, keepdim=True) * importance.shape[1]
        top, index = torch.topk((sim * importance[..., None]).mean(1), k=self.num_prompts, dim=1)
        g = (top[..., None] * self.global_rep_token[index]).sum(1) + ctx
        for layer in self.transformer.t2v_encoder.layers:
            g = cast(CGTextToVideoLayer, layer).without_keys(g)
        return g

    def forward(self, src_txt: torch.Tensor, src_txt_mask: torch.Tensor, src_vid: torch.Tensor,
                src_vid_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        vid = self.input_vid_proj(src_vid) + self.token_type_embeddings.weight[1]
        txt = self.input_txt_proj(src_txt) + self.token_type_embeddings.weight[0]
        vmask = src_vid_mask.float()
        pos_vid = sine_positions(src_vid_mask, vid.shape[2])
        pos_txt = self.txt_position_embed(txt) if self.use_txt_pos else torch.zeros_like(txt)
        keys, pos_keys, key_pad = self._keys(txt, pos_txt, ~src_txt_mask.bool())
        x, attention = vid, torch.zeros(0)
        layers = self.transformer.t2v_encoder.layers
        for i, layer in enumerate(layers):
            x, w = layer(x, pos_vid, keys, pos_keys, key_pad)
            attention = w if i == 0 else attention + w
        words = (attention / len(layers))[:, :, self.dummy_rep_token.shape[0]:].sum(2)
        g = self._global_token(vid, vmask, words)
        b = vid.shape[0]
        memory = torch.cat([g[:, None], x], dim=1)
        pos = torch.cat([self.global_rep_pos.expand(b, 1, -1), pos_vid], dim=1)
        pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=vid.device), ~src_vid_mask.bool()], dim=1)
        for layer in self.transformer.encoder.layers:
            memory = layer(memory, pad, pos)
        glob = memory[:, 0]
        clips = memory[:, 1:] + glob[:, None]
        return anchor_heads(self, clips, glob, pad, pos_vid)


def shape_options(state: dict) -> dict[str, int]:
    """Sizes of a CG-DETR state dict."""
    shapes = StateShapes(state, "CG-DETR")
    return {**shapes.common(), "hidden_dim": shapes.dim("dummy_rep_token", 1),
            "t2v_layers": shapes.count("transformer.t2v_encoder.layers."),
            "dummy_layers": shapes.count("txtproj_encoder.layers."),
            "num_dummies": shapes.dim("dummy_rep_token", 0),
            "total_prompts": shapes.dim("global_rep_token", 0)}

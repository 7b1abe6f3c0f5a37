"""Moment-DETR as its authors wrote it (github.com/jayleicn/moment_detr, moment_detr/model.py,
transformer.py, position_encoding.py, inference.py, postprocessing_moment_detr.py,
utils/temporal_nms.py), re-typed for parity tests: sequence-first transformer with cloned layers,
the same parameter names. Only inference paths (no losses, no contrastive heads)."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn


class RefLinearLayer(nn.Module):
    def __init__(self, in_hsz, out_hsz, layer_norm=True, dropout=0.1, relu=True):
        super().__init__()
        self.relu, self.layer_norm = relu, layer_norm
        if layer_norm:
            self.LayerNorm = nn.LayerNorm(in_hsz)
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_hsz, out_hsz))

    def forward(self, x):
        if self.layer_norm:
            x = self.LayerNorm(x)
        x = self.net(x)
        return F.relu(x, inplace=True) if self.relu else x


class RefMLP(nn.Module):
    def __init__(self, input_dim, hidden_dim, output_dim, num_layers):
        super().__init__()
        self.num_layers = num_layers
        h = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < self.num_layers - 1 else layer(x)
        return x


class RefSine(nn.Module):
    def __init__(self, num_pos_feats, temperature=10000, normalize=True):
        super().__init__()
        self.num_pos_feats, self.temperature, self.normalize, self.scale = num_pos_feats, temperature, normalize, 2 * math.pi

    def forward(self, x, mask):
        x_embed = mask.cumsum(1, dtype=torch.float32)
        if self.normalize:
            x_embed = x_embed / (x_embed[:, -1:] + 1e-6) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=x.device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)
        pos_x = x_embed[:, :, None] / dim_t
        return torch.stack((pos_x[:, :, 0::2].sin(), pos_x[:, :, 1::2].cos()), dim=3).flatten(2)


class RefTrainablePE(nn.Module):
    def __init__(self, max_position_embeddings, hidden_size, dropout=0.1):
        super().__init__()
        self.position_embeddings = nn.Embedding(max_position_embeddings, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input_feat):
        bsz, n = input_feat.shape[:2]
        ids = torch.arange(n, dtype=torch.long, device=input_feat.device).unsqueeze(0).repeat(bsz, 1)
        return self.dropout(self.LayerNorm(input_feat + self.position_embeddings(ids)))


class RefEncoderLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward, dropout):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, src, src_key_padding_mask, pos):
        q = k = src + pos
        src2 = self.self_attn(q, k, value=src, key_padding_mask=src_key_padding_mask)[0]
        src = self.norm1(src + self.dropout1(src2))
        src2 = self.linear2(self.dropout(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout2(src2))


class RefDecoderLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward, dropout):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, tgt, memory, memory_key_padding_mask, pos, query_pos):
        q = k = tgt + query_pos
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(q, k, value=tgt)[0]))
        tgt2 = self.multihead_attn(query=tgt + query_pos, key=memory + pos, value=memory,
                                   key_padding_mask=memory_key_padding_mask)[0]
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


class RefEncoder(nn.Module):
    def __init__(self, layer, n):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(n)])

    def forward(self, src, src_key_padding_mask, pos):
        for layer in self.layers:
            src = layer(src, src_key_padding_mask, pos)
        return src


class RefDecoder(nn.Module):
    def __init__(self, layer, n, norm):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(n)])
        self.norm = norm

    def forward(self, tgt, memory, memory_key_padding_mask, pos, query_pos):
        intermediate = []
        for layer in self.layers:
            tgt = layer(tgt, memory, memory_key_padding_mask, pos, query_pos)
            intermediate.append(self.norm(tgt))
        return torch.stack(intermediate)


class RefTransformer(nn.Module):
    def __init__(self, d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout=0.1):
        super().__init__()
        self.encoder = RefEncoder(RefEncoderLayer(d_model, nhead, dim_feedforward, dropout), num_encoder_layers)
        self.decoder = RefDecoder(RefDecoderLayer(d_model, nhead, dim_feedforward, dropout), num_decoder_layers,
                                  nn.LayerNorm(d_model))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.d_model = d_model

    def forward(self, src, mask, query_embed, pos_embed):
        bs = src.shape[0]
        src, pos_embed = src.permute(1, 0, 2), pos_embed.permute(1, 0, 2)
        query_embed = query_embed.unsqueeze(1).repeat(1, bs, 1)
        tgt = torch.zeros_like(query_embed)
        memory = self.encoder(src, mask, pos_embed)
        hs = self.decoder(tgt, memory, mask, pos_embed, query_embed)
        return hs.transpose(1, 2), memory.transpose(0, 1)


class RefMomentDETR(nn.Module):
    def __init__(self, txt_dim, vid_dim, hidden_dim=256, nheads=8, enc_layers=2, dec_layers=2, dim_feedforward=1024,
                 num_queries=10, n_input_proj=2, max_q_l=32, use_txt_pos=False, input_dropout=0.5, dropout=0.1):
        super().__init__()
        self.transformer = RefTransformer(hidden_dim, nheads, enc_layers, dec_layers, dim_feedforward, dropout)
        self.position_embed = RefSine(hidden_dim)
        self.txt_position_embed = RefTrainablePE(max_q_l, hidden_dim, input_dropout)
        self.span_embed = RefMLP(hidden_dim, hidden_dim, 2, 3)
        self.class_embed = nn.Linear(hidden_dim, 2)
        self.use_txt_pos = use_txt_pos
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        relu_args = [True] * 3
        relu_args[n_input_proj - 1] = False
        self.input_txt_proj = nn.Sequential(*[
            RefLinearLayer(txt_dim, hidden_dim, dropout=input_dropout, relu=relu_args[0]),
            RefLinearLayer(hidden_dim, hidden_dim, dropout=input_dropout, relu=relu_args[1]),
            RefLinearLayer(hidden_dim, hidden_dim, dropout=input_dropout, relu=relu_args[2])][:n_input_proj])
        self.input_vid_proj = nn.Sequential(*[
            RefLinearLayer(vid_dim, hidden_dim, dropout=input_dropout, relu=relu_args[0]),
            RefLinearLayer(hidden_dim, hidden_dim, dropout=input_dropout, relu=relu_args[1]),
            RefLinearLayer(hidden_dim, hidden_dim, dropout=input_dropout, relu=relu_args[2])][:n_input_proj])
        self.saliency_proj = nn.Linear(hidden_dim, 1)

    def forward(self, src_txt, src_txt_mask, src_vid, src_vid_mask):
        src_vid = self.input_vid_proj(src_vid)
        src_txt = self.input_txt_proj(src_txt)
        src = torch.cat([src_vid, src_txt], dim=1)
        mask = torch.cat([src_vid_mask, src_txt_mask], dim=1).bool()
        pos_vid = self.position_embed(src_vid, src_vid_mask)
        pos_txt = self.txt_position_embed(src_txt) if self.use_txt_pos else torch.zeros_like(src_txt)
        pos = torch.cat([pos_vid, pos_txt], dim=1)
        hs, memory = self.transformer(src, ~mask, self.query_embed.weight, pos)
        out = {"pred_logits": self.class_embed(hs)[-1], "pred_spans": self.span_embed(hs).sigmoid()[-1]}
        out["saliency_scores"] = self.saliency_proj(memory[:, :src_vid.shape[1]]).squeeze(-1)
        return out


def ref_temporal_iou(pred, gt):
    intersection = max(0, min(pred[1], gt[1]) - max(pred[0], gt[0]))
    union = max(pred[1], gt[1]) - min(pred[0], gt[0])
    return 0 if union == 0 else 1.0 * intersection / union


def ref_temporal_nms(predictions, nms_thd, max_after_nms=100):
    if len(predictions) == 1:
        return predictions
    predictions = sorted(predictions, key=lambda x: x[2], reverse=True)
    ts, te, sc = [e[0] for e in predictions], [e[1] for e in predictions], [e[2] for e in predictions]
    rs, re_, rsc = [], [], []
    while len(ts) > 1 and len(rsc) < max_after_nms:
        idx = 1
        while idx < len(ts):
            if ref_temporal_iou([ts[0], te[0]], [ts[idx], te[idx]]) > nms_thd:
                ts.pop(idx), te.pop(idx), sc.pop(idx)
            else:
                idx += 1
        rs.append(ts.pop(0)), re_.append(te.pop(0)), rsc.append(sc.pop(0))
    if len(rsc) < max_after_nms and len(ts) >= 1:
        rs.append(ts.pop(0)), re_.append(te.pop(0)), rsc.append(sc.pop(0))
    return [[s, e, c] for c, s, e in zip(rsc, rs, re_)]


def ref_decode(pred_logits, pred_spans, duration, clip_length=2.0, max_ts=150.0, nms_thd=-1.0, max_after_nms=10):
    """compute_mr_results + PostProcessorDETR(clip_ts, round_multiple) + post_processing_mr_nms, one query."""
    scores = F.softmax(pred_logits, -1)[..., 0]
    cx, w = pred_spans[:, 0], pred_spans[:, 1]
    spans = torch.stack([cx - 0.5 * w, cx + 0.5 * w], dim=-1) * duration
    preds = torch.cat([spans, scores[:, None]], dim=1).tolist()
    preds = sorted(preds, key=lambda x: x[2], reverse=True)
    preds = [[float(f"{e:.4f}") for e in row] for row in preds]
    t = torch.tensor(preds)
    windows = torch.round(torch.clamp(t[:, :2], min=0, max=max_ts) / clip_length) * clip_length
    preds = [e[:2] + [float(f"{e[2]:.4f}")] for e in torch.cat([windows, t[:, 2:3]], dim=1).tolist()]
    if nms_thd != -1:
        preds = ref_temporal_nms(preds[:max_after_nms], nms_thd=nms_thd, max_after_nms=max_after_nms)
    return preds

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


# --- QD-DETR (github.com/wjun0830/QD-DETR qd_detr/model.py, transformer.py, attention.py; as
# packaged by github.com/line/lighthouse lighthouse/common/qd_detr*.py, attention.py) ---------


def ref_inverse_sigmoid(x, eps=1e-3):
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def ref_gen_sineembed_for_position(pos_tensor):
    scale = 2 * math.pi
    dim_t = torch.arange(128, dtype=torch.float32, device=pos_tensor.device)
    dim_t = 10000 ** (2 * (dim_t // 2) / 128)
    pos_x = pos_tensor[:, :, 0][:, :, None] * scale / dim_t
    pos_x = torch.stack((pos_x[:, :, 0::2].sin(), pos_x[:, :, 1::2].cos()), dim=3).flatten(2)
    pos_w = pos_tensor[:, :, 1][:, :, None] * scale / dim_t
    pos_w = torch.stack((pos_w[:, :, 0::2].sin(), pos_w[:, :, 1::2].cos()), dim=3).flatten(2)
    return torch.cat((pos_x, pos_w), dim=2)


class RefPlainMHA(nn.Module):
    """attention.py's MultiheadAttention: no input projections, out_proj (vdim, vdim)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, vdim=None):
        super().__init__()
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.vdim = vdim if vdim is not None else embed_dim
        self.out_proj = nn.Linear(self.vdim, self.vdim)

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None):
        tgt_len, bsz, embed_dim = query.size()
        head_dim, v_head_dim = embed_dim // self.num_heads, self.vdim // self.num_heads
        q = query * float(head_dim) ** -0.5
        q = q.contiguous().view(tgt_len, bsz * self.num_heads, head_dim).transpose(0, 1)
        k = key.contiguous().view(-1, bsz * self.num_heads, head_dim).transpose(0, 1)
        v = value.contiguous().view(-1, bsz * self.num_heads, v_head_dim).transpose(0, 1)
        src_len = k.size(1)
        w = torch.bmm(q, k.transpose(1, 2))
        if key_padding_mask is not None:
            w = w.view(bsz, self.num_heads, tgt_len, src_len)
            w = w.masked_fill(key_padding_mask.unsqueeze(1).unsqueeze(2), float("-inf"))
            w = w.view(bsz * self.num_heads, tgt_len, src_len)
        w = F.softmax(w - w.max(dim=-1, keepdim=True)[0], dim=-1)
        out = torch.bmm(w, v).transpose(0, 1).contiguous().view(tgt_len, bsz, self.vdim)
        return F.linear(out, self.out_proj.weight, self.out_proj.bias), None


class RefT2VLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.activation = nn.PReLU()
        self.nhead = nhead

    def forward(self, src, src_key_padding_mask, pos, video_length):
        pos_src = src + pos
        global_token, q, k, v = src[0].unsqueeze(0), pos_src[1:video_length + 1], pos_src[video_length + 1:], src[video_length + 1:]
        qmask = src_key_padding_mask[:, 1:video_length + 1].unsqueeze(2)
        kmask = src_key_padding_mask[:, video_length + 1:].unsqueeze(1)
        attn_mask = torch.matmul(qmask.float(), kmask.float()).bool().repeat(self.nhead, 1, 1)
        src2 = self.self_attn(q, k, value=v, attn_mask=attn_mask,
                              key_padding_mask=src_key_padding_mask[:, video_length + 1:])[0]
        src2 = src[1:video_length + 1] + self.dropout1(src2)
        src3 = self.norm1(src2)
        src3 = self.linear2(self.dropout(self.activation(self.linear1(src3))))
        src2 = self.norm2(src2 + self.dropout2(src3))
        return torch.cat([torch.cat([global_token, src2], dim=0), src[video_length + 1:]])


class RefPReLUEncoderLayer(RefEncoderLayer):
    def __init__(self, d_model, nhead, dim_feedforward, dropout):
        super().__init__(d_model, nhead, dim_feedforward, dropout)
        self.activation = nn.PReLU()

    def forward(self, src, src_key_padding_mask, pos):
        q = k = src + pos
        src2 = self.self_attn(q, k, value=src, key_padding_mask=src_key_padding_mask)[0]
        src = self.norm1(src + self.dropout1(src2))
        src2 = self.linear2(self.dropout(self.activation(self.linear1(src))))
        return self.norm2(src + self.dropout2(src2))


class RefCondDecoderLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.1):
        super().__init__()
        self.sa_qcontent_proj = nn.Linear(d_model, d_model)
        self.sa_qpos_proj = nn.Linear(d_model, d_model)
        self.sa_kcontent_proj = nn.Linear(d_model, d_model)
        self.sa_kpos_proj = nn.Linear(d_model, d_model)
        self.sa_v_proj = nn.Linear(d_model, d_model)
        self.self_attn = RefPlainMHA(d_model, nhead, dropout=dropout, vdim=d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.ca_qcontent_proj = nn.Linear(d_model, d_model)
        self.ca_qpos_proj = nn.Linear(d_model, d_model)
        self.ca_kcontent_proj = nn.Linear(d_model, d_model)
        self.ca_kpos_proj = nn.Linear(d_model, d_model)
        self.ca_v_proj = nn.Linear(d_model, d_model)
        self.ca_qpos_sine_proj = nn.Linear(d_model, d_model)
        self.cross_attn = RefPlainMHA(d_model * 2, nhead, dropout=dropout, vdim=d_model)
        self.nhead = nhead
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.activation = nn.PReLU()

    def forward(self, tgt, memory, memory_key_padding_mask, pos, query_pos, query_sine_embed, is_first):
        q = self.sa_qcontent_proj(tgt) + self.sa_qpos_proj(query_pos)
        k = self.sa_kcontent_proj(tgt) + self.sa_kpos_proj(query_pos)
        tgt2 = self.self_attn(q, k, value=self.sa_v_proj(tgt))[0]
        tgt = self.norm1(tgt + self.dropout1(tgt2))
        q_content = self.ca_qcontent_proj(tgt)
        k_content = self.ca_kcontent_proj(memory)
        v = self.ca_v_proj(memory)
        num_queries, bs, n_model = q_content.shape
        hw = k_content.shape[0]
        k_pos = self.ca_kpos_proj(pos)
        if is_first:
            q, k = q_content + self.ca_qpos_proj(query_pos), k_content + k_pos
        else:
            q, k = q_content, k_content
        q = q.view(num_queries, bs, self.nhead, n_model // self.nhead)
        qse = self.ca_qpos_sine_proj(query_sine_embed).view(num_queries, bs, self.nhead, n_model // self.nhead)
        q = torch.cat([q, qse], dim=3).view(num_queries, bs, n_model * 2)
        k = k.view(hw, bs, self.nhead, n_model // self.nhead)
        k_pos = k_pos.view(hw, bs, self.nhead, n_model // self.nhead)
        k = torch.cat([k, k_pos], dim=3).view(hw, bs, n_model * 2)
        tgt2 = self.cross_attn(query=q, key=k, value=v, key_padding_mask=memory_key_padding_mask)[0]
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.linear2(self.dropout(self.activation(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


class RefAnchorDecoder(nn.Module):
    def __init__(self, layer, num_layers, d_model):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])
        for layer_id in range(num_layers - 1):
            self.layers[layer_id + 1].ca_qpos_proj = None
        self.num_layers = num_layers
        self.norm = nn.LayerNorm(d_model)
        self.query_scale = RefMLP(d_model, d_model, d_model, 2)
        self.ref_point_head = RefMLP(d_model, d_model, d_model, 2)
        self.bbox_embed = RefMLP(d_model, d_model, 2, 3)
        self.ref_anchor_head = RefMLP(d_model, d_model, 1, 2)
        self.sine = ref_gen_sineembed_for_position  # QD-DETR: 128 features per coordinate

    def forward(self, tgt, memory, memory_key_padding_mask, pos, refpoints_unsigmoid):
        output = tgt
        intermediate = []
        reference_points = refpoints_unsigmoid.sigmoid()
        ref_points = [reference_points]
        for layer_id, layer in enumerate(self.layers):
            obj_center = reference_points[..., :2]
            query_sine_embed = self.sine(obj_center)
            query_pos = self.ref_point_head(query_sine_embed)
            pos_transformation = 1 if layer_id == 0 else self.query_scale(output)
            query_sine_embed = query_sine_embed * pos_transformation
            reft_cond = self.ref_anchor_head(output).sigmoid()
            query_sine_embed *= (reft_cond[..., 0] / obj_center[..., 1]).unsqueeze(-1)
            output = layer(output, memory, memory_key_padding_mask, pos, query_pos, query_sine_embed,
                           is_first=(layer_id == 0))
            tmp = self.bbox_embed(output)
            tmp[..., :2] += ref_inverse_sigmoid(reference_points)
            new_reference_points = tmp[..., :2].sigmoid()
            if layer_id != self.num_layers - 1:
                ref_points.append(new_reference_points)
            reference_points = new_reference_points.detach()
            intermediate.append(self.norm(output))
        output = self.norm(output)
        intermediate.pop()
        intermediate.append(output)
        return torch.stack(intermediate).transpose(1, 2), torch.stack(ref_points).transpose(1, 2)


class RefQDTransformer(nn.Module):
    def __init__(self, d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout=0.1):
        super().__init__()
        self.t2v_encoder = RefEncoder(RefT2VLayer(d_model, nhead, dim_feedforward, dropout), num_encoder_layers)
        self.encoder = RefEncoder(RefPReLUEncoderLayer(d_model, nhead, dim_feedforward, dropout), num_encoder_layers)
        self.decoder = RefAnchorDecoder(RefCondDecoderLayer(d_model, nhead, dim_feedforward, dropout),
                                        num_decoder_layers, d_model)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.d_model = d_model

    def forward(self, src, mask, query_embed, pos_embed, video_length):
        bs, _, d = src.shape
        src, pos_embed = src.permute(1, 0, 2), pos_embed.permute(1, 0, 2)
        refpoint_embed = query_embed.unsqueeze(1).repeat(1, bs, 1)
        for layer in self.t2v_encoder.layers:
            src = layer(src, mask, pos_embed, video_length)
        src, mask, pos_embed = src[:video_length + 1], mask[:, :video_length + 1], pos_embed[:video_length + 1]
        memory = self.encoder(src, mask, pos_embed)
        memory_global, memory_local = memory[0], memory[1:]
        tgt = torch.zeros(refpoint_embed.shape[0], bs, d, device=src.device)
        hs, references = self.decoder(tgt, memory_local, mask[:, 1:], pos_embed[1:], refpoint_embed)
        return hs, references, memory_local.transpose(0, 1), memory_global


class RefQDDETR(nn.Module):
    def __init__(self, txt_dim, vid_dim, hidden_dim=256, nheads=8, enc_layers=2, dec_layers=2, dim_feedforward=1024,
                 num_queries=10, n_input_proj=2, max_q_l=32, use_txt_pos=False, input_dropout=0.5, dropout=0.1):
        super().__init__()
        self.transformer = RefQDTransformer(hidden_dim, nheads, enc_layers, dec_layers, dim_feedforward, dropout)
        self.position_embed = RefSine(hidden_dim)
        self.txt_position_embed = RefTrainablePE(max_q_l, hidden_dim, input_dropout)
        self.span_embed = RefMLP(hidden_dim, hidden_dim, 2, 3)
        self.class_embed = nn.Linear(hidden_dim, 2)
        self.use_txt_pos = use_txt_pos
        self.query_embed = nn.Embedding(num_queries, 2)
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
        self.saliency_proj1 = nn.Linear(hidden_dim, hidden_dim)
        self.saliency_proj2 = nn.Linear(hidden_dim, hidden_dim)
        self.hidden_dim = hidden_dim
        self.global_rep_token = nn.Parameter(torch.randn(hidden_dim))
        self.global_rep_pos = nn.Parameter(torch.randn(hidden_dim))

    def forward(self, src_txt, src_txt_mask, src_vid, src_vid_mask):
        src_vid = self.input_vid_proj(src_vid)
        src_txt = self.input_txt_proj(src_txt)
        src = torch.cat([src_vid, src_txt], dim=1)
        mask = torch.cat([src_vid_mask, src_txt_mask], dim=1).bool()
        pos_vid = self.position_embed(src_vid, src_vid_mask)
        pos_txt = self.txt_position_embed(src_txt) if self.use_txt_pos else torch.zeros_like(src_txt)
        pos = torch.cat([pos_vid, pos_txt], dim=1)
        mask_ = torch.tensor([[True]]).to(mask.device).repeat(mask.shape[0], 1)
        mask = torch.cat([mask_, mask], dim=1)
        src = torch.cat([self.global_rep_token.reshape([1, 1, self.hidden_dim]).repeat(src.shape[0], 1, 1), src], dim=1)
        pos = torch.cat([self.global_rep_pos.reshape([1, 1, self.hidden_dim]).repeat(pos.shape[0], 1, 1), pos], dim=1)
        video_length = src_vid.shape[1]
        hs, reference, memory, memory_global = self.transformer(src, ~mask, self.query_embed.weight, pos, video_length)
        outputs_class = self.class_embed(hs)
        outputs_coord = (self.span_embed(hs) + ref_inverse_sigmoid(reference)).sigmoid()
        out = {"pred_logits": outputs_class[-1], "pred_spans": outputs_coord[-1]}
        vid_mem = memory[:, :src_vid.shape[1]]
        out["saliency_scores"] = torch.sum(self.saliency_proj1(vid_mem) * self.saliency_proj2(memory_global).unsqueeze(1),
                                           dim=-1) / math.sqrt(self.hidden_dim)
        return out


# --- CG-DETR (github.com/wjun0830/CGDETR cg_detr/model.py, transformer.py, crossattention.py; as
# packaged by Lighthouse, lighthouse/common/cg_detr*.py, crossattention.py); inference path only --


def ref_gen_sineembed_d(pos_tensor, d_model):
    scale = 2 * math.pi
    dim_t = torch.arange(d_model // 2, dtype=torch.float32, device=pos_tensor.device)
    dim_t = 10000 ** (2 * (dim_t // 2) / (d_model // 2))
    pos_x = pos_tensor[:, :, 0][:, :, None] * scale / dim_t
    pos_x = torch.stack((pos_x[:, :, 0::2].sin(), pos_x[:, :, 1::2].cos()), dim=3).flatten(2)
    pos_w = pos_tensor[:, :, 1][:, :, None] * scale / dim_t
    pos_w = torch.stack((pos_w[:, :, 0::2].sin(), pos_w[:, :, 1::2].cos()), dim=3).flatten(2)
    return torch.cat((pos_x, pos_w), dim=2)


class RefCateAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, num_dummies):
        super().__init__()
        self.embed_dim, self.num_heads, self.num_dummies = embed_dim, num_heads, num_dummies
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, query, key, value, attn_mask=None, key_padding_mask=None, dummy=True):
        tgt_len, bsz, embed_dim = query.size()
        head_dim = embed_dim // self.num_heads
        q = (query * float(head_dim) ** -0.5).contiguous().view(tgt_len, bsz * self.num_heads, head_dim).transpose(0, 1)
        k = key.contiguous().view(-1, bsz * self.num_heads, head_dim).transpose(0, 1)
        v = value.contiguous().view(-1, bsz * self.num_heads, head_dim).transpose(0, 1)
        src_len = k.size(1)
        w = torch.bmm(q, k.transpose(1, 2))
        if attn_mask is not None:
            w.masked_fill_(attn_mask, float("-inf"))
        if key_padding_mask is not None:
            w = w.view(bsz, self.num_heads, tgt_len, src_len)
            w = w.masked_fill(key_padding_mask.unsqueeze(1).unsqueeze(2), float("-inf"))
            w = w.view(bsz * self.num_heads, tgt_len, src_len)
        w = F.softmax(w, dim=-1)
        if dummy:
            out = torch.bmm(w[:, :, self.num_dummies:], v[:, self.num_dummies:, :])
        else:
            out = torch.bmm(w, v)
        out = out.transpose(0, 1).contiguous().view(tgt_len, bsz, embed_dim)
        out = F.linear(out, self.out_proj.weight, self.out_proj.bias)
        return out, w.view(bsz, self.num_heads, tgt_len, src_len).sum(dim=1) / self.num_heads


class RefCGT2VLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward, num_dummies, dropout=0.1):
        super().__init__()
        self.self_attn = RefCateAttention(d_model, nhead, num_dummies)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.activation = nn.PReLU()
        self.nhead = nhead

    def forward(self, src, src_key_padding_mask, pos, video_length, dummy=True):
        pos_src = src + pos
        q, k, v = pos_src[:video_length], pos_src[video_length:], src[video_length:]
        qmask = src_key_padding_mask[:, :video_length].unsqueeze(2)
        kmask = src_key_padding_mask[:, video_length:].unsqueeze(1)
        attn_mask = torch.matmul(qmask.float(), kmask.float()).bool().repeat(self.nhead, 1, 1)
        src2, attn_weights = self.self_attn(q, k, v, attn_mask=attn_mask,
                                            key_padding_mask=src_key_padding_mask[:, video_length:], dummy=dummy)
        src2 = src[:video_length] + src2
        src3 = self.linear2(self.dropout(self.activation(self.linear1(self.norm1(src2)))))
        src2 = self.norm2(src2 + src3)
        return torch.cat([src2, src[video_length:]]), attn_weights


class RefCATEEncoder(nn.Module):
    def __init__(self, layer, n):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(n)])
        self.num_layers = n

    def forward(self, src, src_key_padding_mask, pos, video_length, dummy=True):
        attn_weights = None
        for layer in self.layers:
            src, w = layer(src, src_key_padding_mask, pos, video_length, dummy)
            attn_weights = w if attn_weights is None else attn_weights + w
        return src, attn_weights / self.num_layers


class RefCGTransformer(nn.Module):
    def __init__(self, d_model, nhead, enc_layers, dec_layers, t2v_layers, dim_feedforward, num_dummies,
                 num_prompts, dropout=0.1):
        super().__init__()
        self.t2v_encoder = RefCATEEncoder(RefCGT2VLayer(d_model, nhead, dim_feedforward, num_dummies, dropout), t2v_layers)
        self.encoder = RefEncoder(RefPReLUEncoderLayer(d_model, nhead, dim_feedforward, dropout), enc_layers)
        self.decoder = RefAnchorDecoder(RefCondDecoderLayer(d_model, nhead, dim_feedforward, dropout), dec_layers, d_model)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.d_model, self.num_dummies, self.num_prompts = d_model, num_dummies, num_prompts

    def forward(self, src, mask, query_embed, pos_embed, video_length, ctxtoken, gtoken, gpos, vlen):
        bs, _, d = src.shape
        src, pos_embed = src.permute(1, 0, 2), pos_embed.permute(1, 0, 2)
        refpoint_embed = query_embed.unsqueeze(1).repeat(1, bs, 1)
        t2v_src, attn_weights = self.t2v_encoder(src, mask, pos_embed, video_length)
        ctx_src_ = ctxtoken.permute(1, 0, 2)
        fr_token_sim = torch.softmax(torch.matmul(F.normalize((src[:video_length] - ctx_src_).permute(1, 0, 2), dim=2),
                                                  F.normalize(gtoken, dim=1).T), dim=-1)
        frame_importance = attn_weights[:, :, self.num_dummies:].sum(2).clone().detach()
        for i in range(len(frame_importance)):
            frame_importance[i][vlen[i]:] *= 0.
        frame_importance = (frame_importance / frame_importance.sum(1).unsqueeze(1)) * frame_importance.size(1)
        fr_token_sim = fr_token_sim * frame_importance.unsqueeze(2).repeat(1, 1, fr_token_sim.size(2))
        fr_token_sim = fr_token_sim.mean(1)
        topk_val, topkidx = torch.topk(fr_token_sim, k=self.num_prompts, dim=1)
        src_ = torch.zeros((len(fr_token_sim), self.d_model), device=src.device)
        for i in range(len(fr_token_sim)):
            src_[i] = (topk_val[i].unsqueeze(1) * gtoken[topkidx[i]]).sum(0)
        src_ = src_.reshape(1, src.size(1), -1) + ctx_src_
        pos_ = gpos.reshape([1, 1, self.d_model]).repeat(1, pos_embed.shape[1], 1)
        mask_ = torch.tensor([[False]]).to(mask.device).repeat(mask.shape[0], 1)
        src_, _ = self.t2v_encoder(src_, mask_, pos_, video_length, dummy=False)
        src = torch.cat([src_, t2v_src], dim=0)
        mask = torch.cat([mask_, mask], dim=1)
        pos_embed = torch.cat([pos_, pos_embed], dim=0)
        src, mask, pos_embed = src[:video_length + 1], mask[:, :video_length + 1], pos_embed[:video_length + 1]
        memory = self.encoder(src, mask, pos_embed)
        memory_global, memory_local = memory[0], memory[1:]
        memory_local += memory_global.unsqueeze(0).repeat(memory_local.size(0), 1, 1)
        tgt = torch.zeros(refpoint_embed.shape[0], bs, d, device=src.device)
        hs, references = self.decoder(tgt, memory_local, mask[:, 1:], pos_embed[1:], refpoint_embed)
        return hs, references, memory_local.transpose(0, 1), memory_global


class RefCGDETR(nn.Module):
    def __init__(self, txt_dim, vid_dim, hidden_dim=256, nheads=8, enc_layers=2, dec_layers=2, t2v_layers=2,
                 dummy_layers=2, dim_feedforward=1024, num_queries=10, n_input_proj=2, max_q_l=32, use_txt_pos=False,
                 num_dummies=45, total_prompts=10, num_prompts=2, input_dropout=0.5, dropout=0.1):
        super().__init__()
        self.transformer = RefCGTransformer(hidden_dim, nheads, enc_layers, dec_layers, t2v_layers, dim_feedforward,
                                            num_dummies, num_prompts, dropout)
        self.transformer.decoder.sine = lambda p: ref_gen_sineembed_d(p, hidden_dim)  # d/2 per coordinate
        self.position_embed = RefSine(hidden_dim)
        self.txt_position_embed = RefTrainablePE(max_q_l, hidden_dim, input_dropout)
        self.span_embed = RefMLP(hidden_dim, hidden_dim, 2, 3)
        self.class_embed = nn.Linear(hidden_dim, 2)
        self.token_type_embeddings = nn.Embedding(2, hidden_dim)
        self.use_txt_pos = use_txt_pos
        self.query_embed = nn.Embedding(num_queries, 2)
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
        self.saliency_proj1 = nn.Linear(hidden_dim, hidden_dim)
        self.saliency_proj2 = nn.Linear(hidden_dim, hidden_dim)
        self.hidden_dim, self.num_dummies = hidden_dim, num_dummies
        self.global_rep_token = nn.Parameter(torch.randn(total_prompts, hidden_dim))
        self.global_rep_pos = nn.Parameter(torch.randn(1, hidden_dim))
        self.dummy_rep_token = nn.Parameter(torch.randn(num_dummies, hidden_dim))
        self.dummy_rep_pos = nn.Parameter(torch.randn(num_dummies, hidden_dim))
        self.txtproj_encoder = RefEncoder(RefPReLUEncoderLayer(hidden_dim, 8, dim_feedforward, 0.1), dummy_layers)

    def forward(self, src_txt, src_txt_mask, src_vid, src_vid_mask):
        src_vid = self.input_vid_proj(src_vid)
        src_txt = self.input_txt_proj(src_txt)
        src_vid = src_vid + self.token_type_embeddings(torch.full_like(src_vid_mask.long(), 1))
        src_txt = src_txt + self.token_type_embeddings(torch.zeros_like(src_txt_mask.long()))
        pos_vid = self.position_embed(src_vid, src_vid_mask)
        pos_txt = self.txt_position_embed(src_txt) if self.use_txt_pos else torch.zeros_like(src_txt)
        b, nd = src_txt.shape[0], self.num_dummies
        txt_dummy = self.dummy_rep_token.reshape([1, nd, self.hidden_dim]).repeat(b, 1, 1)
        src_txt_dummy = torch.cat([txt_dummy, src_txt], dim=1)
        mask_txt = torch.tensor([[True] * nd]).to(src_txt_mask.device).repeat(b, 1)
        src_txt_mask_dummy = torch.cat([mask_txt, src_txt_mask], dim=1)
        pos_dummy = self.dummy_rep_pos.reshape([1, nd, self.hidden_dim]).repeat(b, 1, 1)
        pos_txt_dummy = torch.cat([pos_dummy, pos_txt], dim=1)
        memory = self.txtproj_encoder(src_txt_dummy.permute(1, 0, 2), ~(src_txt_mask_dummy.bool()),
                                      pos_txt_dummy.permute(1, 0, 2))
        dummy_token = memory[:nd].permute(1, 0, 2)
        src_txt_dummy = torch.cat([dummy_token, src_txt], dim=1)
        src_txt_mask_dummy = torch.cat([mask_txt, src_txt_mask], dim=1)
        src = torch.cat([src_vid, src_txt_dummy], dim=1)
        mask = torch.cat([src_vid_mask, src_txt_mask_dummy], dim=1).bool()
        pos = torch.cat([pos_vid, pos_txt_dummy], dim=1)
        vidsrc_ = torch.zeros((len(src_vid), 1, self.hidden_dim), device=src_vid.device)
        for i in range(len(src_vid)):
            vidsrc_[i] = src_vid[i][:src_vid_mask.sum(1)[i].long()].mean(0).clone().detach()
        video_length = src_vid.shape[1]
        hs, reference, memory, memory_global = self.transformer(
            src, ~mask, self.query_embed.weight, pos, video_length, ctxtoken=vidsrc_, gtoken=self.global_rep_token,
            gpos=self.global_rep_pos, vlen=src_vid_mask.sum(1).long())
        outputs_coord = (self.span_embed(hs) + ref_inverse_sigmoid(reference)).sigmoid()
        out = {"pred_logits": self.class_embed(hs)[-1], "pred_spans": outputs_coord[-1]}
        vid_mem = memory[:, :src_vid.shape[1]]
        out["saliency_scores"] = torch.sum(self.saliency_proj1(vid_mem) * self.saliency_proj2(memory_global).unsqueeze(1),
                                           dim=-1) / math.sqrt(self.hidden_dim)
        return out

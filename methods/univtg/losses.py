"""UniVTG training losses (the paper's training objectives) with the released coefficients.

* foreground: binary cross-entropy, background clips down-weighted by ``eos_coef`` = 0.1;
* boundaries, on foreground clips only: smooth-L1 between ``anchor + offsets`` and the clip's
  ground-truth window (normalised by ``L * clip_len``) plus ``1 - GIoU``;
* saliency, intra-video: for a positive clip, a contrastive loss against the clips of the same
  video whose saliency is lower (temperature 0.07);
* saliency, inter-video: the positive clip against the other sentences of the batch (and the
  sentence against the other videos' positive clips, as the released code symmetrises it).

Coefficients are those of the released pre-training / co-training scripts: ``f=10, b=10, g=1,
s_intra=0.1, s_inter=0.1``.

Deviation from the reference code: its intra-video loss adds a second term that normalises the
positive clip's score across the *batch* at the same clip index (``log_softmax(sim_in.t())``),
which has no counterpart in the paper's intra-video loss and mixes unrelated videos; vtg implements the
paper's form only.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

TEMPERATURE = 0.07


@dataclass(frozen=True)
class LossWeights:
    f: float = 10.0
    b: float = 10.0
    g: float = 1.0
    s_intra: float = 0.1
    s_inter: float = 0.1
    eos_coef: float = 0.1

    def as_dict(self) -> dict[str, float]:
        return {"loss_f": self.f, "loss_b": self.b, "loss_g": self.g,
                "loss_s_intra": self.s_intra, "loss_s_inter": self.s_inter}


def generalized_temporal_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Element-wise GIoU of windows ``a`` and ``b`` (N, 2) given as [start, end]."""
    inter = (torch.minimum(a[:, 1], b[:, 1]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    union = (a[:, 1] - a[:, 0]) + (b[:, 1] - b[:, 0]) - inter
    enclose = torch.maximum(a[:, 1], b[:, 1]) - torch.minimum(a[:, 0], b[:, 0])
    iou = inter / union.clamp(min=1e-6)
    return iou - (enclose - union) / enclose.clamp(min=1e-6)


def foreground_loss(out, tgt, eos_coef: float) -> torch.Tensor:
    prob = out["pred_logits"].squeeze(-1).float().clamp(1e-6, 1 - 1e-6)
    mask, fg = tgt["vid_mask"], tgt["fg"]
    weight = torch.where(fg > 0, torch.ones_like(fg), torch.full_like(fg, eos_coef)) * mask
    bce = F.binary_cross_entropy(prob, fg, weight=weight, reduction="sum")
    return bce / mask.sum().clamp(min=1)


def boundary_losses(out, tgt) -> tuple[torch.Tensor, torch.Tensor]:
    sel = (tgt["fg"] > 0) & (tgt["box_weight"][:, None] > 0) & (tgt["vid_mask"] > 0)
    if not sel.any():
        zero = out["pred_spans"].sum() * 0.0
        return zero, zero
    pred = tgt["timestamp"][..., None] + out["pred_spans"].float()
    pred, gt = pred[sel], tgt["span_target"][sel]
    l1 = F.smooth_l1_loss(pred, gt, reduction="sum") / sel.sum()
    giou = (1.0 - generalized_temporal_iou(pred, gt)).mean()
    return l1, giou


def saliency_losses(out, tgt) -> tuple[torch.Tensor, torch.Tensor]:
    clips = out["vid_mem_proj"].float()          # (B, L, D), projected clip tokens
    sent = out["txt_mem_proj"].float()[:, 0]     # (B, D), pooled sentence
    pos = tgt["pos_idx"]
    has = pos >= 0
    if not has.any():
        zero = clips.sum() * 0.0
        return zero, zero
    b = torch.nonzero(has).squeeze(1)
    p = pos[b]
    # intra-video: the positive against lower-saliency clips of the same video
    sim = F.cosine_similarity(clips[b], sent[b][:, None, :], dim=-1) / TEMPERATURE  # (N, L)
    sal = tgt["saliency"][b]
    pos_sal = sal.gather(1, p[:, None])
    allowed = (sal < pos_sal) & (tgt["vid_mask"][b] > 0)
    allowed[torch.arange(len(b)), p] = True
    logp = torch.log_softmax(sim.masked_fill(~allowed, float("-inf")), dim=1)
    intra = -logp[torch.arange(len(b)), p].mean()
    # inter-video: positive clip vs every sentence in the batch, symmetrised
    if len(b) < 2:
        return intra, clips.sum() * 0.0
    v = F.normalize(clips[b, p], dim=-1)
    t = F.normalize(sent[b], dim=-1)
    logits = v @ t.t() / TEMPERATURE
    target = torch.arange(len(b), device=logits.device)
    inter = F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)
    return intra, inter


def compute_losses(out, tgt, weights: LossWeights = LossWeights()) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted total loss and the per-term (weighted) values for logging."""
    terms = {"loss_f": foreground_loss(out, tgt, weights.eos_coef)}
    terms["loss_b"], terms["loss_g"] = boundary_losses(out, tgt)
    terms["loss_s_intra"], terms["loss_s_inter"] = saliency_losses(out, tgt)
    coef = weights.as_dict()
    total = functools.reduce(operator.add, (coef[k] * v for k, v in terms.items()))
    return total, {k: float(coef[k] * (v.detach() if hasattr(v, "detach") else v)) for k, v in terms.items()}

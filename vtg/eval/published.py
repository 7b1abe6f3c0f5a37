"""Figures the methods' authors published, for ``vtg bench`` to print beside a run's own.

Only figures checked against their source are here, each with that source. So far these are the
metrics the authors released *with their checkpoints* (the evaluation files beside
``model_best.ckpt`` in their repositories): what ``vtg models convert`` + ``vtg bench`` on the
same split should reproduce. Paper tables (TFVTG, NumPro, TimeMarker, UniVTG, Moment-DETR,
QD-DETR, CG-DETR) are not yet transcribed: their numbers could not be checked against the papers
from this build's sources, and a figure that might be wrong is worse than none, so ``vtg bench``
says "no published figure" for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Published:
    method: str
    benchmark: str
    split: str
    metrics: dict[str, float]
    source: str
    notes: str = ""
    features: str = field(default="clip")


PUBLISHED: tuple[Published, ...] = (
    Published(
        "moment_detr", "qvhighlights", "val",
        {"MR-full-R1@0.5": 53.23, "MR-full-R1@0.7": 34.0, "MR-full-mAP": 30.58, "MR-full-mAP@0.5": 54.8,
         "MR-full-mAP@0.75": 29.02, "HL-min-VeryGood-mAP": 35.51, "HL-min-VeryGood-Hit1": 55.87},
        source="github.com/jayleicn/moment_detr run_on_video/moment_detr_ckpt/"
               "inference_hl_val_test_code_preds_metrics.json ('brief')",
        notes="the released CLIP-only checkpoint trained without ASR pre-training (its README: 'may perform "
              "worse than the model reported in the paper')"),
    Published(
        "qd_detr", "qvhighlights", "val",
        {"MR-full-R1@0.5": 60.58, "MR-full-R1@0.7": 43.35, "MR-full-mAP": 38.66, "MR-full-mAP@0.5": 60.49,
         "MR-full-mAP@0.75": 38.66, "HL-min-VeryGood-mAP": 37.73, "HL-min-VeryGood-Hit1": 61.1},
        source="github.com/wjun0830/QD-DETR results/QDDETR_onlyclip/best_hl_val_preds_metrics.json ('brief')",
        notes="the released CLIP-only checkpoint (results/QDDETR_onlyclip/model_best.ckpt)"),
)


def published_for(method: str, benchmark: str | None, split: str | None) -> Published | None:
    for entry in PUBLISHED:
        if (entry.method, entry.benchmark) == (method, benchmark) and (split is None or entry.split == split):
            return entry
    return None

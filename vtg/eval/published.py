"""Figures the methods' authors published, for ``vtg bench`` to print beside a run's own.

Only figures read from their source are here, each naming it: the authors' own repositories,
either the evaluation files released beside their checkpoints (Moment-DETR, QD-DETR) or the
results tables of their READMEs (TFVTG: "the results in the paper"; UniVTG's model zoo, per
released checkpoint; CG-DETR's evaluation files beside its checkpoints). Figures that appear only
in the papers' PDFs (NumPro, TimeMarker, and the papers' own Moment-DETR / QD-DETR / CG-DETR tables) are not transcribed: they could not be read
from this build's sources, and a figure that might be wrong is worse than none, so ``vtg bench``
says "no published figure" for them. ``queries`` is the size of the split the figure was computed
on, so a run on another file is flagged.
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
    queries: int | None = None
    variant: str = ""


PUBLISHED: tuple[Published, ...] = (
    Published(
        "moment_detr", "qvhighlights", "val",
        {"MR-full-R1@0.5": 53.23, "MR-full-R1@0.7": 34.0, "MR-full-mAP": 30.58, "MR-full-mAP@0.5": 54.8,
         "MR-full-mAP@0.75": 29.02, "HL-min-VeryGood-mAP": 35.51, "HL-min-VeryGood-Hit1": 55.87},
        source="github.com/jayleicn/moment_detr run_on_video/moment_detr_ckpt/"
               "inference_hl_val_test_code_preds_metrics.json ('brief')",
        notes="the released CLIP-only checkpoint trained without ASR pre-training (its README: 'may perform "
              "worse than the model reported in the paper')", queries=1550),
    Published(
        "qd_detr", "qvhighlights", "val",
        {"MR-full-R1@0.5": 60.58, "MR-full-R1@0.7": 43.35, "MR-full-mAP": 38.66, "MR-full-mAP@0.5": 60.49,
         "MR-full-mAP@0.75": 38.66, "HL-min-VeryGood-mAP": 37.73, "HL-min-VeryGood-Hit1": 61.1},
        source="github.com/wjun0830/QD-DETR results/QDDETR_onlyclip/best_hl_val_preds_metrics.json ('brief')",
        notes="the released CLIP-only checkpoint (results/QDDETR_onlyclip/model_best.ckpt)", queries=1550),
    Published(
        "cg_detr", "qvhighlights", "val",
        {"MR-full-R1@0.5": 65.42, "MR-full-R1@0.7": 49.61, "MR-full-mAP": 43.56, "MR-full-mAP@0.5": 65.99,
         "MR-full-mAP@0.75": 44.39, "HL-min-VeryGood-mAP": 39.03, "HL-min-VeryGood-Hit1": 62.97},
        source="github.com/wjun0830/CGDETR run_on_video/CLIP_ckpt/qvhighlights_onlyCLIP/best_hl_val_preds_metrics.json",
        notes="the 'QVHighlights only CLIP' checkpoint of its README", queries=1550, variant="only CLIP"),
    Published(
        "cg_detr", "qvhighlights", "val",
        {"MR-full-R1@0.5": 67.35, "MR-full-R1@0.7": 52.06, "MR-full-mAP": 44.93, "MR-full-mAP@0.5": 65.57,
         "MR-full-mAP@0.75": 45.73, "HL-min-VeryGood-mAP": 40.79, "HL-min-VeryGood-Hit1": 66.71},
        source="github.com/wjun0830/CGDETR results/qvhighlights/best_hl_val_preds_metrics.json",
        notes="the 'QVHighlights' (SlowFast + CLIP) checkpoint of its README", features="slowfast_clip",
        queries=1550, variant="SlowFast + CLIP"),
    Published("tfvtg", "charades", "test", {"R1@0.3": 67.04, "R1@0.5": 49.97, "R1@0.7": 24.32, "mIoU": 44.51},
              source="github.com/minghangz/TFVTG README.md (results of the paper, dataset/charades-sta/charades_test.json)",
              features="blip2", queries=3720),
    Published("tfvtg", "activitynet", "test", {"R1@0.3": 49.34, "R1@0.5": 27.02, "R1@0.7": 13.39, "mIoU": 34.10},
              source="github.com/minghangz/TFVTG README.md (results of the paper, dataset/activitynet/test.json = "
                     "ActivityNet Captions val_2)", features="blip2", queries=17031),
    Published("univtg", "qvhighlights", "val", {"MR-full-mAP": 36.13, "HL-min-VeryGood-Hit1": 61.81},
              source="github.com/showlab/UniVTG model.md, 'Joint Moment Retrieval and Highlight Detection', row QVHL",
              features="slowfast_clip", queries=1550, variant="QVHL (no pre-training)"),
    Published("univtg", "qvhighlights", "val", {"MR-full-mAP": 45.44, "HL-min-VeryGood-Hit1": 68.77},
              source="github.com/showlab/UniVTG model.md, row QVHL (w/ PT)", features="slowfast_clip", queries=1550,
              variant="QVHL (w/ PT)"),
    Published("univtg", "qvhighlights", "test", {"MR-full-mAP": 35.47, "HL-min-VeryGood-Hit1": 60.96},
              source="github.com/showlab/UniVTG model.md, row QVHL", features="slowfast_clip", queries=1542,
              variant="QVHL (no pre-training)"),
    Published("univtg", "qvhighlights", "test", {"MR-full-mAP": 43.63, "HL-min-VeryGood-Hit1": 66.28},
              source="github.com/showlab/UniVTG model.md, row QVHL (w/ PT)", features="slowfast_clip", queries=1542,
              variant="QVHL (w/ PT)"),
    Published("univtg", "charades", "test", {"R1@0.3": 72.63, "mIoU": 52.17},
              source="github.com/showlab/UniVTG model.md, 'Moment Retrieval', row Charades (w/ PT)",
              features="slowfast_clip", queries=3720, variant="Charades (w/ PT)"),
    Published("univtg", "tacos", "test", {"R1@0.3": 56.11, "mIoU": 38.63},
              source="github.com/showlab/UniVTG model.md, 'Moment Retrieval', row Tacos (w/ PT)",
              features="slowfast_clip", variant="Tacos (w/ PT)"),
)


def published_for(method: str, benchmark: str | None, split: str | None) -> list[Published]:
    """Every figure for the method on that benchmark and split (several released checkpoints may
    have one each; the first is the default comparison)."""
    return [e for e in PUBLISHED if (e.method, e.benchmark) == (method, benchmark) and (split is None or e.split == split)]

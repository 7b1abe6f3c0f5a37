"""Highlight detection on TVSum and YouTube Highlights, scored as UMT (Liu et al., CVPR 2022) and
the DETR family after it score them (UMT's ``datasets/tvsum.py`` / ``youtube.py``, Lighthouse's
``compute_hl_results``).

Their annotation lines (UMT's and Lighthouse's ``tvsum_*_release.jsonl``,
``youtube_highlight_*_release.jsonl``) carry a ``label`` per clip: one row per clip, one column
per annotator (TVSum: 20 annotators' 1-5 importance; YouTube Highlights: one 0/1 column), and no
windows. Predictions are ``pred_saliency_scores``, one per clip, compared clip by clip.

* several annotators (TVSum): per annotator, a clip is positive above that annotator's median;
  the clips are ranked by predicted saliency and AP is taken over the top 5 ("top-5 mAP"),
  0 when none of the 5 is positive; the query's score is the mean over annotators;
* one annotator (YouTube Highlights): AP over every clip.

AP is the trapezoidal one of the reference code: ``sum((r_i - r_{i-1}) * (p_{i-1} + p_i) / 2)``
with ``p_0 = 1``. A query without a prediction scores 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOP_K = 5


def trapezoid_ap(hits: list[float]) -> float:
    """AP of a ranked list of 0/1 hits (the reference code's interpolation)."""
    total = sum(hits)
    if total == 0:
        return 0.0
    found = ap = recall = 0.0
    precision = 1.0
    for rank, hit in enumerate(hits, 1):
        found += hit
        new_recall, new_precision = found / total, found / rank
        ap += (new_recall - recall) * (precision + new_precision) / 2
        recall, precision = new_recall, new_precision
    return ap


def query_ap(pred: Any, label: np.ndarray) -> float:
    """One query's score (see the module docstring); ``label`` is (clips, annotators)."""
    if pred is None:
        return 0.0
    scores = np.asarray(pred, dtype=float)[: len(label)]
    if len(scores) < len(label):  # a short prediction: the unscored clips rank last
        scores = np.concatenate([scores, np.full(len(label) - len(scores), -np.inf)])
    order = np.argsort(-scores, kind="stable")
    if label.shape[1] == 1:
        return trapezoid_ap(list(label[order, 0]))
    aps = []
    for rater in label.T:
        positive = (rater > np.median(rater)).astype(float)
        aps.append(trapezoid_ap(list(positive[order][:TOP_K])))
    return float(np.mean(aps))


def clip_label_metrics(pairs: list[tuple[Any, dict]]) -> dict[str, float]:
    """``HL-top5-mAP`` (several annotators, TVSum) and/or ``HL-mAP`` (one, YouTube Highlights)."""
    multi: list[float] = []
    single: list[float] = []
    for pred, gt in pairs:
        label = np.asarray(gt["label"], dtype=float)
        (multi if label.shape[1] > 1 else single).append(query_ap(pred, label))
    out: dict[str, float] = {}
    if multi:
        out["HL-top5-mAP"] = float(np.mean(multi))
    if single:
        out["HL-mAP"] = float(np.mean(single))
    return out

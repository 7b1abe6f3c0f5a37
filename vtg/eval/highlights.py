"""Highlight-detection metrics of QVHighlights (Lei et al., NeurIPS 2021, Sec. 4).

Each video is cut into 2 s clips; three raters scored every clip of the relevant moments from
0 (very bad) to 4 (very good). For a threshold - Fair >= 2, Good >= 3, VeryGood >= 4 - a clip
is positive for a rater when that rater's score reaches it. Per query and rater:

* HIT@1 is 1 when the clip with the highest predicted saliency is positive (max over raters).
* AP ranks the clips by predicted saliency. As in the official script it averages the
  interpolated precision at each distinct recall level (equal scores form one level), gives 1
  when every clip is positive and 0 when none is, and compares the prediction clip by clip
  after truncating it, or padding it with zeros, to the ``int(duration / 2)`` annotated clips.

A query without any prediction scores 0 on both.
"""

from __future__ import annotations

import numpy as np

CLIP_LENGTH = 2.0
THRESHOLDS = {"Fair": 2, "Good": 3, "VeryGood": 4}


def clip_scores(gt: dict, clip_length: float = CLIP_LENGTH) -> np.ndarray:
    """``[num_clips, raters]`` rater scores over the whole video (0 outside relevant clips)."""
    num_clips = int(gt["duration"] / clip_length)
    scores = np.asarray(gt["saliency_scores"], dtype=float)
    raters = scores.shape[1] if scores.ndim == 2 and scores.size else 3
    full = np.zeros((num_clips, raters))
    ids = np.asarray(gt["relevant_clip_ids"], dtype=int)
    keep = (ids >= 0) & (ids < num_clips)  # ids past the end would crash the official script
    full[ids[keep]] = scores.reshape(-1, raters)[keep]
    return full


def fit_length(pred: np.ndarray, n: int) -> np.ndarray:
    """Truncate or zero-pad predicted clip scores to ``n`` clips."""
    out = np.zeros(n)
    m = min(n, pred.size)
    out[:m] = pred[:m]
    return out


def ranking_ap(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Mean interpolated precision over the distinct recall levels of a score ranking."""
    if y_true.size == 0 or np.all(y_true == 0):
        return 0.0
    if np.all(y_true == 1):
        return 1.0
    order = np.argsort(-y_score, kind="stable")
    s, t = y_score[order], y_true[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each group of equal scores
    tps = np.cumsum(t)[last]
    precision = tps / (last + 1.0)
    recall = (tps / tps[-1]).astype(np.float32)
    # envelope: best precision at this or any higher recall (lower score threshold)
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    new_level = np.diff(np.r_[np.float32(0.0), recall]) != 0
    return float(np.mean(precision[new_level][::-1]))


def query_hl(pred_scores, gt: dict, threshold: int) -> tuple[np.ndarray, float]:
    """Per-rater AP array and HIT@1 of one query at one rater-score threshold."""
    binary = (clip_scores(gt) >= threshold).astype(float)
    raters = binary.shape[1]
    if pred_scores is None:
        return np.zeros(raters), 0.0
    pred = np.asarray(pred_scores, dtype=float)
    hit = 0.0
    if pred.size:
        best = int(np.argmax(pred))
        if best < binary.shape[0]:
            hit = float(binary[best].max())
    fitted = fit_length(pred, binary.shape[0])
    aps = np.array([ranking_ap(binary[:, r], fitted) for r in range(raters)])
    return aps, hit


def highlight_metrics(pairs: list[tuple]) -> dict[str, float | None]:
    """``pairs`` of ``(pred_saliency_scores or None, gt)`` -> raw (0-1) mAP and HIT@1 per level."""
    out: dict[str, float | None] = {}
    for name, threshold in THRESHOLDS.items():
        aps, hits = [], []
        for pred, gt in pairs:
            ap, hit = query_hl(pred, gt, threshold)
            aps.append(ap)
            hits.append(hit)
        out[f"HL-min-{name}-mAP"] = float(np.mean(np.array(aps))) if aps else None
        out[f"HL-min-{name}-Hit1"] = float(np.mean(hits)) if hits else None
    return out

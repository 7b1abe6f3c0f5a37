"""Moment-retrieval metrics for one query: IoU, recall at rank k, and detection AP.

Definitions follow the QVHighlights benchmark (Lei et al., "QVHighlights: Detecting Moments and
Highlights in Videos via Natural Language Queries", NeurIPS 2021, Sec. 4/5) and the
ActivityNet temporal-detection AP (Caba Heilbron et al., CVPR 2015; VOC-style interpolated
precision). Where the official QVHighlights script makes a choice that changes numbers, this
module makes the same choice so ``vtg eval --json`` reproduces it to 1e-6 (see
docs/evaluation.md):

* R1 uses the top-1 window against the ground-truth window it overlaps most; the IoU is
  ``intersection / (max(end) - min(start))``, which equals the true IoU whenever the windows
  overlap (and the IoU is 0 otherwise) - written the same way so values agree to the last bit.
* AP uses at most the 10 best-scored windows, ranked by score (stable: ties keep file order),
  greedily matched to still-unmatched ground-truth windows in order of decreasing IoU (ties:
  the later ground-truth window first); AP is the area under the precision envelope.
"""

from __future__ import annotations

import numpy as np

AP_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.5:0.05:0.95
AP_MAX_WINDOWS = 10


def as_windows(windows) -> np.ndarray:
    """``[[start, end, ...], ...]`` -> float array ``[N, 2]`` (empty input -> shape ``[0, 2]``)."""
    arr = np.asarray([list(w[:2]) for w in windows], dtype=float)
    return arr.reshape(-1, 2)


def iou_hull(window: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """IoU of one window with each of ``gts``, union taken as the hull of the two windows."""
    inter = np.maximum(0.0, np.minimum(window[1], gts[:, 1]) - np.maximum(window[0], gts[:, 0]))
    hull = np.maximum(window[1], gts[:, 1]) - np.minimum(window[0], gts[:, 0])
    return np.divide(inter, hull, out=np.zeros_like(inter), where=hull != 0)


def iou_matrix(preds: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """``[P, G]`` IoU with union = sum of lengths - intersection (the AP matcher's form)."""
    left = np.maximum(preds[:, None, 0], gts[None, :, 0])
    right = np.minimum(preds[:, None, 1], gts[None, :, 1])
    inter = np.clip(right - left, 0.0, None)
    union = (preds[:, 1] - preds[:, 0])[:, None] + (gts[:, 1] - gts[:, 0])[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union != 0)


def best_iou(window, gts: np.ndarray) -> float:
    """IoU of ``window`` with the ground-truth window it matches best (0 without a window)."""
    if window is None or gts.size == 0:
        return 0.0
    w = np.asarray(window[:2], dtype=float)
    return float(iou_hull(w, gts)[int(np.argmax(iou_matrix(w[None], gts)[0]))])


def top1_iou(pred_windows: list, gts: np.ndarray) -> float:
    """IoU of the top-ranked predicted window (predictions are already in rank order)."""
    return best_iou(pred_windows[0] if pred_windows else None, gts)


def topk_iou(pred_windows: list, gts: np.ndarray, k: int) -> float:
    """Best IoU among the first ``k`` predicted windows: the quantity behind R@k."""
    return max((best_iou(w, gts) for w in pred_windows[:k]), default=0.0)


def envelope_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the monotone precision envelope (VOC 2011 / ActivityNet detection AP)."""
    p = np.concatenate([[0.0], precision, [0.0]])
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[steps] - r[steps - 1]) * p[steps]))


def ranked_ap(tp: np.ndarray, num_gt: int) -> float:
    """AP of one ranking given its true-positive flags (rank order) and the number of GT windows."""
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(1.0 - tp)
    return envelope_ap(tp_cum / (tp_cum + fp_cum), tp_cum / float(num_gt))


def match_order(ious: np.ndarray) -> np.ndarray:
    """Ground-truth indices by decreasing IoU; among equal IoUs the later window comes first."""
    return np.lexsort((-np.arange(ious.size), -ious))


def greedy_matches(ious: np.ndarray, thresholds) -> np.ndarray:
    """``[T, P]`` true-positive flags: each window, best first, takes its best free GT window."""
    tp = np.zeros((len(thresholds), ious.shape[0]))
    orders = [match_order(row) for row in ious]
    for t, thr in enumerate(thresholds):
        used = np.zeros(ious.shape[1], dtype=bool)
        for i, row in enumerate(ious):
            for j in orders[i]:
                if row[j] < thr:
                    break
                if not used[j]:
                    used[j] = True
                    tp[t, i] = 1.0
                    break
    return tp


def detection_ap(pred_windows: list, gt_windows: np.ndarray,
                 thresholds=AP_THRESHOLDS, max_windows: int = AP_MAX_WINDOWS) -> np.ndarray:
    """AP of one query's ranked windows at each IoU threshold (zeros without predictions)."""
    preds = pred_windows[:max_windows]
    if not preds or gt_windows.size == 0:
        return np.zeros(len(thresholds))
    scores = np.array([w[2] for w in preds], dtype=float)
    order = np.argsort(-scores, kind="stable")
    ious = iou_matrix(as_windows([preds[i] for i in order]), gt_windows)
    if ious.max() < min(thresholds):
        return np.zeros(len(thresholds))
    ap, seen = np.zeros(len(thresholds)), {}
    for t, row in enumerate(greedy_matches(ious, thresholds)):
        key = row.tobytes()  # neighbouring thresholds often match identically
        if key not in seen:
            seen[key] = ranked_ap(row, gt_windows.shape[0])
        ap[t] = seen[key]
    return ap

"""From network outputs to ranked windows, as the authors' evaluation does (moment_detr's
``inference.py``: ``compute_mr_results`` + ``PostProcessorDETR`` + ``post_processing_mr_nms``),
shared by the DETR family:

1. score = softmax(class logits)[foreground]; span (centre, width) -> (start, end) x duration;
   ranked by score;
2. clamped into the video and rounded to multiples of the clip length (the released code clamps
   to [0, 150] s, QVHighlights' longest video; vtg clamps to the video's own duration, so longer
   videos keep their windows);
3. NMS when the checkpoint's ``nms_thd`` is set (IoU computed as the authors' ``temporal_nms``
   does, with the hull as union; vtg.methods.univtg.inference has that IoU), keeping
   ``max_after_nms`` windows.
"""

from __future__ import annotations

import numpy as np

from vtg.types import Moment

from ..univtg.inference import temporal_nms


def span_windows(spans: np.ndarray, duration: float) -> np.ndarray:
    """(Q, 2) sigmoid (centre, width) -> (Q, 2) seconds (start, end)."""
    spans = np.asarray(spans, dtype=np.float64)
    return np.stack([spans[:, 0] - spans[:, 1] / 2, spans[:, 0] + spans[:, 1] / 2], axis=1) * duration


def foreground_probability(logits: np.ndarray) -> np.ndarray:
    """Softmax over (foreground, background) logits; the foreground column."""
    logits = np.asarray(logits, dtype=np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e[:, 0] / e.sum(axis=1)


def decode_windows(logits: np.ndarray, spans: np.ndarray, duration: float, *, clip_len: float,
                   nms_thd: float, keep: int) -> list[Moment]:
    """Ranked moments of one query (see the module docstring for the steps)."""
    scores = foreground_probability(logits)
    windows = span_windows(spans, duration)
    order = np.argsort(-scores, kind="stable")
    windows, scores = windows[order], scores[order]
    windows = np.round(np.clip(windows, 0.0, duration) / clip_len) * clip_len
    windows = np.minimum(windows, duration)  # rounding up past the end of a video of odd length
    kept = temporal_nms(windows, scores, nms_thd, keep) if nms_thd >= 0 else list(range(min(keep, len(scores))))
    return [Moment(float(windows[i, 0]), float(windows[i, 1]), float(scores[i])) for i in kept]


def clip_windows(num_clips: int, size: int) -> list[tuple[int, int]]:
    """``[start, end)`` clip ranges covering a video in pieces the model was trained on: the whole
    video when it fits in ``size`` clips, else windows of ``size`` clips overlapping by half, the
    last one ending at the last clip."""
    if num_clips <= size:
        return [(0, num_clips)]
    step = max(1, size // 2)
    starts = list(range(0, num_clips - size, step)) + [num_clips - size]
    return [(s, s + size) for s in starts]


def merge_windows(per_window: list[list[Moment]], nms_thd: float, keep: int) -> list[Moment]:
    """Moments found in overlapping windows, ranked together; NMS (the checkpoint's threshold, or
    0.7 when it has none: overlapping windows find the same moment twice) keeps ``keep``."""
    found = [m for moments in per_window for m in moments]
    if not found:
        return []
    windows = np.array([[m.start, m.end] for m in found])
    scores = np.array([m.score for m in found])
    kept = temporal_nms(windows, scores, nms_thd if nms_thd >= 0 else 0.7, keep)
    return [found[i] for i in kept]

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

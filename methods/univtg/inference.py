"""From UniVTG head outputs to moments, a saliency curve and summaries (the paper's inference rules).

Every clip proposes one window: its anchor time plus the two offsets of its boundary head, scored
by its foreground probability. Proposals are sorted, suppressed by temporal NMS at IoU 0.7 and the
best 10 kept (the released evaluation settings ``nms_thd=0.7``, ``max_after_nms=10``). The saliency
of a clip is ``cosine + foreground`` (the released ``eval_mode=add``).

Clip-timestamp conventions
--------------------------
The official code anchors clip ``i`` of ``L`` clips at the normalised time ``(i + clip_len / 2) / L``
and turns normalised windows into seconds by multiplying with ``L * clip_len``. With the released
``clip_len = 2`` that anchor is ``(i + 1) * 2`` seconds: the *end* of clip ``i`` (``[2i, 2i + 2)``),
not its centre. The released heads learned offsets relative to that point, so ``"official"`` keeps
it for converted weights. ``"center"`` anchors at ``(i + 0.5) * clip_len`` and is what ``vtg train
univtg`` uses for models trained from scratch; the convention is stored in each model's config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vtg.errors import UsageError
from vtg.types import Moment

NMS_IOU = 0.7
MAX_MOMENTS = 10


def anchor_seconds(num_clips: int, clip_len: float, convention: str) -> np.ndarray:
    """Time in seconds each clip's boundary offsets are measured from."""
    i = np.arange(num_clips, dtype=np.float64)
    if convention == "official":
        return (i + clip_len / 2.0) * clip_len
    if convention == "center":
        return (i + 0.5) * clip_len
    raise ValueError(f"unknown timestamp convention {convention!r}")


def anchor_normalised(num_clips: int, clip_len: float, convention: str) -> np.ndarray:
    """The anchors divided by ``num_clips * clip_len`` (the unit the boundary head predicts in)."""
    return anchor_seconds(num_clips, clip_len, convention) / (num_clips * clip_len)


def clip_windows(spans: np.ndarray, clip_len: float, convention: str) -> np.ndarray:
    """(L, 2) signed normalised offsets -> (L, 2) windows in seconds (not yet clamped)."""
    spans = np.asarray(spans, dtype=np.float64)
    n = spans.shape[0]
    scale = n * clip_len
    anchor = anchor_seconds(n, clip_len, convention)
    return anchor[:, None] + spans * scale


def temporal_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one window ``a`` (2,) with many windows ``b`` (N, 2)."""
    inter = np.clip(np.minimum(a[1], b[:, 1]) - np.maximum(a[0], b[:, 0]), 0, None)
    union = np.maximum(a[1], b[:, 1]) - np.minimum(a[0], b[:, 0])
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def temporal_nms(windows: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU, keep: int = MAX_MOMENTS) -> list[int]:
    """Indices of the windows kept by greedy NMS (a window overlapping a better one by > ``iou`` goes)."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    for idx in order:
        if len(kept) >= keep:
            break
        if kept and (temporal_iou(windows[idx], windows[kept]) > iou).any():
            continue
        kept.append(int(idx))
    return kept


def decode_moments(fg: np.ndarray, spans: np.ndarray, duration: float, *, clip_len: float = 2.0,
                   convention: str = "official", nms_iou: float | None = NMS_IOU,
                   max_moments: int = MAX_MOMENTS) -> list[Moment]:
    """Per-clip foreground (L,) and offsets (L, 2) -> ranked, NMS-filtered moments in seconds.

    Windows are clamped to ``[0, duration]``; degenerate ones (empty after clamping) are dropped.
    ``nms_iou=None`` keeps the top ``max_moments`` proposals without suppression.
    """
    fg = np.asarray(fg, dtype=np.float64).reshape(-1)
    windows = np.clip(clip_windows(spans, clip_len, convention), 0.0, duration)
    valid = windows[:, 1] > windows[:, 0]
    idx = np.flatnonzero(valid)
    windows, scores = windows[idx], fg[idx]
    if nms_iou is None:
        kept = list(np.argsort(-scores, kind="stable")[:max_moments])
    else:
        kept = temporal_nms(windows, scores, nms_iou, max_moments)
    return [Moment(windows[k, 0], windows[k, 1], scores[k]) for k in kept]


def clip_saliency(cosine: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """Saliency per clip as released (``eval_mode=add``): cosine similarity plus foreground probability."""
    return np.asarray(cosine, dtype=np.float64).reshape(-1) + np.asarray(fg, dtype=np.float64).reshape(-1)


def clip_centres(num_clips: int, clip_len: float, duration: float | None = None) -> np.ndarray:
    """Centre time of each clip (where its saliency value is reported), clamped into the video."""
    t = (np.arange(num_clips) + 0.5) * clip_len
    return np.minimum(t, duration) if duration is not None else t


@dataclass(frozen=True)
class Summary:
    """The clips picked for a summary and the intervals they merge into."""

    clips: np.ndarray
    moments: list[Moment]


def summarize(saliency: np.ndarray, duration: float, ratio: float, clip_len: float = 2.0) -> Summary:
    """Keep the top ``ratio`` of clips by saliency (at least one) and merge neighbours into intervals.

    The intervals are ranked by their mean saliency, the order ``Grounding.moments`` promises;
    ``vtg export --reel`` can cut them (sorted by time for a reel).
    """
    if not 0.0 < ratio <= 1.0:
        raise UsageError(f"summary ratio must be in (0, 1], got {ratio}")
    sal = np.asarray(saliency, dtype=np.float64).reshape(-1)
    n = sal.size
    k = max(1, int(math.ceil(ratio * n - 1e-9)))
    chosen = np.sort(np.argsort(-sal, kind="stable")[:k])
    runs: list[list[int]] = []
    for c in chosen:
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(int(c))
        else:
            runs.append([int(c)])
    moments = [Moment(min(r[0] * clip_len, duration), min((r[-1] + 1) * clip_len, duration), float(sal[r].mean()))
               for r in runs]
    moments = [m for m in moments if m.end > m.start] or moments[:1]
    moments.sort(key=lambda m: -m.score)
    return Summary(chosen, moments)

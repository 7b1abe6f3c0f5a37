"""TFVTG's proposal scoring on one per-frame similarity curve, vectorised with prefix sums.

Zheng et al., "Training-free Video Temporal Grounding using Large-scale Pre-trained Models",
ECCV 2024, Sec. 3.3 (VLM localisation). For one description with per-frame similarity ``s``:

1. mask: frames with ``s <= 0.2`` are set to 0 and left out of the "outside" mean;
2. dynamic part: the masked curve is smoothed with a small Gaussian (3 taps, sigma 1, taken
   un-normalised as in the reference; for stride 3 one tap of 0.399, below it one tap of 1), differenced, and a frame
   counts as "rising" when ``3 f1``, ``2 f1 + f2`` or ``f1 + f2 + f3`` exceeds 0.0005 (f1 the
   current difference, f2/f3 the two before). The dynamic score accumulates the largest of those
   three over the current run of rising frames; the window's *start* is moved back to the frame
   where that run began (the last non-rising frame), so a proposal covers the transition into the
   event as well as the event;
3. static part: for windows whose lengths are multiples of the stride up to a fraction of the
   video, ``sum(inside) / length - mean(outside frames above the mask)``;
4. windows are ranked by the static score, greedy NMS at IoU 0.3 on the unshifted windows keeps
   the 10 best, and confidences are divided by the best one. The IoU test is the reference's:
   windows as float32 fractions of the video, float32 IoU, ``> float32(0.3)``; it is the exact
   test except at an IoU of exactly 0.3, where float32 rounding decides (deterministically).

The mask compares the curve in its own precision: float32 similarities (as the reference's) in
float32, where ``float32(0.2)`` is not above 0.2.

Every window sum comes from integer prefix sums of the masked curve, quantised to a 2^-b grid
(b <= 32; exact for float32 similarities above the mask), so each window's static score is the
correctly rounded value of its exact sums, identical to a direct loop and free of summation-order
noise: equal windows tie exactly, and ties keep the reference's enumeration order (length, then
start). NMS stops as soon as ``top_k`` windows are kept; each kept window strikes out the windows
it suppresses as one range of starts per length, found in closed form (cached per kept length),
instead of comparing windows pairwise or sorting them all.

Deviations from the reference code (``vlm_localizer.py``), all in ill-defined cases:

* windows holding every above-mask frame have no "outside" frame to average: the reference
  divides 0 by 0 and scores them NaN, so they are dropped (unless rounding in its float32 sums
  leaves a tiny non-zero numerator: then +-infinity, and +inf ranks first, decided by float
  noise). Here they are never proposed, as in the reference's well-defined case: such a window
  answers "wherever the curve is above the mask", often the whole video, which grounds nothing,
  and the published numbers were produced without them. Only when every window of the grid
  holds every above-mask frame (tiny curves) are they scored, with the mask threshold as their
  outside mean (the limit of the outside mean as the last frame left outside sinks to the mask),
  so there is still an answer where the reference has none;
* when the best static score is <= 0 the reference's ``scores / scores.max()`` inverts the order
  of confidences (and divides by 0 at 0). Here confidences are ``s / max`` when ``max > 0`` (the
  reference's values) and ``1 + (s - max) / |max|`` otherwise (scale 1 at 0): best = 1, same order;
* nothing above the mask: the reference returns three [0, 0] moments with confidence 1; here no
  moment is returned;
* one frame, or no window length fits (the reference crashes or returns [0, 0]): one window of
  ``stride`` frames (capped at half the frames, at least 1);
* exact ties are broken by the reference's enumeration order (its GPU sort leaves them arbitrary);
* the dynamic score is computed (``Proposals.dynamic``) but, as in the released code that produced
  the published numbers (it computes the dynamic score, then its NMS adds ``0.0 *`` an argument
  that receives the static score, so only the rise-shifted start is used), does not enter the
  ranking unless ``dynamic_weight`` is set; the paper's text combines the two scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vtg.errors import UsageError
from vtg.methods.tfvtg.presets import get_preset, window_lengths
from vtg.types import Moment

MASK_THRESHOLD = 0.2
RISE_THRESHOLD = 0.0005
NMS_IOU = 0.3
TOP_K = 10


@dataclass(frozen=True)
class Proposals:
    """Ranked windows in frame units (``n`` frames): ``start`` is the rise-shifted start."""

    n: int
    start: np.ndarray          # int, dynamic start (frame index)
    static_start: np.ndarray   # int, window start before the shift
    end: np.ndarray            # int, exclusive end frame
    score: np.ndarray          # float, ranking score (static [+ weight * dynamic])
    dynamic: np.ndarray        # float, dynamic score at the window start
    confidence: np.ndarray     # float, normalised score, best = 1

    def __len__(self) -> int:
        return int(self.start.size)

    def moments(self, duration: float) -> list[Moment]:
        n = self.n
        return [Moment(s / n * duration, e / n * duration, c)
                for s, e, c in zip(self.start.tolist(), self.end.tolist(), self.confidence.tolist())]


def quantise(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Integers ``q`` and a power-of-two ``step`` with ``values ~= q * step`` and exact window sums.

    The step is 2^-32 unless the total magnitude needs a coarser grid to keep every partial sum
    below 2^52 (exactly representable as a float64).
    """
    total = float(np.abs(values).sum()) if values.size else 0.0
    bits = 32 if total < 1 else min(32, 52 - int(math.ceil(math.log2(total + 1))))
    step = 2.0 ** -bits
    return np.rint(values / step).astype(np.int64), step


@dataclass(frozen=True)
class WindowGrid:
    """Every window of the given lengths, length-major then start (the reference's order)."""

    starts: np.ndarray   # int64
    ends: np.ndarray     # int64, exclusive
    ks: np.ndarray       # int64, the distinct lengths in order
    offsets: np.ndarray  # int64, flat index of each length's first window


@lru_cache(maxsize=64)
def window_grid(n: int, lengths: tuple[int, ...]) -> WindowGrid:
    ks = np.asarray([k for k in lengths if k <= n], dtype=np.int64)
    counts = n - ks + 1
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    lens = np.repeat(ks, counts)
    starts = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(offsets, counts)
    grid = WindowGrid(starts, starts + lens, ks, offsets.astype(np.int64))
    for arr in (grid.starts, grid.ends, grid.ks, grid.offsets):
        arr.setflags(write=False)
    return grid


def static_scores(q: np.ndarray, step: float, mask: np.ndarray, grid: WindowGrid,
                  empty_outside: float | None = None) -> np.ndarray:
    """``sum(inside)/length - mean(above-mask outside)`` for every window.

    Prefix sums of the quantised curve are integers below 2^52, so as float64 they and all their
    differences are exact: each window's sums are exact and only the divisions round. A window
    with no above-mask frame outside (only possible for lengths at least the span of the
    above-mask frames) has no outside mean: it scores ``-inf``, so it is never proposed (the
    reference's NaN, see the module docstring), unless ``empty_outside`` is given, which then
    stands in for the outside mean. One length at a time, so every step reads contiguous memory.
    """
    n = q.size
    sums = np.empty(n + 1)
    sums[0] = 0.0
    sums[1:] = np.cumsum(q)
    sums *= step
    counts = np.empty(n + 1)
    counts[0] = 0.0
    counts[1:] = np.cumsum(mask)
    total, total_n = sums[-1], counts[-1]
    shifted = counts + total_n  # small integers: exact
    above = np.flatnonzero(mask)
    span = int(above[-1] - above[0] + 1) if above.size else 0
    out = np.empty(grid.starts.size)
    for k, offset in zip(grid.ks.tolist(), grid.offsets.tolist()):
        m = n - k + 1
        inner = sums[k:] - sums[:m]
        outer_n = shifted[:m] - counts[k:]
        outside = total - inner
        empty = outer_n == 0 if k >= span else None  # windows holding every above-mask frame
        if empty is not None:
            if empty_outside is not None:
                outside += empty_outside * empty
            np.maximum(outer_n, 1.0, out=outer_n)
        outside /= outer_n
        inner /= k
        row = out[offset:offset + m]
        np.subtract(inner, outside, out=row)
        if empty is not None and empty_outside is None:
            row[empty] = -np.inf
    return out


def gaussian_taps(stride: int, sigma: float = 1.0) -> np.ndarray:
    """The reference's smoothing kernel: size ``min(stride - 2, 3)``, an un-normalised Gaussian pdf."""
    if stride < 3:
        return np.ones(1)
    half = int(min(stride - 2, 3)) // 2
    x = np.arange(-half, half + 1, dtype=np.float64)
    return np.exp(-x ** 2 / (2.0 * sigma ** 2)) / (np.sqrt(2.0 * np.pi) * sigma)


def rise_runs(masked: np.ndarray, mask: np.ndarray, stride: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: where the current rise began (frame index) and its accumulated dynamic score.

    ``masked`` is the curve after masking (float64). The running sum that restarts at every
    non-rising frame is a prefix sum minus its value at the last restart.
    """
    n = masked.size
    taps = gaussian_taps(stride)
    width = taps.size
    diffs = np.zeros(n)
    if n >= width:
        m = n - width + 1
        smooth = taps[0] * masked[0:m]
        for t in range(1, width):
            smooth = smooth + taps[t] * masked[t:t + m]
        left = width // 2
        diffs[left:left + m - 1] = np.diff(smooth)
    diffs *= mask
    f2 = np.concatenate(([0.0], diffs[:-1]))
    f3 = np.concatenate(([0.0, 0.0], diffs[:-2]))[:n]
    gains = np.maximum(np.maximum(3 * diffs, 2 * diffs + f2), diffs + f2 + f3)
    rising = gains > threshold
    idx = np.arange(n)
    last_restart = np.maximum.accumulate(np.where(rising, -1, idx)) if n else idx
    acc = np.cumsum(np.where(rising, gains, 0.0))
    dynamic = acc - np.where(last_restart >= 0, acc[np.maximum(last_restart, 0)], 0.0)
    return np.maximum(last_restart, 0), dynamic


def _overlaps(i: np.ndarray, k: np.ndarray, a: int, b: int, threshold: float, n: int) -> np.ndarray:
    """IoU([i, i+k), [a, b)) > threshold, decided exactly as the reference's NMS decides it.

    The reference compares windows as float32 fractions of the video (``frame / n``), computes
    the IoU in float32 and compares it with ``float32(threshold)``. Wherever the exact IoU differs
    from the threshold this is the exact test; where it equals it (e.g. 6/20 = 0.3, common with
    ActivityNet's windows), float32 rounding decides, deterministically, and is reproduced here.
    """
    i = np.asarray(i)
    size = np.float32(n)
    s1 = i.astype(np.float32)
    s1 /= size
    e1 = (i + k).astype(np.float32)
    e1 /= size
    s2, e2 = np.array([a, b], dtype=np.float32) / size
    inter = np.minimum(e1, e2)
    inter -= np.maximum(s1, s2)
    np.maximum(inter, 0, out=inter)
    union = np.maximum(e1, e2)
    union -= np.minimum(s1, s2)
    inter /= union
    return inter > np.float32(threshold)


@lru_cache(maxsize=4096)
def _relative_ranges(m: int, ks: tuple[int, ...], threshold: float):
    """Suppressed starts relative to a kept window ``[0, m)`` under the exact IoU test, per length.

    With ``d = start - a`` and ``m = b - a`` the IoU rises as ``(k + d) / (m - d)``, stays at
    ``min(k, m) / max(k, m)`` while one window holds the other, then falls as ``(m - d) / (k + d)``,
    so the suppressed starts form one interval with ends near ``(t m - k) / (1 + t)`` and
    ``(m - t k) / (1 + t)``. Those real bounds are rounded outwards and the two nearest integers on
    each side are checked exactly. Returns ``(first, last, below, above, edge)``: the inclusive
    interval (``first > last`` where none); whether the start just below ``first`` / above
    ``last`` has an IoU of exactly the threshold (float32 rounding decides it, at its absolute
    position); and whether the plateau IoU equals the threshold (then only plateau starts can be
    suppressed, each decided by rounding). Depends only on ``m``, so it is cached.
    """
    k = np.asarray(ks, dtype=np.int64)
    t = float(threshold)

    def iou(d):
        inter = np.clip(np.minimum(d + k, m) - np.maximum(d, 0), 0, None)
        return inter / (np.maximum(d + k, m) - np.minimum(d, 0))

    lo = np.floor((t * m - k) / (1 + t)).astype(np.int64)
    hi = np.ceil((m - t * k) / (1 + t)).astype(np.int64)
    p0, p1, p2, p3 = (iou(d) > t for d in (lo, lo + 1, hi, hi - 1))
    first = lo + 2 - p1 - (p0 & p1)
    last = hi - 2 + p3 + (p2 & p3)
    plateau = np.minimum(k, m) / np.maximum(k, m)  # the IoU while one window holds the other
    edge, peak = plateau == t, plateau > t
    below, above = peak & (iou(first - 1) == t), peak & (iou(last + 1) == t)
    first = np.where(edge, np.minimum(0, m - k), np.where(peak, first, 1))
    last = np.where(edge, np.maximum(0, m - k), np.where(peak, last, 0))
    out = (first, last, below, above, edge)
    for arr in out:
        arr.setflags(write=False)
    return out


def suppressed_starts(ks: np.ndarray, a: int, b: int, threshold: float, n: int):
    """For each window length, the starts whose window overlaps ``[a, b)`` by IoU > threshold.

    The exact interval of :func:`_relative_ranges`, shifted to ``a``; a start at exactly the
    threshold just outside it joins when the reference's float32 test (:func:`_overlaps`) says so,
    so the result is the set the candidate-by-candidate NMS would suppress. Returns inclusive
    ``(first, last, edge)`` (``first > last`` where none); ``edge`` rows are plateaus whose IoU
    equals the threshold: ``(first, last)`` is the plateau and the caller tests its starts one by
    one.
    """
    first, last, below, above, edge = _relative_ranges(int(b - a), tuple(np.asarray(ks).tolist()), float(threshold))
    first, last = first + a, last + a
    low, high = np.flatnonzero(below), np.flatnonzero(above)
    if low.size or high.size:  # one float32 test for both sides
        hit = _overlaps(np.concatenate((first[low] - 1, last[high] + 1)),
                        np.concatenate((ks[low], ks[high])), a, b, threshold, n)
        first[low] -= hit[:low.size]
        last[high] += hit[low.size:]
    return first, last, edge


def greedy_nms(score: np.ndarray, grid: WindowGrid, n: int, iou: float, top_k: int) -> np.ndarray:
    """Greedy NMS (drop windows with IoU > ``iou`` to a kept one), stopping at ``top_k`` kept.

    The next kept window is the best remaining one (ties: lowest index, the reference's order);
    the windows it suppresses are struck out length by length as contiguous ranges of starts
    (:func:`suppressed_starts`), so no window is compared pairwise, except on the rare plateaus
    whose IoU equals the threshold exactly.
    """
    live = score.astype(np.float64, copy=True)
    kept: list[int] = []
    ks, offsets = grid.ks, grid.offsets
    limits = n - ks
    key, ends, plain = tuple(ks.tolist()), offsets + limits + 1, {}
    while len(kept) < top_k:
        j = int(np.argmax(live))
        if live[j] == -np.inf:
            break
        kept.append(j)
        live[j] = -np.inf
        a, b = int(grid.starts[j]), int(grid.ends[j])
        if b - a not in plain:  # flat ranges relative to a, unless a float32 decision is needed
            first, last, below, above, edge = _relative_ranges(b - a, key, float(iou))
            special = bool(below.any() or above.any() or edge.any())
            plain[b - a] = None if special else (offsets + first, offsets + last + 1)
        flat = plain[b - a]
        if flat is not None:
            lo, hi = np.maximum(flat[0] + a, offsets), np.minimum(flat[1] + a, ends)
        else:
            first, last, edge = suppressed_starts(ks, a, b, iou, n)
            first, last = np.maximum(first, 0), np.minimum(last, limits)
            for row in np.flatnonzero(edge & (first <= last)):
                starts = np.arange(first[row], last[row] + 1)
                live[offsets[row] + starts[_overlaps(starts, ks[row], a, b, iou, n)]] = -np.inf
            lo, hi = offsets + first, offsets + np.where(edge, first - 1, last) + 1
        for start, stop in zip(lo.tolist(), hi.tolist()):
            if start < stop:
                live[start:stop] = -np.inf
    return np.asarray(kept, dtype=np.int64)


def normalise_confidence(score: np.ndarray) -> np.ndarray:
    """Scores over the best one; order-preserving also when the best is <= 0 (reference defect)."""
    if score.size == 0:
        return score.astype(np.float64)
    best = float(score[0])
    if best > 0:
        return score / best
    scale = abs(best) if abs(best) > 1e-12 else 1.0
    return 1.0 + (score - best) / scale


def check_scores(scores) -> np.ndarray:
    arr = np.asarray(scores)
    if arr.ndim != 1:
        raise UsageError(f"TFVTG scores must be a 1-D array (one value per frame), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise UsageError("TFVTG scores must be finite numbers (no NaN or infinity)")
    return arr


def propose(scores, lengths: list[int] | tuple[int, ...], stride: int, *, mask_threshold: float = MASK_THRESHOLD,
            rise_threshold: float = RISE_THRESHOLD, nms_iou: float = NMS_IOU, top_k: int = TOP_K,
            dynamic_weight: float = 0.0) -> Proposals:
    """The ranked, NMS-filtered windows of one similarity curve, in frames (see module docstring)."""
    raw = check_scores(scores)
    n = raw.size
    mask = raw > mask_threshold
    if n == 0 or not mask.any() or top_k < 1:
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)
        return Proposals(n, empty_i, empty_i, empty_i, empty_f, empty_f, empty_f)
    q, step = quantise(np.where(mask, raw.astype(np.float64), 0.0))
    grid = window_grid(n, tuple(int(k) for k in lengths))
    starts, ends = grid.starts, grid.ends
    score = static_scores(q, step, mask, grid)
    if not np.isfinite(score).any():  # every window holds every above-mask frame: score them all
        score = static_scores(q, step, mask, grid, float(mask_threshold))
    rise_start, dynamic = rise_runs(q * step, mask.astype(np.float64), stride, rise_threshold)
    if dynamic_weight:
        score = score + dynamic_weight * dynamic[starts]
    keep = greedy_nms(score, grid, n, nms_iou, top_k)
    kept_starts = starts[keep]
    return Proposals(
        n=n,
        start=rise_start[kept_starts],
        static_start=kept_starts,
        end=ends[keep],
        score=score[keep],
        dynamic=dynamic[kept_starts],
        confidence=normalise_confidence(score[keep]),
    )


def localize(scores, duration: float, *, preset: str = "charades", stride: int | None = None,
             max_window_fraction: float | None = None, mask_threshold: float = MASK_THRESHOLD,
             rise_threshold: float = RISE_THRESHOLD, nms_iou: float = NMS_IOU, top_k: int = TOP_K,
             dynamic_weight: float = 0.0) -> list[Moment]:
    """Ranked moments (seconds) for one raw per-frame similarity curve over ``duration`` seconds.

    ``scores`` is a 1-D array, one similarity per frame, frames evenly spread over the video and
    taken *before* masking. The reference thresholds (mask 0.2, rise 0.0005) were calibrated on
    BLIP-2 similarities (max over the 32 query tokens); for other encoders rescale the curve first
    (:func:`vtg.methods.tfvtg.calibrate`) or pass thresholds that fit their range. ``preset``
    gives the stride (rescaled to the curve's frame rate) and the longest window; ``stride``
    (frames) and ``max_window_fraction`` override it. Returns at most ``top_k`` moments with the
    normalised confidence as score; an empty list when no frame is above the mask.
    """
    arr = check_scores(scores)
    if not duration or duration <= 0 or not math.isfinite(duration):
        raise UsageError(f"duration must be a positive number of seconds, got {duration}")
    get_preset(preset)
    stride_frames, lengths = window_lengths(arr.size, duration, preset, stride=stride,
                                            max_window_fraction=max_window_fraction)
    found = propose(arr, lengths, stride_frames, mask_threshold=mask_threshold, rise_threshold=rise_threshold,
                    nms_iou=nms_iou, top_k=top_k, dynamic_weight=dynamic_weight)
    return found.moments(duration)

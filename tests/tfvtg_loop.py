"""Two slow TFVTG localisers the tests compare the library with.

``loop_propose``: the same algorithm as ``vtg.methods.tfvtg.localize`` (deviations included),
written the obvious way, to check the vectorised version bit for bit. ``reference_propose`` (at
the end): the reference code's own scoring in float32 torch, to check the top-1 against it.

``loop_propose`` is written the slow obvious way (a Python loop per frame for the rise test, a
sliding sum per window length, a sort of every window, NMS candidate by candidate), as the
reference code does. It is kept out of the library on purpose: tests use it to check that the
vectorised version ranks windows identically, and ``benchmarks/bench_localize.py`` times both in
the same run. Its window sums use the same exact integer quantisation as the library (a 2^-b
grid), so both compute each static score from the same exact sums and must agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np


def quantise(values: list[float]) -> tuple[list[int], float]:
    total = sum(abs(v) for v in values)
    bits = 32 if total < 1 else min(32, 52 - int(math.ceil(math.log2(total + 1))))
    step = 2.0 ** -bits
    return [round(v / step) for v in values], step


def gaussian_kernel(stride: int, sigma: float = 1.0) -> list[float]:
    if stride < 3:
        return [1.0]
    half = int(min(stride - 2, 3)) // 2
    return [math.exp(-x * x / (2.0 * sigma * sigma)) / (math.sqrt(2.0 * math.pi) * sigma) for x in range(-half, half + 1)]


def dynamic_loop(masked: list[float], mask: list[bool], stride: int, threshold: float) -> tuple[list[int], list[float]]:
    n = len(masked)
    taps = gaussian_kernel(stride)
    width = len(taps)
    smooth = []
    for j in range(n - width + 1):
        acc = taps[0] * masked[j]
        for t in range(1, width):
            acc = acc + taps[t] * masked[j + t]
        smooth.append(acc)
    diffs = [smooth[j + 1] - smooth[j] for j in range(len(smooth) - 1)]
    left = (n - len(diffs)) // 2
    padded = [0.0] * left + diffs + [0.0] * (n - len(diffs) - left)
    padded = [d * (1.0 if m else 0.0) for d, m in zip(padded, mask)]
    starts, scores = [], []
    f1 = f2 = f3 = 0.0
    run_start, run_score = 0, 0.0
    for i in range(n):
        f3, f2, f1 = f2, f1, padded[i]
        gain = max(3 * f1, 2 * f1 + f2, f1 + f2 + f3)
        if gain > threshold:
            run_score += gain
        else:
            run_start, run_score = i, 0.0
        starts.append(run_start)
        scores.append(run_score)
    return starts, scores


def static_loop(q: list[int], step: float, mask: list[bool], lengths,
                empty_outside: float | None) -> list[tuple[float, int, int]]:
    """(score, start, length) of every window, length-major then start; windows with no
    above-mask frame outside are left out, or scored with ``empty_outside`` as their outside mean."""
    n = len(q)
    total, total_n = sum(q), sum(mask)
    out = []
    for k in lengths:
        if k > n:
            continue
        inner, inner_n = sum(q[:k]), sum(mask[:k])
        for i in range(n - k + 1):
            if i > 0:
                inner += q[i + k - 1] - q[i - 1]
                inner_n += mask[i + k - 1] - mask[i - 1]
            outer_n = total_n - inner_n
            if outer_n == 0 and empty_outside is None:
                continue
            outside = (float(total - inner) * step) / outer_n if outer_n > 0 else empty_outside
            out.append(((float(inner) * step) / k - outside, i, k))
    return out


def overlaps(a: tuple[int, int], b: tuple[int, int], n: int, threshold: float) -> bool:
    """IoU(a, b) > threshold as the reference's NMS decides it.

    Exact on the integer frames, except at an IoU of exactly the threshold, where the reference's
    float32 arithmetic on fractions ``frame / n`` decides and is repeated here.
    """
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    value = inter / (max(a[1], b[1]) - min(a[0], b[0]))
    if value != threshold:
        return value > threshold
    s1, e1, s2, e2 = (np.float32(v) / np.float32(n) for v in (*a, *b))
    inter32 = max(min(e1, e2) - max(s1, s2), np.float32(0))
    return bool(inter32 / (max(e1, e2) - min(s1, s2)) > np.float32(threshold))


def loop_propose(scores, lengths, stride: int, *, mask_threshold: float = 0.2, rise_threshold: float = 0.0005,
                 nms_iou: float = 0.3, top_k: int = 10) -> list[dict]:
    """Ranked proposals as dicts: start (rise-shifted), static_start, end (frames), score, confidence."""
    # the mask compares in the curve's own precision (float32 similarities in float32, as the
    # reference does): float32(0.2) is not above 0.2 there, though it is once widened to float64
    mask = [bool(m) for m in np.asarray(scores) > mask_threshold]
    values = [float(v) for v in scores]
    if not any(mask):
        return []
    q, step = quantise([v if m else 0.0 for v, m in zip(values, mask)])
    rise_start, _ = dynamic_loop([x * step for x in q], mask, stride, rise_threshold)
    windows = static_loop(q, step, mask, lengths, None) or static_loop(q, step, mask, lengths, mask_threshold)
    order = sorted(range(len(windows)), key=lambda j: -windows[j][0])
    kept: list[int] = []
    for j in order:
        _, i, k = windows[j]
        if any(overlaps((i, i + k), (windows[m][1], windows[m][1] + windows[m][2]), len(q), nms_iou) for m in kept):
            continue
        kept.append(j)
        if len(kept) == top_k:
            break
    best = windows[kept[0]][0]
    out = []
    for j in kept:
        s, i, k = windows[j]
        if best > 0:
            conf = s / best
        else:
            conf = 1.0 + (s - best) / (abs(best) if abs(best) > 1e-12 else 1.0)
        out.append({"start": rise_start[i], "static_start": i, "end": i + k, "score": s, "confidence": conf})
    return out


# --- the reference's scoring, transcribed ------------------------------------------------------
#
# ``reference_propose`` re-types the scoring of TFVTG's released ``vlm_localizer.py`` (Zheng et al.,
# ECCV 2024) step by step in float32 torch on the CPU, with the reference's own operations and
# their rounding: the mask ``> 0.2`` on the float32 curve, window sums by ``conv1d`` with a kernel
# of ones, the outside sum as ``total - inside`` and the outside mean as a plain division (0/0 is
# NaN, x/0 is +-inf), the filter ``score > -1e3`` (drops NaN and -inf, keeps +inf), a descending
# sort, NMS on float32 window fractions and ``score / max``. The rise test is the reference's
# per-frame loop over the float32 smoothed differences. It is independent of the library's code
# (no prefix sums, no quantisation, no closed-form NMS), so it checks the library against the
# reference's arithmetic, not against a re-derivation of its own.


def reference_gaussian(stride: int, sigma: float = 1.0):
    import torch

    if stride < 3:
        return torch.ones(1, dtype=torch.float32)
    half = int(min(stride - 2, 3)) // 2
    x = np.arange(-half, half + 1)
    return torch.from_numpy(np.exp(-x ** 2 / (2.0 * sigma ** 2)) / (np.sqrt(2.0 * np.pi) * sigma)).float()


def reference_rise_starts(masked, mask, stride: int, threshold: float = 0.0005) -> list[int]:
    """Per frame, the frame where the current rise began (the reference's ``d_idx``, in frames)."""
    import torch
    import torch.nn.functional as F

    taps = reference_gaussian(stride)
    smooth = F.conv1d(masked.view(1, 1, -1), taps.view(1, 1, -1)).view(-1)
    diffs = torch.diff(smooth)
    left = (masked.numel() - diffs.numel()) // 2
    right = masked.numel() - diffs.numel() - left
    padded = torch.cat((torch.zeros(left), diffs, torch.zeros(right))) * mask
    values = padded.tolist()  # python floats holding the float32 values, as indexing a tensor does
    f1 = f2 = f3 = 0.0
    begin, starts = 0, []
    for i, value in enumerate(values):
        f3, f2, f1 = f2, f1, np.float32(value)
        rising = (3 * f1 > threshold) or (2 * f1 + f2 > threshold) or (f1 + f2 + f3 > threshold)
        if not rising:
            begin = i
        starts.append(begin)
    return starts


def reference_propose(scores, stride: int, max_stride: int, *, nms_iou: float = 0.3, top_k: int = 10) -> list[dict]:
    """The reference's ranked proposals for one float32 curve (see above): dicts with start
    (rise-shifted), static_start, end (frames), score (float32 static score, may be +inf) and
    confidence. An empty list where the reference has no proposal at all."""
    import torch
    import torch.nn.functional as F

    raw = torch.as_tensor(np.asarray(scores, dtype=np.float32))
    n = raw.numel()
    mask = (raw > 0.2).float()
    masked = raw * mask
    stride = min(stride, n // 2)
    rise = reference_rise_starts(masked, mask, stride)
    windows, values = [], []
    for k in range(stride, min(n + 1, max_stride + 1), stride):
        ones = torch.ones((1, 1, k))
        inside = F.conv1d(masked.view(1, 1, -1), ones).view(-1)
        inside_n = F.conv1d(mask.view(1, 1, -1), ones).view(-1)
        outside = (masked * mask).sum() - inside
        outside_n = mask.sum() - inside_n
        static = inside / k - outside / outside_n
        keep = static > -1e3
        for i in torch.nonzero(keep).view(-1).tolist():
            windows.append((i, i + k))
            values.append(static[i].item())
    if not windows:
        return []
    order = sorted(range(len(values)), key=lambda j: -values[j])  # stable: ties in enumeration order
    size = np.float32(n)
    kept: list[int] = []
    for j in order:
        a = np.float32(windows[j][0]) / size, np.float32(windows[j][1]) / size
        clash = False
        for m in kept:
            b = np.float32(windows[m][0]) / size, np.float32(windows[m][1]) / size
            inter = max(min(a[1], b[1]) - max(a[0], b[0]), np.float32(0))
            if inter / (max(a[1], b[1]) - min(a[0], b[0])) > np.float32(nms_iou):
                clash = True
                break
        if not clash:
            kept.append(j)
            if len(kept) == top_k:
                break
    best = values[kept[0]]
    return [{"start": rise[windows[j][0]], "static_start": windows[j][0], "end": windows[j][1],
             "score": values[j], "confidence": values[j] / best} for j in kept]

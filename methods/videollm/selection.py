"""Which candidate frames a Video-LLM is shown: three frame-selection rules from the literature.

Each rule takes per-frame signatures (image features or small pixel thumbnails) of candidate
frames sampled densely with their true timestamps, and returns the indices of the frames to keep,
in time order. Because only indices are chosen, every kept frame keeps its own presentation time
and an answer given in frame numbers or seconds maps back exactly.

- :func:`keyframes`: ShareGPT4Video (Chen et al., "ShareGPT4Video: Improving Video Understanding
  and Generation with Better Captions", NeurIPS 2024 D&B, Sec. 3.1, "semantic-based data
  filtering"): a frame is kept when its image feature differs enough from the last kept frame's
  (cosine distance above a threshold). The paper keyframes with CLIP features for captioning; here
  the same rule thins frames before grounding.
- :func:`diff_prune`: VideoLLaMA3's differential frame pruning (Zhang et al., "VideoLLaMA3:
  Frontier Multimodal Foundation Models for Image and Video Understanding", 2025, Sec. 3.3, DiffFP):
  a frame whose mean 1-norm distance to the previous kept frame, in pixel space, is below a
  threshold is dropped. VideoLLaMA3 prunes *patches* inside its own vision encoder; the Qwen2-VL
  runner has no hook for dropping patches, so the rule is applied to whole frames (documented
  adaptation: a frame survives when it changed enough as a whole).
- :func:`merge_to_budget`: MovieChat's memory consolidation (Song et al., "MovieChat: From Dense
  Token to Sparse Memory for Long Video Understanding", CVPR 2024, Sec. 3.2): the most similar
  pair of adjacent entries is merged (their features averaged, weighted by how many frames each
  holds) until the budget is met. MovieChat merges frame *tokens* in its memory; here each merged
  group is shown as one real frame, the member nearest the group's mean feature, so its timestamp
  stays a true presentation time.
"""

from __future__ import annotations

import numpy as np

from vtg.errors import UsageError

#: Rules a Video-LLM method accepts as ``-O select=...``; ``uniform`` is the method's own sampling.
RULES = ("uniform", "keyframes", "diff", "merge")

#: Default thresholds: cosine distance between CLIP-like features (keyframes), mean absolute
#: pixel difference on a 0-1 scale (diff; VideoLLaMA3 prunes patches below 0.1).
DEFAULT_THRESHOLDS = {"keyframes": 0.05, "diff": 0.1}


def check_rule(rule: str) -> str:
    rule = str(rule).strip().lower()
    if rule not in RULES:
        raise UsageError(f"unknown frame selection {rule!r}; choose one of {', '.join(RULES)}")
    return rule


def _unit_rows(features: np.ndarray) -> np.ndarray:
    feats = np.asarray(features, np.float64).reshape(len(features), -1)
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    return feats / np.where(norms > 0, norms, 1.0)


def keyframes(features: np.ndarray, threshold: float = DEFAULT_THRESHOLDS["keyframes"]) -> np.ndarray:
    """Indices of frames whose feature's cosine distance to the last kept one exceeds ``threshold``.

    The first frame is always kept. Work is one dot product per candidate (linear in length).
    """
    n = len(features)
    if n == 0:
        return np.zeros(0, np.int64)
    unit = _unit_rows(features)
    kept = [0]
    last = unit[0]
    for i in range(1, n):
        if 1.0 - float(unit[i] @ last) > threshold:
            kept.append(i)
            last = unit[i]
    return np.asarray(kept, np.int64)


def pixel_signatures(frames: np.ndarray, side: int = 32) -> np.ndarray:
    """Small float32 thumbnails in [0, 1] ([N, side, side, 3]): enough to tell a changed frame from
    a repeated one, small enough to hold an hour of candidates in memory (12 KiB a frame)."""
    from PIL import Image

    frames = np.asarray(frames)
    out = np.empty((len(frames), side, side, 3), np.float32)
    for i, f in enumerate(frames):
        out[i] = np.asarray(Image.fromarray(f).resize((side, side), Image.BILINEAR), np.float32) / 255.0
    return out


def diff_prune(signatures: np.ndarray, threshold: float = DEFAULT_THRESHOLDS["diff"]) -> np.ndarray:
    """Indices of frames whose mean absolute pixel difference (1-norm per value, 0-1 scale) to the
    previous *kept* frame is at least ``threshold``; the first frame is always kept."""
    n = len(signatures)
    if n == 0:
        return np.zeros(0, np.int64)
    sig = np.asarray(signatures, np.float32).reshape(n, -1)
    kept = [0]
    for i in range(1, n):
        if float(np.abs(sig[i] - sig[kept[-1]]).mean()) >= threshold:
            kept.append(i)
    return np.asarray(kept, np.int64)


def merge_to_budget(features: np.ndarray, budget: int) -> np.ndarray:
    """MovieChat-style consolidation of adjacent frames down to ``budget`` groups; one real frame per
    group (the member closest to the group's mean feature). Returns kept indices in time order.

    Each merge recomputes only the two similarities next to the merged pair, so the whole run is
    O(n log n) with a heap of adjacent-pair similarities (stale entries skipped lazily).
    """
    import heapq

    n = len(features)
    if budget < 1:
        raise UsageError(f"frame budget must be at least 1, got {budget}")
    if n <= budget:
        return np.arange(n, dtype=np.int64)
    unit = _unit_rows(features)
    sums = unit.copy()                       # group feature sums (mean = sum / count)
    count = np.ones(n, np.int64)
    nxt = np.arange(1, n + 1)                # linked list of group heads; n = end
    prv = np.arange(-1, n - 1)
    version = np.zeros(n, np.int64)          # bumped when a group changes: heap entries go stale
    alive = np.ones(n, bool)

    def sim(a: int, b: int) -> float:
        ma, mb = sums[a] / count[a], sums[b] / count[b]
        return float(ma @ mb / max(np.linalg.norm(ma) * np.linalg.norm(mb), 1e-12))

    heap = [(-sim(i, i + 1), i, i + 1, 0, 0) for i in range(n - 1)]
    heapq.heapify(heap)
    groups = n
    while groups > budget and heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != va or version[b] != vb or nxt[a] != b:
            continue
        sums[a] += sums[b]
        count[a] += count[b]
        alive[b] = False
        nxt[a] = nxt[b]
        if nxt[b] < n:
            prv[nxt[b]] = a
        version[a] += 1
        groups -= 1
        if prv[a] >= 0:
            heapq.heappush(heap, (-sim(prv[a], a), int(prv[a]), a, int(version[prv[a]]), int(version[a])))
        if nxt[a] < n:
            heapq.heappush(heap, (-sim(a, int(nxt[a])), a, int(nxt[a]), int(version[a]), int(version[nxt[a]])))

    kept = []
    head = 0
    while head < n:
        members = np.arange(head, head + count[head])
        mean = sums[head] / count[head]
        kept.append(int(members[np.argmax(unit[members] @ mean)]))
        head = int(nxt[head])
    return np.asarray(kept, np.int64)


def select(rule: str, signatures: np.ndarray, *, threshold: float | None = None,
           budget: int | None = None) -> np.ndarray:
    """Apply ``rule`` to candidate signatures; the result is capped at ``budget`` frames by
    consolidation (so a threshold rule never overflows the method's frame limit)."""
    rule = check_rule(rule)
    n = len(signatures)
    if rule == "uniform":
        if budget is not None and n > budget:
            return np.unique(np.linspace(0, n - 1, budget).round().astype(np.int64))
        return np.arange(n, dtype=np.int64)
    if rule == "keyframes":
        kept = keyframes(signatures, DEFAULT_THRESHOLDS["keyframes"] if threshold is None else threshold)
    elif rule == "diff":
        kept = diff_prune(signatures, DEFAULT_THRESHOLDS["diff"] if threshold is None else threshold)
    else:
        kept = np.arange(n, dtype=np.int64)
    if budget is not None and len(kept) > budget:
        kept = kept[merge_to_budget(np.asarray(signatures).reshape(n, -1)[kept], budget)]
    return kept

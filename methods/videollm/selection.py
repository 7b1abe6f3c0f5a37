"""Which candidate frames a Video-LLM is shown: three frame-selection rules from the literature.

Each rule takes per-frame signatures (image features or small pixel thumbnails) of candidate
frames sampled densely with their true timestamps, and returns the indices of the frames to keep,
in time order. Because only indices are chosen, every kept frame keeps its own presentation time
and an answer given in frame numbers or seconds maps back exactly. Each default is the source's
own rule and numbers (checked against the authors' code, re-typed in tests/test_selection_parity.py);
what differs is named at each function.

- :func:`keyframes`: ShareGPT4Video (Chen et al., "ShareGPT4Video: Improving Video Understanding
  and Generation with Better Captions", NeurIPS 2024 D&B, Sec. 3.1; ``keyframe_extraction_example.py``):
  every ``interval`` seconds a candidate is compared with the last kept frame and kept when their
  cosine similarity is below 0.93 (distance above 0.07); the last frame is appended when nothing
  else was kept or when at least ``interval`` seconds passed since the last kept one.
- :func:`diff_prune`: VideoLLaMA3's differential frame pruning (Zhang et al., "VideoLLaMA3:
  Frontier Multimodal Foundation Models for Image and Video Understanding", 2025, Sec. 3.3, DiffFP;
  ``_get_compression_mask``): each visual token (a 28x28-pixel region: patch 14 x merge 2) is
  compared with the same token of the *previous* frame on CLIP-normalised pixels; its mean 1-norm
  difference x 255 must exceed 0.1 or the token is dropped. VideoLLaMA3 keeps at least one token of
  every frame; a runner that can only show or drop whole frames keeps a frame when any of its
  tokens survives (formula at :func:`diff_prune`).
- :func:`merge_to_budget`: MovieChat's memory consolidation (Song et al., "MovieChat: From Dense
  Token to Sparse Memory for Long Video Understanding", CVPR 2024, Sec. 3.2; ``moviechat.py``):
  while there are more entries than the budget, the adjacent pair with the highest mean dot
  product is replaced by its unweighted average ``(a + b) / 2``. MovieChat keeps the averaged
  features; here each merged group is shown as one real frame, the member nearest the group's
  averaged feature, so its timestamp stays a true presentation time.
"""

from __future__ import annotations

import math

import numpy as np

from vtg.errors import UsageError

#: Rules a Video-LLM method accepts as ``-O select=...``; ``uniform`` is the method's own sampling.
RULES = ("uniform", "keyframes", "diff", "merge")

#: ShareGPT4Video: keep a frame when its cosine similarity to the last kept one is below 0.93,
#: comparing candidates 2 s apart. ``-O select_threshold=D`` sets the cosine *distance* (1 - 0.93).
KEYFRAME_SIMILARITY = 0.93
KEYFRAME_INTERVAL_S = 2.0
#: VideoLLaMA3's DiffFP: a token survives when its mean |difference| on CLIP-normalised pixels,
#: times 255, exceeds 0.1 (``-O select_threshold=T`` sets T on that scale). With CLIP's std (~0.27)
#: that is a change of ~0.03 grey levels on the 0-255 scale: only frames that repeat exactly drop.
DIFF_THRESHOLD = 0.1
#: The normalisation VideoLLaMA3's image processor applies (OpenAI CLIP's mean and std).
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])
#: Side of one token's cell on vtg's 32x32 candidate thumbnails: 2x2 thumbnail pixels, i.e. 16x16
#: cells, the token grid of a 448x448 frame at 28 pixels a token.
THUMBNAIL_CELL = 2


def check_rule(rule: str) -> str:
    rule = str(rule).strip().lower()
    if rule not in RULES:
        raise UsageError(f"unknown frame selection {rule!r}; choose one of {', '.join(RULES)}")
    return rule


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity as torch's ``F.cosine_similarity`` (product of norms floored at 1e-8)."""
    return float(a @ b) / max(float(np.linalg.norm(a)) * float(np.linalg.norm(b)), 1e-8)


def keyframes(features: np.ndarray, threshold: float | None = None, stride: int = 1) -> np.ndarray:
    """ShareGPT4Video's key frames among candidates ``stride`` apart (``stride`` candidates = 2 s).

    Frame 0 is kept; candidate ``i`` (a multiple of ``stride``) is kept when its cosine similarity
    to the last kept frame is below ``1 - threshold`` (default: below 0.93); then the last frame
    is appended if only frame 0 was kept or at least ``stride`` frames passed since the last kept
    one. (The source's other gates pick videos for its data set, not frames: videos under 10 s
    give no frames there, past 120 s are cut, and leading single-colour frames are skipped; vtg
    grounds in any video, so those are not applied.) One cosine per compared candidate.
    """
    n = len(features)
    if n == 0:
        return np.zeros(0, np.int64)
    if stride < 1:
        raise UsageError(f"keyframes stride must be at least 1, got {stride}")
    limit = KEYFRAME_SIMILARITY if threshold is None else 1.0 - threshold
    feats = np.asarray(features, np.float64).reshape(n, -1)
    kept = [0]
    for i in range(stride, n, stride):
        if cosine(feats[kept[-1]], feats[i]) < limit:
            kept.append(i)
    if n > 1 and kept[-1] != n - 1 and (len(kept) == 1 or n - kept[-1] >= stride):
        kept.append(n - 1)  # (the source lists the last frame twice when it was already kept)
    return np.asarray(kept, np.int64)


def keyframe_stride(candidate_fps: float, interval_s: float = KEYFRAME_INTERVAL_S) -> int:
    """Candidates between two compared ones: ``ceil(fps x 2 s)``, as the source's frame interval."""
    return max(1, math.ceil(candidate_fps * interval_s - 1e-9))


def pixel_signatures(frames: np.ndarray, side: int = 32) -> np.ndarray:
    """Small float32 thumbnails in [0, 1] ([N, side, side, 3]): enough to tell a changed frame from
    a repeated one, small enough to hold an hour of candidates in memory (12 KiB a frame)."""
    from PIL import Image

    frames = np.asarray(frames)
    out = np.empty((len(frames), side, side, 3), np.float32)
    for i, f in enumerate(frames):
        out[i] = np.asarray(Image.fromarray(f).resize((side, side), Image.Resampling.BILINEAR), np.float32) / 255.0
    return out


def diff_prune(signatures: np.ndarray, threshold: float | None = None, cell: int = THUMBNAIL_CELL) -> np.ndarray:
    """VideoLLaMA3's DiffFP as a choice of whole frames: frame 0, then every frame with a token
    that changed since the *previous* frame (kept or not).

    ``signatures`` are RGB pixels in [0, 1], ``[N, H, W, 3]``; a token is a ``cell`` x ``cell``
    block (28 at the model's resolution; 2 on vtg's 32x32 thumbnails, where a last partial row or
    column of blocks is left out). With ``n = (x - CLIP_MEAN) / CLIP_STD``, frame ``i > 0`` is kept
    when ``max over blocks c of mean over c's pixels and channels |n_i - n_(i-1)| x 255 > T``
    (``T`` = 0.1), which is VideoLLaMA3's token mask with "a frame survives when any of its tokens
    does". Work: one pass, two frames in memory at a time.
    """
    return np.flatnonzero(frame_changes(signatures, cell) > (DIFF_THRESHOLD if threshold is None else threshold))


def frame_changes(pixels: np.ndarray, cell: int) -> np.ndarray:
    """Per frame, the largest token change (VideoLLaMA3's scale) since the previous frame; frame 0
    gets +inf (VideoLLaMA3 gives the first frame ``threshold + 1``: always kept)."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 4 or pixels.shape[-1] != 3:
        raise UsageError("select=diff compares pixels (VideoLLaMA3's rule), not features: "
                         "leave select_encoder unset for it")
    n, h, w, _ = pixels.shape
    rows, cols = h // cell, w // cell
    if cell < 1 or rows == 0 or cols == 0:
        raise UsageError(f"diff token cell {cell} does not fit {h}x{w} frames")
    out = np.full(n, np.inf)
    previous = None
    for i in range(n):
        normalised = (np.asarray(pixels[i, :rows * cell, :cols * cell], np.float64) - CLIP_MEAN) / CLIP_STD
        if previous is not None:
            change = np.abs(normalised - previous).reshape(rows, cell, cols, cell, 3).mean(axis=(1, 3, 4)) * 255
            out[i] = float(change.max())
        previous = normalised
    return out


#: How ``merge`` compares adjacent entries: MovieChat's (mean) dot product, or cosine similarity
#: (``-O merge_similarity=cosine``), which does not prefer merging bright or high-norm frames.
SIMILARITIES = ("dot", "cosine")


def merge_to_budget(features: np.ndarray, budget: int, similarity: str = "dot") -> np.ndarray:
    """MovieChat's consolidation of adjacent frames down to ``budget`` groups; one real frame per
    group. Returns kept indices in time order.

    The pair merged next is the adjacent one with the highest dot product (MovieChat's mean over
    token pairs, one token per frame here), the first such pair on ties; the group's feature
    becomes ``(a + b) / 2`` however many frames each side holds. Each group is shown as its member
    nearest (Euclidean) the group's feature, the earliest on ties. Each merge recomputes only the
    two similarities next to it, with a heap of adjacent pairs (stale entries skipped), so the
    whole run is O(n log n) rather than MovieChat's O(n^2). ``similarity="cosine"`` compares
    by cosine instead (a deviation, for signatures whose norms vary, such as pixel thumbnails:
    by dot product the brightest frames merge first).
    """
    import heapq

    n = len(features)
    if budget < 1:
        raise UsageError(f"frame budget must be at least 1, got {budget}")
    if n <= budget:
        return np.arange(n, dtype=np.int64)
    feats = np.asarray(features, np.float64).reshape(n, -1)
    merged = feats.copy()                    # each group's feature, kept at its first member
    size = np.ones(n, np.int64)
    nxt = np.arange(1, n + 1)                # linked list of group heads; n = end
    prv = np.arange(-1, n - 1)
    version = np.zeros(n, np.int64)          # bumped when a group changes: heap entries go stale

    if similarity not in SIMILARITIES:
        raise UsageError(f"merge_similarity={similarity!r}: choose dot (MovieChat's) or cosine")
    compare = cosine if similarity == "cosine" else (lambda a, b: float(a @ b))

    def entry(a: int, b: int) -> tuple:
        return (-compare(merged[a], merged[b]), a, b, int(version[a]), int(version[b]))

    heap = [entry(i, i + 1) for i in range(n - 1)]
    heapq.heapify(heap)
    groups = n
    while groups > budget and heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if version[a] != va or version[b] != vb or nxt[a] != b:
            continue
        merged[a] = (merged[a] + merged[b]) / 2
        size[a] += size[b]
        version[b] = -1                      # no longer a head
        nxt[a] = nxt[b]
        if nxt[b] < n:
            prv[nxt[b]] = a
        version[a] += 1
        groups -= 1
        if prv[a] >= 0:
            heapq.heappush(heap, entry(int(prv[a]), a))
        if nxt[a] < n:
            heapq.heappush(heap, entry(a, int(nxt[a])))
    return np.asarray([head + nearest(feats[head:head + size[head]], merged[head]) for head in heads(nxt, n)],
                      np.int64)


def heads(nxt: np.ndarray, n: int) -> list[int]:
    out, head = [], 0
    while head < n:
        out.append(head)
        head = int(nxt[head])
    return out


def nearest(members: np.ndarray, target: np.ndarray) -> int:
    """Index of the member nearest ``target`` (the first on ties)."""
    return int(np.argmin(((members - target) ** 2).sum(axis=1)))


def select(rule: str, signatures: np.ndarray, *, threshold: float | None = None,
           budget: int | None = None, candidate_fps: float | None = None,
           similarity: str = "dot") -> np.ndarray:
    """Apply ``rule`` to candidate signatures taken at ``candidate_fps`` (keyframes compares
    candidates 2 s apart; None: every candidate); the result is capped at ``budget`` frames by
    consolidation (so a threshold rule never overflows the method's frame limit)."""
    rule = check_rule(rule)
    n = len(signatures)
    if threshold is not None and not (isinstance(threshold, (int, float)) and math.isfinite(threshold)
                                      and threshold >= 0):
        raise UsageError(f"select_threshold must be a finite number >= 0, got {threshold!r}")
    if rule == "uniform":
        if budget is not None and n > budget:
            return np.unique(np.linspace(0, n - 1, budget).round().astype(np.int64))
        return np.arange(n, dtype=np.int64)
    if rule == "keyframes":
        stride = keyframe_stride(candidate_fps) if candidate_fps else 1
        kept = keyframes(signatures, threshold, stride)
    elif rule == "diff":
        kept = diff_prune(signatures, threshold)
    else:
        kept = np.arange(n, dtype=np.int64)
    if budget is not None and len(kept) > budget:
        kept = kept[merge_to_budget(np.asarray(signatures).reshape(n, -1)[kept], budget, similarity)]
    return kept

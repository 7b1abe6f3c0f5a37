"""The exact similarity scan over every frame of a library.

Every frame is scored (no approximate index: a library of 1,000 hours at 1 fps is 3.6 M frames,
which a matrix product goes through in seconds), block by block: a block of one shard's rows is
read from the memory map, widened to float32 and scored, and only one number per video is kept
(its best frame), so the memory a scan needs is one block's float32 copy, whatever the library's
size. Blocks never exceed one shard (and are at most :data:`BLOCK_BYTES` of float32), so the
bound of "one shard's float32 copy" holds for any shard size.

For 2-D features (CLIP, SigLIP) the query's relevance is one dot product per frame
(:func:`vtg.halfdot.dot_scores`: torch's float16 product with no float32 copy when torch is
loaded, the block widened once otherwise).

The per-video maxima are reduced with ``np.maximum.reduceat`` over the block's video boundaries;
rows of dropped videos (until their shard is rewritten) are scored but belong to no video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

#: Largest float32 block scored at once (bytes).
BLOCK_BYTES = 64 << 20

#: ``score(block)``: float16 [rows, *shape] -> float32 [rows], the query's per-frame relevance.
FrameScore = Callable[[np.ndarray], np.ndarray]


@dataclass
class ScanStats:
    """What a scan touched: frames scored, blocks, and the largest block's float32 size (bytes)."""

    frames: int = 0
    blocks: int = 0
    shards: int = 0
    largest_block_bytes: int = 0


def block_rows(shape: tuple[int, ...], block_bytes: int = BLOCK_BYTES) -> int:
    per_row = 4 * int(np.prod(shape, dtype=np.int64)) if shape else 4
    return max(1, int(block_bytes) // per_row)


def scan(view, score: FrameScore, *, block_bytes: int = BLOCK_BYTES) -> tuple[dict[int, float], ScanStats]:
    """Best frame score of every video of ``view`` (:meth:`vtg.library.Library.view`):
    ``({video id: max score}, stats)``."""
    by_shard: dict[int, list] = {}
    for v in view.videos:
        by_shard.setdefault(v.shard, []).append(v)
    best: dict[int, float] = {}
    stats = ScanStats()
    for shard in view.shards:
        members = sorted(by_shard.get(shard.id, ()), key=lambda v: v.row_start)
        if not members:
            continue
        stats.shards += 1
        features = view.features[shard.id]
        starts = np.array([v.row_start for v in members], np.int64)
        ends = starts + np.array([v.frames for v in members], np.int64)
        ids = [v.id for v in members]
        step = block_rows(shard.shape, block_bytes)
        lo_row, hi_row = int(starts.min()), int(ends.max())
        for b0 in range(lo_row, hi_row, step):
            b1 = min(b0 + step, hi_row)
            block = features[b0:b1]  # float16, still memory-mapped: ``score`` widens it (or not)
            stats.largest_block_bytes = max(stats.largest_block_bytes, 2 * block.nbytes)
            curve = np.asarray(score(block), np.float32).reshape(-1)
            stats.frames += b1 - b0
            stats.blocks += 1
            _segment_max(curve, b0, b1, starts, ends, ids, best)
    return best, stats


def _segment_max(curve: np.ndarray, b0: int, b1: int, starts: np.ndarray, ends: np.ndarray, ids: list[int],
                 best: dict[int, float]) -> None:
    """Fold the block's maxima over each video's rows into ``best``."""
    first = int(np.searchsorted(ends, b0, side="right"))
    last = int(np.searchsorted(starts, b1, side="left"))
    if first >= last:
        return
    s = np.clip(starts[first:last] - b0, 0, b1 - b0)
    e = np.clip(ends[first:last] - b0, 0, b1 - b0)
    padded = np.append(curve, np.float32(-np.inf))  # reduceat needs every index < len
    bounds = np.empty(2 * len(s), np.int64)
    bounds[0::2], bounds[1::2] = s, e
    maxima = np.maximum.reduceat(padded, bounds)[0::2]
    for vid, m, a, b in zip(ids[first:last], maxima.tolist(), s.tolist(), e.tolist()):
        if b > a:
            best[vid] = max(best.get(vid, -np.inf), m)

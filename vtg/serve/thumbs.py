"""Small JPEG thumbnails of the frame shown at a time, made on request and kept in a bounded cache.

Results pages show one per moment; making them on request (instead of at index time) keeps the
library small and lets any time be previewed. The cache holds at most ``max_entries`` images of
at most :data:`WIDTH` pixels across (a few kB each), least recently used out first, so memory
stays bounded however many moments are browsed. Each thumbnail is decoded with at most
:data:`DECODER_THREADS` FFmpeg threads (not one per core per request), and freed heap memory
is handed back to the system every :data:`vtg.serve.memory.TRIM_EVERY` thumbnails, so the
process's memory levels off too (``benchmarks/bench_thumbs.py``).
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from vtg.errors import UsageError, VideoError
from vtg.serve import memory
from vtg.video.geometry import resized
from vtg.video.info import probe
from vtg.video.pyav_backend import seek_decode

WIDTH = 320
#: FFmpeg threads per thumbnail decoder: two decode a frame about twice as fast as one (14 vs 27
#: ms per 480x270 thumbnail, measured); FFmpeg's default of one per core would start dozens of
#: threads per request on a large machine, each a source of malloc arena churn.
DECODER_THREADS = 2
QUALITY = 80


def check_time(t: float) -> float:
    if not math.isfinite(t) or t < 0 or t > 1e7:
        raise UsageError("t must be a time in seconds between 0 and 10,000,000")
    return round(t, 2)


def frame_jpeg(path: Path, t: float, width: int = WIDTH) -> bytes:
    """The frame displayed at ``t`` seconds (clamped to the video), at most ``width`` px wide."""
    from PIL import Image

    info = probe(path)
    last = max(0.0, info.duration - 1.0 / max(info.fps, 1.0))
    target = min(t, last)
    short = min(info.width, info.height)
    scale = min(1.0, width / max(info.width, 1))
    size = resized(info.width, info.height, max(2, int(short * scale)))
    frames = list(seek_decode(path, info, np.array([target]), size, threads=DECODER_THREADS))
    if not frames:
        raise VideoError(f"no frame at {target:.2f} s in {path.name}")
    out = io.BytesIO()
    Image.fromarray(frames[0][1]).save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


class ThumbnailCache:
    """``get(key, path, t)``: the cached JPEG, or a new one (LRU, ``max_entries`` images)."""

    def __init__(self, max_entries: int = 512):
        self.max_entries = max_entries
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.made = 0  # how many were decoded (tests count cache hits with it)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str, path: Path, t: float) -> bytes:
        t = check_time(t)
        with self._lock:
            if (key, t) in self._items:
                self._items.move_to_end((key, t))
                return self._items[(key, t)]
        data = frame_jpeg(path, t)
        with self._lock:
            self.made += 1
            self._items[(key, t)] = data
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
            made = self.made
        if made % memory.TRIM_EVERY == 0:
            memory.trim()
        return data

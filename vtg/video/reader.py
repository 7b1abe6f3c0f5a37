"""Sampling frames in batches: :class:`FrameBatch`, :func:`iter_frames`, :func:`read_frames`.

The reader plans the target times (:mod:`vtg.video.sampling`), asks a backend for the frame shown
at each, and groups them into fixed-size batches, so memory is bounded by ``batch_size`` frames
whatever the video length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from vtg.video.geometry import resized
from vtg.video.limits import check_frame_count, check_held_bytes, check_pixels
from vtg.video.limits import max_frames as max_frames_limit
from vtg.video.sampling import check_request, expected_frames, target_times
from vtg.video.source import VideoSource


@dataclass(frozen=True)
class FrameBatch:
    """Frames with their true presentation times.

    ``times``: float64 [N], seconds from the video stream's start (first frame ~0.0), the chosen
    frames' own timestamps (not the targets). ``frames``: uint8 [N, H, W, 3] RGB, upright
    (rotation applied): a numpy array, or a torch tensor on the GPU from the torchcodec backend.
    """

    times: np.ndarray
    frames: np.ndarray

    def __len__(self) -> int:
        return len(self.times)


def _empty(height: int, width: int) -> FrameBatch:
    return FrameBatch(np.zeros(0, np.float64), np.zeros((0, height, width, 3), np.uint8))


def _progress_bar(enabled: bool, total: int | None, path: Path):
    if not enabled:
        return None
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=f"decoding {path.name}", unit="frame", file=sys.stderr, leave=False)


def iter_frames(path, fps: float | None = None, *, max_frames: int | None = None, batch_size: int = 64,
                size: int | None = None, backend: str = "pyav", progress: bool = False, workers: int | None = None,
                frame_size: Callable[[int, int], tuple[int, int]] | None = None) -> Iterator[FrameBatch]:
    """Stream frames sampled at ``fps`` (None = every frame) in batches of ``batch_size``.

    Targets are ``t_k = k / fps`` while ``t_k < duration``, each served by the frame displayed at
    ``t_k``; ``max_frames`` lowers the rate evenly so at most that many frames come out; ``size``
    resizes the shorter side (aspect kept). ``frame_size(width, height) -> (w, h)``, when given
    instead, picks the output size from the display size (an encoder's
    :meth:`~vtg.encoders.Encoder.decode_size`: frames shrunk toward the model's input inside the
    decoder's colour conversion). ``workers`` decoders run in parallel on long videos (default:
    one per usable core, up to 16, :func:`vtg.video.segments.default_workers`; 1 = one decoder with
    FFmpeg's own threads); the frames are the same either way. ``path`` may be a
    :class:`~vtg.video.source.VideoSource` (probed once for the whole query). Batches already
    yielded stay valid if a later part of the file turns out damaged (CorruptVideoError is raised
    when that part is reached).
    """
    from vtg.video.backends import get_backend

    check_request(fps, max_frames, size, batch_size)
    reader = get_backend(backend)
    # Checked and probed once for the whole query (a VideoSource's own probe); errors for
    # missing/bad files surface here, before the first next().
    info = VideoSource.of(path).info(backend)
    out_size = frame_size(info.width, info.height) if frame_size is not None else resized(info.width, info.height, size)
    check_pixels(out_size[0], out_size[1], info.path, "resized frames would be")
    check_frame_count(planned_count(info, fps, max_frames), info.path,
                      f"sampling at {fps:g} fps" if fps is not None else "taking every frame")
    targets = target_times(info.duration, fps, max_frames, info.num_frames)
    if workers is None:
        from vtg.video.segments import default_workers

        workers = default_workers()
    return _batches(reader, info, targets, out_size, max_frames, batch_size, progress, max(1, int(workers)))


def planned_count(info, fps: float | None, max_frames: int | None) -> float:
    """How many frames a request would sample, from the header alone (before any allocation): the
    plan's count (:func:`vtg.video.sampling.expected_frames`, the one rule); a header without a
    frame count is estimated from its rate, and a grid too long to count is infinite."""
    duration = max(0.0, float(info.duration or 0.0))
    if fps is not None and not math.isfinite(duration * fps):
        return math.inf if max_frames is None else float(max_frames)
    if fps is None and info.num_frames is None:
        count = duration * info.fps if info.fps else 0.0
        return min(count, max_frames) if max_frames is not None else count
    return float(expected_frames(duration, fps, max_frames, info.num_frames) or 0)


def _batches(reader, info, targets: np.ndarray | None, out_size: tuple[int, int], max_frames: int | None,
             batch_size: int, progress: bool, workers: int = 1) -> Iterator[FrameBatch]:
    path = info.path
    total = len(targets) if targets is not None else info.num_frames
    if max_frames is not None and total is not None:
        total = min(total, max_frames)
    bar = _progress_bar(progress, total, path)
    times: list[float] = []
    frames: list[np.ndarray] = []
    count = 0
    limit = max_frames_limit()
    try:
        for time, rgb in reader.decode(path, info, targets, out_size, workers=workers):
            times.append(time)
            frames.append(rgb)
            count += 1
            if count > limit:  # the header under-stated the frames (no count, wrong duration)
                check_frame_count(count, path, "decoding")
            if bar is not None:
                bar.update(1)
            if len(frames) == batch_size:
                yield FrameBatch(np.asarray(times, np.float64), _stack(frames))
                times, frames = [], []
            if max_frames is not None and count >= max_frames:
                break
        if frames:
            yield FrameBatch(np.asarray(times, np.float64), _stack(frames))
    finally:
        if bar is not None:
            bar.close()


def _stack(frames: list):
    """numpy frames -> one array; device tensors (torchcodec backend) -> one tensor on that device."""
    if isinstance(frames[0], np.ndarray):
        return np.stack(frames)
    import torch

    return torch.stack(frames)


def read_frames(path, fps: float | None = None, *, max_frames: int | None = None, size: int | None = None,
                backend: str = "pyav", workers: int | None = None) -> FrameBatch:
    """All sampled frames in one :class:`FrameBatch` (see :func:`iter_frames`); refused up front when
    they would take more memory than :func:`vtg.video.limits.max_held_bytes`."""
    check_request(fps, max_frames, size)
    source = VideoSource.of(path)  # one check and one probe, shared with iter_frames
    info = source.info(backend)
    check_held_bytes(planned_count(info, fps, max_frames), *resized(info.width, info.height, size), info.path)
    batches = list(iter_frames(source, fps, max_frames=max_frames, batch_size=256, size=size, backend=backend,
                               workers=workers))
    if not batches:
        w, h = resized(info.width, info.height, size)
        return _empty(h, w)
    return FrameBatch(np.concatenate([b.times for b in batches]), np.concatenate([b.frames for b in batches]))

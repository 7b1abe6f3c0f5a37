"""Which frames to keep: the target-time grid and the rule that maps a target to a frame.

Shared by every backend so they agree frame for frame. The rule: a target time ``t`` is served by
the frame *displayed* at ``t`` — the last frame whose presentation time is ``<= t`` (the first
frame for targets before it, the last frame for targets after it). With variable frame rate this
is what a viewer sees at ``t``; returned times are always the chosen frame's own timestamp, never
the target, so downstream code knows exactly when each frame was shown.
"""

from __future__ import annotations

import math
from typing import Iterable, Iterator, TypeVar, overload

import numpy as np

from vtg.errors import UsageError
from vtg.video.limits import check_frame_count

T = TypeVar("T")
EPS = 1e-6  # seconds; absorbs float rounding between k/fps and pts*time_base


def check_request(fps: float | None, max_frames: int | None, size: int | None, batch_size: int = 1) -> None:
    """Reject nonsensical sampling requests with a UsageError before any decoding."""
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise UsageError(f"fps must be a positive number or None, got {fps!r}")
    for name, value in (("max_frames", max_frames), ("size", size)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise UsageError(f"{name} must be a positive integer or None, got {value!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")


@overload
def target_times(duration: float, fps: float, max_frames: int | None = None,
                 num_frames: int | None = None) -> np.ndarray: ...
@overload
def target_times(duration: float, fps: float | None, max_frames: int | None = None,
                 num_frames: int | None = None) -> np.ndarray | None: ...
def target_times(duration: float, fps: float | None, max_frames: int | None = None,
                 num_frames: int | None = None) -> np.ndarray | None:
    """Target times in seconds, or ``None`` for "every frame".

    With ``fps``: ``t_k = k / fps`` for ``k = 0, 1, ...`` while ``t_k < duration``. ``max_frames``
    lowers the rate evenly (``t_k = k * duration / max_frames``) when the grid would be longer.
    Without ``fps`` every frame is wanted, unless ``num_frames`` exceeds ``max_frames``, in which
    case the same even grid of ``max_frames`` targets is used. Every grid is checked against the
    frame ceiling (:mod:`vtg.video.limits`) before it is allocated, whoever asks for it.
    """
    duration = max(0.0, float(duration))
    if fps is None:
        if max_frames is None or (num_frames is not None and num_frames <= max_frames):
            return None
        if num_frames is None and duration == 0.0:
            return None
        check_frame_count(max_frames, None, f"max_frames={max_frames}")
        return np.arange(max_frames, dtype=np.float64) * (duration / max_frames)
    wanted = duration * fps
    count = max(1, math.ceil(wanted - 1e-9)) if math.isfinite(wanted) else math.inf
    if max_frames is not None and count > max_frames:
        check_frame_count(max_frames, None, f"max_frames={max_frames}")
        return np.arange(max_frames, dtype=np.float64) * (duration / max_frames)
    check_frame_count(count, None, f"sampling {duration:g} s at {fps:g} fps")
    return np.arange(count, dtype=np.float64) / fps


def expected_frames(duration: float, fps: float | None, max_frames: int | None = None,
                    num_frames: int | None = None) -> int | None:
    """How many frames sampling ``duration`` seconds at ``fps`` (capped at ``max_frames``) takes,
    from the container's header alone: the length of :func:`target_times`'s grid, or for "every
    frame" the header's ``num_frames``. None when the header does not say.

    The one rule behind a query's plan (:mod:`vtg.planning`), the progress bar's total and the
    plan line, so what is announced is what is decoded."""
    duration = max(0.0, float(duration))
    if fps is None:
        if num_frames is None:
            return max_frames if max_frames is not None and duration > 0.0 else None
        return num_frames if max_frames is None else min(num_frames, max_frames)
    wanted = duration * fps
    if not math.isfinite(wanted):
        return max_frames
    count = max(1, math.ceil(wanted - 1e-9))
    return count if max_frames is None else min(count, max_frames)


def select_indices(frame_times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For sorted ``frame_times``, the index of the frame displayed at each target (vectorised rule)."""
    idx = np.searchsorted(np.asarray(frame_times, np.float64), np.asarray(targets) + EPS, side="right") - 1
    return np.clip(idx, 0, max(0, len(frame_times) - 1))


def select_stream(frames: Iterable[tuple[float, T]], targets: np.ndarray) -> Iterator[tuple[int, float, T]]:
    """The same rule over a stream of ``(time, frame)`` in presentation order, holding one frame.

    Yields ``(target_index, frame_time, frame)``; a frame serving several targets is yielded once
    per target. Memory stays constant whatever the video length.
    """
    k, n = 0, len(targets)
    prev: tuple[float, T] | None = None
    for time, frame in frames:
        if k >= n:
            return
        while k < n and targets[k] + EPS < time:
            held = prev if prev is not None else (time, frame)  # targets before the first frame
            yield k, held[0], held[1]
            k += 1
        prev = (time, frame)
    while prev is not None and k < n:  # targets after the last frame: it stays on screen
        yield k, prev[0], prev[1]
        k += 1

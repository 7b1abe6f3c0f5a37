"""Ceilings on what a video file can make vtg allocate: sampled frames per video, pixels per frame.

A video's header is data written by whoever made the file: a 100 KB file can declare 16000x16000
frames (a 384 MB picture each, times the decoder's threads) or a duration of a million seconds,
and a request such as ``fps=1e7`` turns a 20-second clip into 2e8 target times. Every size that
comes from the file or the request is checked against these ceilings *before* anything is decoded
or allocated, with an error that says how to raise the ceiling when the video really is that big.

Defaults: :data:`DEFAULT_MAX_FRAMES` sampled frames per video (2.7 hours at 20 fps, 55 hours at
1 fps) and :data:`DEFAULT_MAX_PIXELS` pixels per frame (8K DCI, 8192x4320, fits); callers that
keep every frame in memory (:func:`vtg.video.read_frames`, the Video-LLM methods) are also held
to :data:`DEFAULT_MAX_HELD_BYTES` of frames (``VTG_MAX_FRAME_BYTES``). Raise them with
``vtg --frame-limit N`` / ``vtg --pixel-limit N`` (any command), ``VTG_MAX_FRAMES`` /
``VTG_MAX_PIXELS`` in the environment, or a :class:`vtg.session.Session` with ``max_frames`` /
``max_pixels`` (or the :func:`limits` block) from Python. The ceilings are those of the current
session (:func:`vtg.settings.current_settings`), so two sessions in one process keep their own.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from vtg.errors import VideoError
from vtg.settings import DEFAULT_MAX_FRAMES, DEFAULT_MAX_HELD_BYTES, DEFAULT_MAX_PIXELS, changed, current_settings

#: Bytes of decoded frames :func:`vtg.video.read_frames` may hold at once (it keeps every frame;
#: :func:`vtg.video.iter_frames` streams and needs no such bound).
DEFAULT_MAX_HELD_BYTES = 8 << 30


class VideoTooLargeError(VideoError):
    """A video (or a sampling request) would need more frames or pixels than the ceilings allow."""

    exit_code = 2


def max_frames() -> int:
    """Sampled frames allowed per video: the session's ``--frame-limit``, else ``$VTG_MAX_FRAMES``, else the default."""
    return current_settings().max_frames


def max_pixels() -> int:
    """Pixels allowed per frame (decoded or resized): as :func:`max_frames`, ``$VTG_MAX_PIXELS``."""
    return current_settings().max_pixels


def max_held_bytes() -> int:
    """Bytes of frames held in memory at once by ``read_frames``: the session's ``$VTG_MAX_FRAME_BYTES``, else 8 GiB."""
    return current_settings().max_held_bytes


def check_held_bytes(count: float, width: int, height: int, path: str | Path) -> None:
    """Refuse holding ``count`` RGB frames of ``width`` x ``height`` in memory at once."""
    limit = max_held_bytes()
    need = count * width * height * 3
    if not need <= limit:
        raise VideoTooLargeError(
            f"{path}: holding {count:.0f} frames of {width}x{height} at once needs {need / 2**20:,.1f} MiB, over the "
            f"limit of {limit / 2**20:,.1f} MiB; sample fewer frames (fps, max_frames) or set VTG_MAX_FRAME_BYTES")


@contextlib.contextmanager
def limits(frames: float | int | None = None, pixels: float | int | None = None) -> Iterator[None]:
    """The ceilings set for the duration of a ``with`` block, in this thread/task (None keeps the current one)."""
    with changed(max_frames=frames, max_pixels=pixels):
        yield


def check_frame_count(count: float, path: str | Path | None, why: str) -> None:
    """Refuse sampling ``count`` frames from one video (``why`` says where the number came from)."""
    limit = max_frames()
    if not count <= limit:  # also NaN
        shown = f"{count:.3g}" if isinstance(count, float) else str(count)
        where = f"{path}: " if path is not None else ""
        raise VideoTooLargeError(
            f"{where}{why} would sample {shown} frames, over the limit of {limit} per video; lower the frame "
            f"rate, or raise the limit with `vtg --frame-limit N` or VTG_MAX_FRAMES=N")


def check_pixels(width: int, height: int, path: str | Path, what: str = "frames are") -> None:
    """Refuse frames of ``width`` x ``height`` pixels over the ceiling, before decoding one."""
    limit = max_pixels()
    if int(width) * int(height) > limit:
        raise VideoTooLargeError(
            f"{path}: {what} {width}x{height} pixels, over the limit of {limit} pixels per frame; "
            f"raise it with `vtg --pixel-limit N` or VTG_MAX_PIXELS=N if the video really is that large")

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
``VTG_MAX_PIXELS`` in the environment, or :func:`set_limits` / :func:`limits` from Python.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from vtg.envvars import ENV_VARS, positive_number
from vtg.errors import VideoError
from vtg.options import check_value

DEFAULT_MAX_FRAMES = 200_000
DEFAULT_MAX_PIXELS = 36_000_000
#: Bytes of decoded frames :func:`vtg.video.read_frames` may hold at once (it keeps every frame;
#: :func:`vtg.video.iter_frames` streams and needs no such bound).
DEFAULT_MAX_HELD_BYTES = 8 << 30

_override: dict[str, int | None] = {"frames": None, "pixels": None}


class VideoTooLargeError(VideoError):
    """A video (or a sampling request) would need more frames or pixels than the ceilings allow."""

    exit_code = 2


def _env_limit(name: str, default: int) -> int:
    return int(positive_number(name, default))


def max_frames() -> int:
    """Sampled frames allowed per video: :func:`set_limits`, else ``$VTG_MAX_FRAMES``, else the default."""
    return _override["frames"] or _env_limit("VTG_MAX_FRAMES", DEFAULT_MAX_FRAMES)


def max_pixels() -> int:
    """Pixels allowed per frame (decoded or resized): as :func:`max_frames`, ``$VTG_MAX_PIXELS``."""
    return _override["pixels"] or _env_limit("VTG_MAX_PIXELS", DEFAULT_MAX_PIXELS)


def max_held_bytes() -> int:
    """Bytes of frames held in memory at once by ``read_frames``: ``$VTG_MAX_FRAME_BYTES`` or 8 GiB."""
    return _env_limit("VTG_MAX_FRAME_BYTES", DEFAULT_MAX_HELD_BYTES)


def check_held_bytes(count: float, width: int, height: int, path: str | Path) -> None:
    """Refuse holding ``count`` RGB frames of ``width`` x ``height`` in memory at once."""
    limit = max_held_bytes()
    need = count * width * height * 3
    if not need <= limit:
        raise VideoTooLargeError(
            f"{path}: holding {count:.0f} frames of {width}x{height} at once needs {need / 2**20:,.1f} MiB, over the "
            f"limit of {limit / 2**20:,.1f} MiB; sample fewer frames (fps, max_frames) or set VTG_MAX_FRAME_BYTES")


def overrides() -> dict[str, int | None]:
    """The ceilings :func:`set_limits` set in this process (``frames``, ``pixels``; None: not set)."""
    return dict(_override)


def _checked(value: float | int | None, flag: str, variable: str) -> int | None:
    """``value`` in the range declared for ``variable`` (the flag's environment twin)."""
    if value is None:
        return None
    return int(check_value(flag, value, int, ENV_VARS[variable].check))


def set_limits(frames: float | int | None = None, pixels: float | int | None = None) -> None:
    """Set the ceilings for this process (None: back to the environment / default)."""
    _override["frames"] = _checked(frames, "--frame-limit", "VTG_MAX_FRAMES")
    _override["pixels"] = _checked(pixels, "--pixel-limit", "VTG_MAX_PIXELS")


@contextlib.contextmanager
def limits(frames: float | int | None = None, pixels: float | int | None = None) -> Iterator[None]:
    """The ceilings set for the duration of a ``with`` block (None keeps the current one)."""
    saved = dict(_override)
    set_limits(frames if frames is not None else saved["frames"], pixels if pixels is not None else saved["pixels"])
    try:
        yield
    finally:
        _override.update(saved)


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

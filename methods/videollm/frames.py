"""Frame sampling and resizing for the Video-LLM methods.

Frames come from :func:`vtg.video.read_frames` with their true presentation timestamps, so every
answer maps back to seconds through the times the frames were really shown, never through an
assumed rate. Resizing follows Qwen2-VL's rule (sides multiples of 28 = patch 14 x merge 2, area
within a pixel budget) so the processor does not resize again and each method controls exactly
how many visual tokens a frame costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Qwen2-VL: 14 px patches merged 2x2, so one visual token covers 28x28 pixels.
TOKEN_PIXELS = 28


@dataclass(frozen=True)
class Sampled:
    """Sampled frames with their true times (s) and the video's duration (s)."""

    frames: np.ndarray
    times: np.ndarray
    duration: float


def smart_resize(height: int, width: int, max_pixels: int, min_pixels: int = 4 * 28 * 28,
                 factor: int = TOKEN_PIXELS) -> tuple[int, int]:
    """Qwen2-VL's resize rule: sides multiples of ``factor``, area within [min, max] pixels,
    aspect ratio kept as closely as the rounding allows."""
    if height <= 0 or width <= 0:
        raise ValueError(f"bad frame size {height}x{width}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return int(h), int(w)


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of uint8 frames [N, H, W, 3] to ``height`` x ``width``."""
    from PIL import Image

    frames = np.asarray(frames)
    if frames.shape[1:3] == (height, width):
        return frames
    out = np.empty((len(frames), height, width, 3), np.uint8)
    for i, f in enumerate(frames):
        out[i] = np.asarray(Image.fromarray(f).resize((width, height), Image.BICUBIC))
    return out


def fit_frames(frames: np.ndarray, max_pixels: int) -> np.ndarray:
    """Resize frames to Qwen2-VL's grid with at most ``max_pixels`` pixels each."""
    if len(frames) == 0:
        return frames
    h, w = smart_resize(frames.shape[1], frames.shape[2], max_pixels)
    return resize_frames(frames, h, w)


def sample_video(video, fps: float | None, max_frames: int | None = None) -> Sampled:
    """Decode ``video`` at ``fps`` (at most ``max_frames`` frames) with true timestamps."""
    from vtg.video import probe, read_frames

    info = probe(video)
    batch = read_frames(video, fps=fps, max_frames=max_frames)
    duration = float(info.duration) if info.duration else float(batch.times[-1]) if len(batch.times) else 0.0
    return Sampled(np.asarray(batch.frames), np.asarray(batch.times, dtype=np.float64), duration)

"""Frame sampling and resizing for the Video-LLM methods.

Frames come from :func:`vtg.video.read_frames` with their true presentation timestamps, so every
answer maps back to seconds through the times the frames were really shown, never through an
assumed rate. Resizing follows Qwen2-VL's rule (sides multiples of 28 = patch 14 x merge 2, area
within a pixel budget) so the processor does not resize again and each method controls exactly
how many visual tokens a frame costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vtg.methods.videollm.selection import pixel_signatures
from vtg.video.geometry import resized
from vtg.video.limits import VideoTooLargeError, max_held_bytes
from vtg.video.sampling import target_times
from vtg.video.source import VideoSource

#: Qwen2-VL: 14 px patches merged 2x2, so one visual token covers 28x28 pixels.
TOKEN_PIXELS = 28


@dataclass(frozen=True)
class Sampled:
    """Sampled frames with their true times (s) and the video's duration (s)."""

    frames: np.ndarray
    times: np.ndarray
    duration: float
    #: How the frames were chosen (frame selection's counts), copied into the result's meta.
    note: dict = field(default_factory=dict)


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
        out[i] = np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.BICUBIC))
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


def span_targets(start: float, end: float, fps: float | None, max_frames: int | None,
                 native_fps: float | None) -> np.ndarray:
    """A method's sampling rule applied to the span ``[start, end)`` instead of the whole video:
    the same grid :func:`vtg.video.sampling.target_times` plans for a video of that length, shifted
    to ``start``. "Every frame" (``fps`` None within ``max_frames``) uses the native rate."""
    length = max(0.0, float(end) - float(start))
    native = native_fps if native_fps and native_fps > 0 else 30.0
    grid = target_times(length, fps, max_frames, max(1, int(round(min(length * native, 2 ** 62)))))
    if grid is None:  # every frame at the header's rate: the same ceiling before allocating
        grid = target_times(length, native)
    return float(start) + grid


def iter_frames_at(video, targets: np.ndarray, *, size: int | None = None,
                   backend: str = "pyav"):
    """Stream ``(time, rgb)`` for the frame displayed at each of the sorted ``targets`` (seconds),
    in one sequential pass that stops after the last target; ``time`` is the frame's own
    presentation time. A frame serving several targets comes once."""
    from vtg.video.backends import get_backend

    targets = np.sort(np.asarray(targets, np.float64))
    if targets.size == 0:
        return
    reader = get_backend(backend)
    source = VideoSource.of(video)  # checked and probed once for the whole query
    path, info = source.path, source.info(backend)
    # One seek to the key frame before the first target (a late window of a long video) when the
    # backend can; otherwise one sequential pass from the start.
    decode = getattr(reader, "decode_from_first_target", reader.decode)
    last = None
    for time, rgb in decode(path, info, targets, resized(info.width, info.height, size)):
        if last is not None and abs(time - last) < 1e-9:
            continue
        last = time
        yield float(time), rgb


def frames_at(video, targets: np.ndarray, duration: float, *, size: int | None = None) -> Sampled:
    """:class:`Sampled` frames displayed at ``targets`` (duplicates dropped), true times kept."""
    times, frames, held, limit = [], [], 0, max_held_bytes()
    for time, rgb in iter_frames_at(video, targets, size=size):
        held += rgb.nbytes
        if held > limit:  # every frame is kept: bounded like vtg.video.read_frames
            raise VideoTooLargeError(f"{video}: the sampled frames need more than {limit / 2**20:,.0f} MiB at once; "
                                     "sample fewer frames or set VTG_MAX_FRAME_BYTES")
        times.append(time)
        frames.append(rgb)
    stacked = np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8)
    return Sampled(stacked, np.asarray(times, np.float64), float(duration))


def candidate_signatures(video, info, start: float, end: float, fps: float, encoder: str | None,
                         device: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """True times and per-frame signatures of the candidate frames of ``[start, end)`` at ``fps``:
    image features from the feature cache when ``encoder`` is given, else 32x32 pixel thumbnails
    (float16, 6 KiB a frame) computed while streaming, so an hour of candidates stays small."""
    if encoder:
        from vtg.encoders import load_encoder
        from vtg.features import video_features

        feats = video_features(video, load_encoder(encoder, device=device), fps, device=device)
        inside = (feats.times >= start - 1e-6) & (feats.times < end)
        features = np.asarray(feats.features)[inside]
        return np.asarray(feats.times)[inside], features.reshape(len(features), -1)
    times, sigs = [], []
    targets = span_targets(start, end, fps, None, info.fps)
    for time, rgb in iter_frames_at(video, targets, size=64):
        times.append(time)
        sigs.append(pixel_signatures(rgb[None])[0].astype(np.float16))
    return np.asarray(times, np.float64), (np.stack(sigs) if sigs else np.zeros((0, 32, 32, 3), np.float16))

"""Helpers for the vtg.video tests: videos whose frames show their own index as a barcode.

A test can then read back *which* frame a backend returned, not just that it returned one.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

BITS = 10  # up to 1023 frames


def index_frame(i: int, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    """A frame whose 10 vertical bands are white where bit b of ``i`` is set, black elsewhere."""
    w, h = size
    frame = np.zeros((h, w, 3), np.uint8)
    band = w // BITS
    for b in range(BITS):
        if (i >> b) & 1:
            frame[:, b * band:(b + 1) * band] = 255
    frame[: h // 8, -band:] = (255, 0, 0)  # a red corner mark (top right) to check orientation
    return frame


def read_index(frame: np.ndarray) -> int:
    """The index shown by :func:`index_frame` (robust to compression and mild resizing)."""
    h, w = frame.shape[:2]
    band = w / BITS
    grey = frame.mean(axis=2)
    bits = 0
    for b in range(BITS):
        x0, x1 = int(b * band + band / 4), int((b + 1) * band - band / 4)
        if grey[h // 4: 3 * h // 4, x0:x1].mean() > 127:
            bits |= 1 << b
    return bits


def write_timed(path: Path, times_ms: list[int], size=(160, 120), bframes: int = 0) -> Path:
    """An H.264 MP4 whose frame ``i`` shows index ``i`` at ``times_ms[i]`` (variable rate allowed)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"preset": "ultrafast", "g": "10", "bf": str(bframes)}
        if bframes:
            stream.options = {"preset": "veryfast", "g": "10", "bf": str(bframes)}
        for i, ms in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(index_frame(i, size), format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def ffmpeg(*args: str) -> None:
    """Run the ffmpeg binary bundled with imageio-ffmpeg (no ffprobe needed anywhere)."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def stream_copy_cut(src: Path, dst: Path, start: float) -> Path:
    """``ffmpeg -ss START -i src -c copy dst``: the cut that writes an MP4 edit list."""
    ffmpeg("-ss", f"{start}", "-i", str(src), "-c", "copy", str(dst))
    return dst

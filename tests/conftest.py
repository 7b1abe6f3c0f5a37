"""Shared fixtures: synthetic videos made with PyAV, the shared real data, CLI runner.

Synthetic videos are built frame by frame so tests know exactly what each frame shows and when.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def scene_frame(color: tuple[int, int, int], size: tuple[int, int], pattern: int = 0) -> np.ndarray:
    """A frame of one colour with a simple pattern, so scenes differ in texture as well as colour."""
    w, h = size
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = color
    if pattern == 1:  # vertical stripes
        frame[:, ::16] = 255 - np.array(color, np.uint8)
    elif pattern == 2:  # checkerboard
        yy, xx = np.mgrid[0:h, 0:w]
        frame[((yy // 16 + xx // 16) % 2) == 0] = 255 - np.array(color, np.uint8)
    return frame


def write_video(path: Path, frames, fps: float = 10.0, *, codec: str = "libx264",
                audio_seconds: float | None = None, rotation: int | None = None) -> Path:
    """Encode an iterable of RGB uint8 frames; optional silent-ish audio track and rotation tag."""
    import av

    with av.open(str(path), "w") as out:
        rate = Fraction(fps).limit_denominator(1001)
        first = True
        stream = None
        audio = None
        for frame in frames:
            if first:
                h, w = frame.shape[:2]
                stream = out.add_stream(codec, rate=rate)
                stream.width, stream.height = w, h
                stream.pix_fmt = "yuv420p"
                stream.options = {"g": str(max(1, int(round(fps)))), "preset": "ultrafast"} if codec == "libx264" else {}
                if rotation is not None:
                    # Clockwise degrees, as the legacy "rotate" tag (which FFmpeg 7+ muxers ignore):
                    # written as a display matrix, whose angle is counter-clockwise.
                    stream.set_display_rotation(-rotation)
                if audio_seconds:
                    audio = out.add_stream("aac", rate=16000)
                first = False
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if audio is not None:
            n = int(audio_seconds * 16000)
            t = np.arange(n) / 16000
            samples = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, n, 1024):
                chunk = samples[start:start + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                af.sample_rate = 16000
                af.pts = start
                for packet in audio.encode(af):
                    out.mux(packet)
            for packet in audio.encode():
                out.mux(packet)
    return path


SCENES = [((200, 30, 30), 1), ((30, 200, 30), 2), ((30, 30, 200), 0)]


@pytest.fixture
def make_video(tmp_path):
    """``make_video(name, [(color, seconds, pattern), ...], fps=10, size=(160, 120))`` -> path."""

    def _make(name: str = "video.mp4", scenes=None, fps: float = 10.0, size=(160, 120), **kw) -> Path:
        scenes = scenes or [(c, 4.0, p) for c, p in SCENES]

        def frames():
            for color, seconds, pattern in scenes:
                img = scene_frame(color, size, pattern)
                for _ in range(int(round(seconds * fps))):
                    yield img

        return write_video(tmp_path / name, frames(), fps, **kw)

    return _make


@pytest.fixture
def three_scene_video(make_video):
    """12 s at 10 fps: red stripes 0-4 s, green checkerboard 4-8 s, blue plain 8-12 s."""
    return make_video("three_scenes.mp4")


@pytest.fixture
def shared_data() -> Path:
    """The real annotation files and clips in ../shared/data; the test skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own feature cache and never touches the network."""
    monkeypatch.setenv("VTG_CACHE_DIR", str(tmp_path_factory.mktemp("vtg-cache")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    """Skip ``gpu`` tests where CUDA is absent (CI), without importing torch unless needed."""
    if not any("gpu" in item.keywords for item in items):
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)

"""Write NumPro-numbered frames as a video or a folder of images, for any external Video-LLM.

``vtg overlay VIDEO -o numbered.mp4`` samples VIDEO (1 fps by default, NumPro's training-free
setting), draws each sampled frame's index with :func:`vtg.overlays.numbers.draw_number`, and
writes one output frame per sampled frame, so frame ``i`` of the output carries the number ``i``.
Frames stream in batches, so memory does not grow with the video's length. The true timestamp of
every numbered frame can be written alongside (``times``), so answers map back to seconds.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vtg.errors import VideoError
from vtg.fileio import atomic_write_text
from vtg.outputs import check_output, staged
from vtg.overlays.numbers import draw_number


def numbered_batches(video: str | Path, fps: float | None = 1.0, *, max_frames: int | None = None,
                     size: int | None = None, outline: int = 0):
    """Yield ``(indices, times, numbered_frames)`` per decoded batch of ``video``."""
    from vtg.video import iter_frames

    index = 0
    for batch in iter_frames(video, fps=fps, max_frames=max_frames, size=size):
        frames = np.stack([draw_number(f, index + i, outline=outline) for i, f in enumerate(batch.frames)])
        idx = np.arange(index, index + len(frames))
        index += len(frames)
        yield idx, np.asarray(batch.times, dtype=np.float64), frames


def even(frame: np.ndarray) -> np.ndarray:
    """Crop to even width and height (yuv420p needs them)."""
    h, w = frame.shape[:2]
    return frame[: h - h % 2, : w - w % 2]


def write_numbered_video(video: str | Path, output: str | Path, fps: float | None = 1.0, *,
                         max_frames: int | None = None, size: int | None = None,
                         out_fps: float | None = None, outline: int = 0) -> list[float]:
    """Write the numbered frames of ``video`` to ``output`` (H.264 MP4); returns their true times.

    The output plays at ``out_fps`` (default: the sampling rate, so it lasts as long as the source).
    """
    import av

    output = Path(output)
    rate = Fraction(out_fps or fps or 25.0).limit_denominator(1001)
    times: list[float] = []
    # A temporary sibling renamed over ``output`` when complete; ``output`` must not be ``video``.
    with staged(output, inputs=[video], what="-o") as tmp:
        with av.open(str(tmp.absolute()), "w") as out:
            stream = None
            for _, batch_times, frames in numbered_batches(video, fps, max_frames=max_frames, size=size, outline=outline):
                for frame in frames:
                    frame = even(frame)
                    if stream is None:
                        stream = out.add_stream("libx264", rate=rate)
                        stream.height, stream.width = frame.shape[:2]
                        stream.pix_fmt = "yuv420p"
                        stream.options = {"crf": "18"}
                    for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                        out.mux(packet)
                times.extend(batch_times.tolist())
            if stream is None:
                raise VideoError(f"no frames could be sampled from {video}")
            for packet in stream.encode():
                out.mux(packet)
    return times


def write_numbered_frames(video: str | Path, out_dir: str | Path, fps: float | None = 1.0, *,
                          max_frames: int | None = None, size: int | None = None, outline: int = 0,
                          image_format: str = "png") -> list[float]:
    """Write numbered frames as ``frame_000000.png``... plus ``frames.json`` (index, file, time)."""
    from PIL import Image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for idx, batch_times, frames in numbered_batches(video, fps, max_frames=max_frames, size=size, outline=outline):
        for i, t, frame in zip(idx, batch_times, frames):
            name = f"frame_{int(i):06d}.{image_format}"
            Image.fromarray(frame).save(check_output(out_dir / name, inputs=[video], what="frame"))
            records.append({"index": int(i), "file": name, "time": round(float(t), 4)})
    atomic_write_text(out_dir / "frames.json", json.dumps({"video": str(video), "frames": records}, indent=1))
    return [r["time"] for r in records]

"""Turning one opened video stream into timed RGB frames: the decoder, frame times, conversion.

Sequential decoding (:mod:`vtg.video.pyav_backend`) and parallel segments
(:mod:`vtg.video.segments`) both read frames through these, so a frame's time and pixels do not
depend on which of the two decoded it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Generator, Iterator

import numpy as np

from vtg.errors import CorruptVideoError
from vtg.video.files import open_container, video_stream
from vtg.video.geometry import coded_target, rotate
from vtg.video.info import VideoInfo
from vtg.video.limits import VideoTooLargeError, check_pixels, max_pixels
from vtg.video.sampling import select_stream
from vtg.video.skipping import decoded_frames

#: FFmpeg decoder threads per decoder; 0 lets FFmpeg use every core (benchmarks set 1 to measure
#: how parallel segments scale on their own).
CODEC_THREADS = 0


def timed_frames(container, stream, path: Path, info: VideoInfo,
                 targets: np.ndarray | None = None) -> Generator[tuple[float, Any], None, None]:
    """Decoded frames (not converted) with times from the stream's start; errors as CorruptVideoError.
    With ``targets``, pictures no target can show may be left undecoded (:mod:`vtg.video.skipping`)."""
    origin = stream.start_time
    # integer arithmetic, correctly rounded like float(Fraction(...)) but without its cost per frame
    num, den = stream.time_base.numerator, stream.time_base.denominator
    step = 1.0 / info.fps if info.fps else 0.0
    pixel_limit = max_pixels()
    last = None
    try:
        for frame in decoded_frames(container, stream, targets):
            if frame.pts is None:
                time = (last + step) if last is not None else 0.0
            else:
                if origin is None:
                    origin = frame.pts
                time = (frame.pts - origin) * num / den
            last = time
            if frame.width * frame.height > pixel_limit:  # the size changed mid-stream
                check_pixels(frame.width, frame.height, path, f"frames from {time:.2f}s on are")
            yield time, frame
    except (CorruptVideoError, VideoTooLargeError):
        raise
    except Exception as err:  # av.error.* (and anything else the decoder throws) mid-stream
        where = f"after {last:.2f}s" if last is not None else "at the start"
        raise CorruptVideoError(
            f"{path}: decoding failed {where} of {info.duration:.2f}s ({err}); the file is damaged or truncated"
        ) from err
    check_complete(path, stream, info, last)


def check_complete(path: Path, stream, info: VideoInfo, last: float | None) -> None:
    """Raise when the frames stop well before the stream's stated duration (a truncated file)."""
    if stream.duration is None or last is None or not info.fps:
        return
    slack = max(1.0, 3.0 / info.fps)
    if last + 1.0 / info.fps < info.duration - slack:
        raise CorruptVideoError(
            f"{path}: frames stop at {last:.2f}s but the video should last {info.duration:.2f}s; "
            "the file is truncated or damaged")


def frame_converter(info: VideoInfo, out_size: tuple[int, int] | None):
    """Frame -> upright RGB array at the requested display size."""
    width, height = out_size or (info.width, info.height)
    cw, ch = coded_target(width, height, info.rotation)

    def convert(frame) -> np.ndarray:
        if (frame.width, frame.height) == (cw, ch):
            rgb = frame.to_ndarray(format="rgb24")
        else:
            # libswscale's bicubic filter widens when shrinking (antialiased), and of its filters it
            # comes closest to PIL's bicubic resize that the models' preprocessing uses (measured
            # on real footage at 224 px: mean |difference| 1.1/255, against 1.2/255 for AREA).
            rgb = frame.reformat(width=cw, height=ch, format="rgb24", interpolation="BICUBIC").to_ndarray()
        return rotate(rgb, info.rotation)

    return convert


@contextlib.contextmanager
def open_decoder(path: Path, threads: int, accel=None) -> Iterator[tuple[Any, Any]]:
    """``(container, video stream)`` ready to decode: FFmpeg's frame/slice threads (``threads``;
    0: as many as it sees cores), or, with ``accel`` (a factory of PyAV ``HWAccel`` settings), the
    GPU's video engine fed by one thread (NVDEC needs no CPU threads, and frame threads would hold
    several GPU surfaces each)."""
    with open_container(path, accel() if accel is not None else None) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"
        stream.thread_count = 1 if accel is not None else threads
        yield container, stream


def sequential_decode(path: Path, info: VideoInfo, targets: np.ndarray | None,
                      out_size: tuple[int, int] | None, accel=None) -> Iterator[tuple[float, np.ndarray]]:
    """One decoder from the start of the file (FFmpeg's own threads), as :func:`decode`."""
    convert = frame_converter(info, out_size)
    with open_decoder(path, CODEC_THREADS, accel) as (container, stream):
        frames = timed_frames(container, stream, path, info, targets)
        if targets is None:
            for time, frame in frames:
                yield time, convert(frame)
            return
        yield from shown_at_targets(frames, targets, convert)


def shown_at_targets(frames, targets: np.ndarray, convert) -> Iterator[tuple[float, np.ndarray]]:
    """``(time, converted frame)`` of the frame displayed at each target
    (:func:`vtg.video.sampling.select_stream`), each frame converted once however many targets it serves."""
    cached_id: object = None
    cached: np.ndarray | None = None
    for _k, time, frame in select_stream(frames, targets):
        if cached is None or frame is not cached_id:
            cached_id, cached = frame, convert(frame)
        yield time, cached

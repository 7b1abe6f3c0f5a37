"""The default backend: PyAV (FFmpeg), decoding sequentially (long videos: in parallel segments).

Why sequential: sampling 1-2 frames per second from 25-30 fps video touches every GOP anyway, and
one forward pass beats a seek per target 3-10x (benchmarks/bench_decode.py). Frames that are not
kept are never converted to RGB — only the frame displayed at each target is. FFmpeg applies MP4
edit lists, so frames and timestamps are right on stream-copied clips (where decord is not).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any, Generator, Iterator

import numpy as np

from vtg.errors import CorruptVideoError
from vtg.video.editlist import video_edit_list
from vtg.video import decoding
from vtg.video.decoding import frame_converter, sequential_decode
from vtg.video.files import looks_like_mp4, open_container, video_stream
from vtg.video.geometry import clockwise_rotation, display_size
from vtg.video.info import VideoInfo
from vtg.video.limits import check_pixels
from vtg.video.segments import decode_after_seek, decode_segments

_VFR_PACKETS = 300  # packet timestamps read by probe to tell constant from variable frame rate
_REORDER_DEPTH = 16  # max B-frame reordering (H.264 allows 16 reference frames)
_VFR_TOLERANCE = 0.1  # relative spread of frame intervals still counted as constant


def _seconds(value, time_base) -> float | None:
    return None if value is None or time_base is None else float(value * time_base)


def _frame_intervals(container, stream) -> np.ndarray:
    """Intervals between the first few hundred presentation timestamps (demuxed, not decoded)."""
    pts = []
    for packet in container.demux(stream):
        if packet.pts is not None and not packet.is_discard:
            pts.append(packet.pts)
        if len(pts) >= _VFR_PACKETS:
            break
    ordered = np.unique(np.asarray(pts, np.int64))
    if len(ordered) > 2 * _REORDER_DEPTH:  # the last few may still wait for B-frames we did not read
        ordered = ordered[:-_REORDER_DEPTH]
    return np.diff(ordered) if len(ordered) > 2 else np.zeros(0)


def _is_variable(intervals: np.ndarray) -> bool:
    if intervals.size < 2:
        return False
    median = float(np.median(intervals))
    return median > 0 and float(intervals.max() - intervals.min()) / median > _VFR_TOLERANCE


def _first_frame(container, stream, path: Path):
    try:
        for frame in container.decode(stream):
            return frame
    except Exception as err:  # av errors and decoder crashes alike: the stream is unusable
        raise CorruptVideoError(f"{path}: the video stream cannot be decoded ({err})") from err
    raise CorruptVideoError(f"{path}: the video stream holds no decodable frame")


def _num_frames(path: Path, stream) -> int | None:
    """Displayed frames: the container's count minus samples an MP4 edit list hides."""
    if not stream.frames:
        return None
    edits = video_edit_list(path) if looks_like_mp4(path) else None
    if edits is None:
        return int(stream.frames)
    hidden = edits.hidden_samples
    return None if hidden is None else int(stream.frames) - hidden


def _duration(container, stream) -> float:
    """The stream's own duration; else the container's minus the video's late start."""
    own = _seconds(stream.duration, stream.time_base)
    if own:
        return own
    if container.duration:  # measured from the container's start, which may precede the video's
        lead = (_seconds(stream.start_time, stream.time_base) or 0.0) - (container.start_time or 0) / 1e6
        return max(0.0, container.duration / 1_000_000 - max(0.0, lead))
    return 0.0


def probe(path: Path) -> VideoInfo:
    """See :func:`vtg.video.probe`."""
    with open_container(path) as container:
        stream = video_stream(container, path)
        declared = stream.codec_context  # the header's size: checked before a packet is read
        check_pixels(declared.width or 0, declared.height or 0, path, "the header declares frames of")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        try:
            intervals = _frame_intervals(container, stream)
        except Exception as err:
            raise CorruptVideoError(f"{path}: cannot read packets ({err})") from err
        if not fps and intervals.size:
            fps = 1.0 / float(np.median(intervals) * stream.time_base)
        with open_container(path) as fresh:  # decode from the start (the demux above consumed packets)
            first = _first_frame(fresh, video_stream(fresh, path), path)
        check_pixels(first.width, first.height, path, "frames are")
        rotation = clockwise_rotation(first.rotation)
        sar = stream.sample_aspect_ratio
        width, height = display_size(first.width, first.height, rotation, Fraction(sar) if sar else None)
        return VideoInfo(
            path=path,
            duration=_duration(container, stream),
            fps=fps,
            width=width,
            height=height,
            rotation=rotation,
            num_frames=_num_frames(path, stream),
            codec=stream.codec_context.name,
            has_audio=bool(container.streams.audio),
            variable_frame_rate=_is_variable(intervals),
            start_time=_seconds(stream.start_time, stream.time_base) or 0.0,
        )


def decode(path: Path, info: VideoInfo, targets: np.ndarray | None,
           out_size: tuple[int, int] | None, workers: int = 1, accel=None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(time, rgb)`` for every frame (targets None) or the frame displayed at each target.

    ``workers > 1`` decodes a long video's targets as independent segments in parallel
    (:mod:`vtg.video.segments`); the frames and times are the same as with one worker.
    ``accel``: PyAV ``HWAccel`` settings (a zero-argument factory), for decoding on the GPU.
    """
    if targets is not None and workers > 1:
        yield from decode_segments(path, info, targets, out_size or (info.width, info.height), workers, accel)
        return
    yield from sequential_decode(path, info, targets, out_size, accel)


def seek_decode(path: Path, info: VideoInfo, targets: np.ndarray,
                out_size: tuple[int, int] | None, threads: int = decoding.CODEC_THREADS) -> Iterator[tuple[float, np.ndarray]]:
    """Per-target seeking, the alternative the benchmark compares against (not used by default);
    the server's thumbnails use it with few decoder ``threads`` (one frame per request)."""
    convert = frame_converter(info, out_size)
    with open_container(path) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        origin = stream.start_time or 0
        for target in targets:
            pts = origin + int(math.floor(target / stream.time_base))
            container.seek(pts, stream=stream, backward=True, any_frame=False)
            chosen = None
            for frame in container.decode(stream):
                time = float((frame.pts - origin) * stream.time_base)
                if chosen is not None and time > target + 1e-6:
                    break
                chosen = (time, frame)
            if chosen is not None:
                yield chosen[0], convert(chosen[1])


def decode_from_first_target(path: Path, info: VideoInfo, targets: np.ndarray,
                             out_size: tuple[int, int] | None) -> Iterator[tuple[float, np.ndarray]]:
    """Like :func:`decode`, but one seek to the key frame before the first target first: for
    targets that sit in a late stretch of a long video (a window of coarse-to-fine grounding),
    nothing before that key frame is decoded. Same frames and times as :func:`decode` (tested);
    the seek is guarded as for parallel segments (:func:`vtg.video.segments.decode_after_seek`)."""
    yield from decode_after_seek(path, info, targets, out_size, decoding.CODEC_THREADS)

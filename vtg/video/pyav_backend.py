"""The default backend: PyAV (FFmpeg), decoding sequentially (long videos: in parallel segments).

Why sequential: sampling 1-2 frames per second from 25-30 fps video touches every GOP anyway, and
one forward pass beats a seek per target 3-10x (benchmarks/bench_decode.py). Frames that are not
kept are never converted to RGB — only the frame displayed at each target is. FFmpeg applies MP4
edit lists, so frames and timestamps are right on stream-copied clips (where decord is not).
"""

from __future__ import annotations

import contextlib
import math
from fractions import Fraction
from pathlib import Path
from typing import Any, Generator, Iterator

import numpy as np

from vtg.errors import CorruptVideoError
from vtg.video.editlist import video_edit_list
from vtg.video.files import looks_like_mp4, open_container, video_stream
from vtg.video.geometry import clockwise_rotation, coded_target, display_size, rotate
from vtg.video.info import VideoInfo
from vtg.video.limits import VideoTooLargeError, check_pixels, max_pixels
from vtg.video.sampling import select_stream
from vtg.video.skipping import decoded_frames

_VFR_PACKETS = 300  # packet timestamps read by probe to tell constant from variable frame rate
_REORDER_DEPTH = 16  # max B-frame reordering (H.264 allows 16 reference frames)
_VFR_TOLERANCE = 0.1  # relative spread of frame intervals still counted as constant
#: FFmpeg decoder threads per decoder; 0 lets FFmpeg use every core (benchmarks set 1 to measure
#: how parallel segments scale on their own).
CODEC_THREADS = 0


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


def _timed_frames(container, stream, path: Path, info: VideoInfo,
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
    _check_complete(path, stream, info, last)


def _check_complete(path: Path, stream, info: VideoInfo, last: float | None) -> None:
    """Raise when the frames stop well before the stream's stated duration (a truncated file)."""
    if stream.duration is None or last is None or not info.fps:
        return
    slack = max(1.0, 3.0 / info.fps)
    if last + 1.0 / info.fps < info.duration - slack:
        raise CorruptVideoError(
            f"{path}: frames stop at {last:.2f}s but the video should last {info.duration:.2f}s; "
            "the file is truncated or damaged")


def _converter(info: VideoInfo, out_size: tuple[int, int] | None):
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


def decode(path: Path, info: VideoInfo, targets: np.ndarray | None,
           out_size: tuple[int, int] | None, workers: int = 1, accel=None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(time, rgb)`` for every frame (targets None) or the frame displayed at each target.

    ``workers > 1`` decodes a long video's targets as independent segments in parallel
    (:mod:`vtg.video.segments`); the frames and times are the same as with one worker.
    ``accel``: PyAV ``HWAccel`` settings (a zero-argument factory), for decoding on the GPU.
    """
    if targets is not None and workers > 1:
        from vtg.video.segments import decode_segments

        yield from decode_segments(path, info, targets, out_size or (info.width, info.height), workers, accel)
        return
    yield from sequential_decode(path, info, targets, out_size, accel)


def sequential_decode(path: Path, info: VideoInfo, targets: np.ndarray | None,
                      out_size: tuple[int, int] | None, accel=None) -> Iterator[tuple[float, np.ndarray]]:
    """One decoder from the start of the file (FFmpeg's own threads), as :func:`decode`."""
    convert = _converter(info, out_size)
    with open_decoder(path, CODEC_THREADS, accel) as (container, stream):
        frames = _timed_frames(container, stream, path, info, targets)
        if targets is None:
            for time, frame in frames:
                yield time, convert(frame)
            return
        yield from shown_at_targets(frames, targets, convert)


def shown_at_targets(frames, targets: np.ndarray, convert) -> Iterator[tuple[float, np.ndarray]]:
    """``(time, converted frame)`` of the frame displayed at each target
    (:func:`vtg.video.sampling.select_stream`), each frame converted once however many targets it serves."""
    last: tuple[object, np.ndarray] | None = None  # (frame, its conversion)
    for _k, time, frame in select_stream(frames, targets):
        if last is None or frame is not last[0]:
            last = frame, convert(frame)
        yield time, last[1]


def seek_decode(path: Path, info: VideoInfo, targets: np.ndarray,
                out_size: tuple[int, int] | None, threads: int = CODEC_THREADS) -> Iterator[tuple[float, np.ndarray]]:
    """Per-target seeking, the alternative the benchmark compares against (not used by default);
    the server's thumbnails use it with few decoder ``threads`` (one frame per request)."""
    convert = _converter(info, out_size)
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
    from vtg.video.segments import decode_after_seek

    yield from decode_after_seek(path, info, targets, out_size, CODEC_THREADS)

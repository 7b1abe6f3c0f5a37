"""Parallel decoding of a long video: independent segments from key frames, stitched in time order.

FFmpeg's own frame threads only go so far (a few frames in flight, and they wait on each other's
reference pictures). A long video is split instead into segments of the target grid; each segment
is decoded by its own decoder that seeks to the key frame at or before its first target and reads
on until its last target is served, and the segments' frames are handed out in timestamp order.
Segments hold only their sampled frames (already shrunk), so memory stays ``workers + 1`` segments.

Frame exactness is the same as sequential decoding (:func:`vtg.video.sampling.select_stream`):
the frame displayed at a target is the last one whose presentation time is ``<= target``; after
seeking to a key frame at ``k <= target``, every frame with a time in ``[k, target]`` is decoded
(open-GOP leading pictures, which precede ``k``, are dropped). When a seek cannot be trusted (it
lands after the target, finds no key frame, or meets frames without timestamps) that segment is
decoded from the start of the file instead, which is what sequential decoding would do.
"""

from __future__ import annotations

import math
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np

from vtg.video.files import open_container, video_stream
from vtg.video.info import VideoInfo
from vtg.video.sampling import EPS, select_stream

#: Shortest stretch of video given to one decoder: the key-frame lead-in (up to a GOP, often
#: 2-10 s) is decoded twice, so shorter segments waste more than they gain.
MIN_SEGMENT_SECONDS = 30.0
#: Sampled frames one segment holds at most (bytes), so memory does not grow with video length.
SEGMENT_BYTES = 64 << 20
#: Containers whose seeking by timestamp is exact enough to start a decoder mid-file.
SEEKABLE = {".mp4", ".m4v", ".mov", ".mkv", ".webm"}


class _Reseek(Exception):
    """The seek landed somewhere this segment cannot start from; decode it from the start."""


#: Cores one decoder's own FFmpeg frame threads use well; beyond that, parallel segments pay off.
CORES_PER_DECODER = 4


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Decoders to run at once: one per ``CORES_PER_DECODER`` usable cores (so 1 below 8 cores).

    Why not one per core: a segment re-decodes the lead-in from its key frame (up to a GOP), and
    FFmpeg's frame threads already keep a few cores busy; measured on 2 cores (bench_index.py),
    one decoder with FFmpeg's threads took 7.3 s where two one-thread segment decoders took 12.3 s.
    """
    return max(1, usable_cores() // CORES_PER_DECODER)


def plan(info: VideoInfo, targets: np.ndarray, out_size: tuple[int, int], workers: int) -> list[tuple[int, int]]:
    """Target index ranges ``[lo, hi)``, one per segment; a single range when splitting cannot help."""
    n = len(targets)
    if workers < 2 or n < 2 or info.duration < 2 * MIN_SEGMENT_SECONDS or Path(info.path).suffix.lower() not in SEEKABLE:
        return [(0, n)]
    seconds = max(MIN_SEGMENT_SECONDS, info.duration / (4 * workers))
    per_segment = max(1, math.ceil(n * seconds / info.duration))
    frame_bytes = max(1, out_size[0] * out_size[1] * 3)
    per_segment = max(1, min(per_segment, SEGMENT_BYTES // frame_bytes))
    return [(lo, min(n, lo + per_segment)) for lo in range(0, n, per_segment)]


def decode_segments(path: Path, info: VideoInfo, targets: np.ndarray, out_size: tuple[int, int],
                    workers: int) -> Iterator[tuple[float, np.ndarray]]:
    """``(time, rgb)`` for each target, segments decoded by ``workers`` threads, in order."""
    from vtg.video import pyav_backend

    ranges = plan(info, targets, out_size, workers)
    if len(ranges) == 1:
        yield from pyav_backend.decode(path, info, targets, out_size, workers=1)
        return
    # codec threads per decoder: the cores shared out, so decoders do not oversubscribe them
    threads = pyav_backend.CODEC_THREADS or max(1, usable_cores() // workers)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vtg-decode")
    pending: deque[Future] = deque()
    upcoming = iter(ranges)

    def submit() -> None:
        for lo, hi in upcoming:
            pending.append(pool.submit(_segment, path, info, targets[lo:hi], out_size, lo > 0, threads))
            return

    try:
        for _ in range(workers + 1):
            submit()
        while pending:
            frames = pending.popleft().result()
            submit()
            yield from frames
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


def _segment(path: Path, info: VideoInfo, targets: np.ndarray, out_size: tuple[int, int], seek: bool,
             threads: int) -> list[tuple[float, np.ndarray]]:
    if seek:
        try:
            return list(_decode_segment(path, info, targets, out_size, True, threads))
        except _Reseek:
            pass
    return list(_decode_segment(path, info, targets, out_size, False, threads))


def decode_after_seek(path: Path, info: VideoInfo, targets: np.ndarray, out_size: tuple[int, int] | None,
                      threads: int = 0) -> Iterator[tuple[float, np.ndarray]]:
    """``(time, rgb)`` for ``targets`` decoded lazily from the key frame at or before the first one
    (for targets in a late stretch of a long video); from the file's start when the seek cannot be
    trusted. Same frames and times as sequential decoding."""
    size = out_size or (info.width, info.height)
    if len(targets) and targets[0] > 0:
        frames = _decode_segment(path, info, targets, size, True, threads)
        try:
            first = next(frames)
        except _Reseek:  # raised before any frame is handed out, so starting over is safe
            pass
        except StopIteration:
            return
        else:
            yield first
            yield from frames
            return
    yield from _decode_segment(path, info, targets, size, False, threads)


def _decode_segment(path: Path, info: VideoInfo, targets: np.ndarray, out_size: tuple[int, int], seek: bool,
                    threads: int) -> Iterator[tuple[float, np.ndarray]]:
    from vtg.video.pyav_backend import _converter, _timed_frames

    convert = _converter(info, out_size)
    with open_container(path) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        frames = _timed_frames(container, stream, path, info)
        if seek:
            if stream.start_time is None:
                raise _Reseek()
            first = stream.start_time + int(math.floor(float(targets[0]) / stream.time_base))
            try:
                container.seek(first, stream=stream, backward=True, any_frame=False)
            except Exception as err:  # av errors: some files refuse to seek
                raise _Reseek() from err
            frames = _from_key_frame(frames, float(targets[0]))
        cached_id, cached = None, None
        try:
            for _k, time, frame in select_stream(frames, targets):
                if frame is not cached_id:
                    cached_id, cached = frame, convert(frame)
                yield time, cached
        finally:
            frames.close()


def _from_key_frame(frames, first_target: float):
    """Frames from the first key frame on, checking it is displayed no later than ``first_target``.
    Raises _Reseek only before yielding anything."""
    anchor = None
    for time, frame in frames:
        if anchor is None:
            if frame.pts is None:
                raise _Reseek()
            if not frame.key_frame:
                continue  # leading pictures of an open GOP: not decodable from here
            if time > first_target + EPS:
                raise _Reseek()
            anchor = time
        elif time < anchor:
            continue
        yield time, frame
    if anchor is None:
        raise _Reseek()

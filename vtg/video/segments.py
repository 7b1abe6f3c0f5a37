"""Parallel decoding of a long video: independent segments from key frames, stitched in time order.

FFmpeg's own frame threads only go so far (a few frames in flight, and they wait on each other's
reference pictures). A long video is split instead into segments of the target grid; each segment
is decoded by its own decoder that seeks to the key frame at or before its first target and reads
on until its last target is served, and the segments' frames are handed out in timestamp order.
Segments hold only their sampled frames (already shrunk), and at most ``2 * workers + 1`` segments
(:data:`HELD_BYTES` of frames, at least ``workers + 1`` segments) are held, whatever the video length.

Frame exactness is the same as sequential decoding (:func:`vtg.video.sampling.select_stream`):
the frame displayed at a target is the last one whose presentation time is ``<= target``; after
seeking to a key frame at ``k <= target``, every frame with a time in ``[k, target]`` is decoded
(open-GOP leading pictures, which precede ``k``, are dropped). When a seek cannot be trusted (it
lands after the target, finds no key frame, or meets frames without timestamps) that segment is
decoded from the start of the file instead, which is what sequential decoding would do.
"""

from __future__ import annotations

import contextvars
import math
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vtg.video import decoding
from vtg.video.decoding import frame_converter, open_decoder, sequential_decode, shown_at_targets, timed_frames
from vtg.video.files import open_container, video_stream
from vtg.video.info import VideoInfo
from vtg.video.sampling import EPS

#: Shortest stretch of video given to one decoder. Segments start at key frames
#: (:func:`at_key_frames`), so nothing is decoded twice; what a segment costs is opening the file
#: and one seek (milliseconds), against decoders left idle at the end when segments are few.
MIN_SEGMENT_SECONDS = 10.0
#: Segments per decoder (before the size floor above): enough that decoders finishing early find
#: work (4 segments on 2 decoders: 0.69 s; 8: 0.58 s; one decoder 0.97 s; bench_index.py's video).
SEGMENTS_PER_WORKER = 4
#: Segments decoded ahead of the one being handed out, per decoder (+1): a decoder that finishes
#: a short segment finds another instead of waiting for a long one before it to be handed out
#: (2 decoders on 2 cores: 1.65x one decoder with 1 per decoder, 1.74x with 2; 5 rounds).
IN_FLIGHT_PER_WORKER = 2
#: Bytes of sampled frames all segments in flight may hold (at least ``workers + 1`` segments).
HELD_BYTES = 512 << 20
#: Sampled frames one segment holds at most (bytes), so memory does not grow with video length.
SEGMENT_BYTES = 64 << 20
#: Containers whose seeking by timestamp is exact enough to start a decoder mid-file.
SEEKABLE = {".mp4", ".m4v", ".mov", ".mkv", ".webm"}


class _Reseek(Exception):
    """The seek landed somewhere this segment cannot start from; decode it from the start."""


#: Most segment decoders :func:`default_workers` runs at once.
MAX_WORKERS = 16


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Decoders to run at once on a long video: one per usable core, one codec thread each.

    Why not FFmpeg's own frame threads: they keep only a few pictures in flight and wait on each
    other's reference pictures, and once the pictures no target shows are skipped
    (:mod:`vtg.video.skipping`) little is left for them to share. Measured on 2 cores
    (bench_index.py, 2-minute 360p H.264 at 1 fps, medians of 5): one decoder with FFmpeg's
    threads 0.91 s, one with a single thread 0.91 s, two one-thread segment decoders 0.59 s.
    Why every core even when other processes keep them busy (issue 22): the scheduler shares the
    cores among runnable threads, so fewer decoders only means a smaller share. Indexing with the
    tiny encoder against a plain single-threaded PyAV decode of every frame (60-s 360p clip,
    2 cores, medians of 5): beside 1 / 2 / 4 / 8 spinning processes, two decoders 0.72x / 0.68x /
    0.46x / 0.42x, one decoder 0.90x / 1.17x / 0.92x / 0.97x; beside a running test suite (load
    4-5), 0.60-0.62x against 0.98-1.03x. (Sizing decoders by the cores free at the start, as
    before, chose one decoder at every such load.)
    Videos too short to split (:func:`plan`) keep one decoder with FFmpeg's threads. At most
    :data:`MAX_WORKERS`: each decoder's per-packet Python work takes the interpreter's lock, so many
    more threads would queue on it (not measured beyond 2 cores here; cores beyond go to FFmpeg's
    threads, ``cores / decoders`` per decoder).
    """
    return min(MAX_WORKERS, usable_cores())


def plan(info: VideoInfo, targets: np.ndarray, out_size: tuple[int, int], workers: int) -> list[tuple[int, int]]:
    """Target index ranges ``[lo, hi)``, one per segment; a single range when splitting cannot help."""
    n = len(targets)
    if workers < 2 or n < 2 or info.duration < 2 * MIN_SEGMENT_SECONDS or Path(info.path).suffix.lower() not in SEEKABLE:
        return [(0, n)]
    seconds = max(MIN_SEGMENT_SECONDS, info.duration / (SEGMENTS_PER_WORKER * workers))
    per_segment = max(1, math.ceil(n * seconds / info.duration))
    frame_bytes = max(1, out_size[0] * out_size[1] * 3)
    per_segment = max(1, min(per_segment, SEGMENT_BYTES // frame_bytes))
    starts = list(range(per_segment, n, per_segment))
    aligned = at_key_frames(info, targets, starts)
    bounds = sorted({0, n, *aligned})
    return [(lo, hi) for lo, hi in zip(bounds, bounds[1:]) if hi > lo]


def at_key_frames(info: VideoInfo, targets: np.ndarray, starts: list[int]) -> list[int]:
    """Segment starts moved back to the key frame at or before their first target.

    Why: a segment decoder starts at that key frame anyway, and the segment before it decodes on
    until its own last target; with the boundary where the key frame is, the two do not decode
    the same pictures twice (the lead-in of up to a GOP per segment: two decoders used 1.13 s of
    CPU where one used 0.97 s; aligned, 0.97 s, on bench_index.py's video). A segment may grow by
    up to a GOP's targets. Where the key
    frame cannot be found (no timestamps, a file that does not seek), a start stays as it was.
    """
    if not starts:
        return []
    try:
        keys = key_frame_times(Path(info.path), [float(targets[lo]) for lo in starts])
    except Exception:  # noqa: BLE001 - av errors, a file gone: decoding reports those itself
        return starts
    moved = []
    for lo, key in zip(starts, keys):
        moved.append(lo if key is None else int(np.searchsorted(targets, key - EPS, side="left")))
    return moved


#: Packets read after a seek looking for its key frame before giving up on that boundary.
_KEY_SEARCH_PACKETS = 64


def key_frame_times(path: Path, times: list[float]) -> list[float | None]:
    """For each time (seconds from the stream's start), the presentation time of the key frame a
    backward seek to it lands on: read from packets, nothing decoded. None where not found."""
    found: list[float | None] = []
    with open_container(path) as container:
        stream = video_stream(container, path)
        origin, base = stream.start_time, stream.time_base
        if origin is None or base is None:
            return [None] * len(times)
        for time in times:
            container.seek(origin + int(math.floor(time / base)), stream=stream, backward=True, any_frame=False)
            key = None
            for _, packet in zip(range(_KEY_SEARCH_PACKETS), container.demux(stream)):
                if packet.is_keyframe and packet.pts is not None:
                    key = float((packet.pts - origin) * base)
                    break
            found.append(key if key is not None and key <= time + EPS else None)
    return found


def decode_segments(path: Path, info: VideoInfo, targets: np.ndarray, out_size: tuple[int, int],
                    workers: int, accel=None) -> Iterator[tuple[float, np.ndarray]]:
    """``(time, rgb)`` for each target, segments decoded by ``workers`` threads, in order
    (``accel``: a factory of PyAV ``HWAccel`` settings, one decoding session on the GPU each)."""
    ranges = plan(info, targets, out_size, workers)
    if len(ranges) == 1:
        yield from sequential_decode(path, info, targets, out_size, accel)
        return
    # codec threads per decoder: the cores shared out, so decoders do not oversubscribe them
    threads = decoding.CODEC_THREADS or max(1, usable_cores() // min(workers, len(ranges)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vtg-decode")
    pending: deque[Future] = deque()
    upcoming = iter(ranges)

    def submit() -> None:
        for lo, hi in upcoming:
            pending.append(pool.submit(contextvars.copy_context().run, _segment, path, info, targets[lo:hi], out_size,
                                       lo > 0, threads, accel))  # the caller's session, in the pool's thread
            return

    try:
        segment_bytes = max(hi - lo for lo, hi in ranges) * out_size[0] * out_size[1] * 3
        ahead = min(IN_FLIGHT_PER_WORKER * workers, max(workers, HELD_BYTES // max(1, segment_bytes)))
        for _ in range(ahead + 1):
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
             threads: int, accel=None) -> list[tuple[float, np.ndarray]]:
    if seek:
        try:
            return list(_decode_segment(path, info, targets, out_size, True, threads, accel))
        except _Reseek:
            pass
    return list(_decode_segment(path, info, targets, out_size, False, threads, accel))


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
                    threads: int, accel=None) -> Iterator[tuple[float, np.ndarray]]:
    convert = frame_converter(info, out_size)
    container: Any
    stream: Any  # PyAV's objects
    with open_decoder(path, threads, accel) as (container, stream):
        frames: Any = timed_frames(container, stream, path, info, targets)  # a generator: closed below
        if seek:
            if stream.start_time is None:
                raise _Reseek()
            first = stream.start_time + int(math.floor(float(targets[0]) / stream.time_base))
            try:
                container.seek(first, stream=stream, backward=True, any_frame=False)
            except Exception as err:  # av errors: some files refuse to seek
                raise _Reseek() from err
            frames = _from_key_frame(frames, float(targets[0]))
        try:
            yield from shown_at_targets(frames, targets, convert)
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

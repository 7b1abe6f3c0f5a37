"""Which frames a clip ``[start, end)`` holds, from the packets' real timestamps (no decoding).

A clip of ``[start, end)`` holds exactly the frames on screen during that interval: its first
frame is the one displayed at ``start`` (the last frame whose timestamp is <= start) and its last
the one displayed just before ``end`` (the last frame whose timestamp is < end). Times are
seconds from the video stream's first frame, as vtg.video reports them (and so every method);
``SourceInfo.offset`` converts them to ffmpeg's ``-ss`` clock, which starts at the container's
start (they differ when, say, the audio starts before the video).

Timestamps are read by demuxing packets from the keyframe before ``start`` (cheap: nothing is
decoded), so variable-frame-rate videos get the right frames too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vtg.errors import CorruptVideoError, NotAVideoError, VideoNotFoundError
from vtg.video.limits import check_pixels


@dataclass(frozen=True)
class SourceInfo:
    path: Path
    duration: float
    width: int
    height: int
    has_audio: bool
    #: video time 0 (its first frame) on ffmpeg's input clock (seconds from the container start)
    offset: float = 0.0


@dataclass(frozen=True)
class FrameWindow:
    """``seek``: where ffmpeg's accurate ``-ss`` goes, in video time (between the frame before and the first);
    ``first``/``last``: timestamps of the first and last frame; ``frames``: how many."""

    seek: float
    first: float
    last: float
    frames: int
    keyframe: float
    gap: float = 0.04

    @property
    def duration(self) -> float:
        """Display span of the frames: up to the end of the last one (one median frame gap)."""
        return self.last - self.first + self.gap


def open_source(path: Path):
    import av

    if not path.is_file():
        raise VideoNotFoundError(f"video not found: {path}")
    try:
        container = av.open(str(path.absolute()))  # "concat:x.mp4" is a file name, not a protocol
    except (av.error.FFmpegError, OSError) as exc:
        raise CorruptVideoError(f"cannot read {path.name}: {exc}") from None
    if not container.streams.video:
        container.close()
        raise NotAVideoError(f"{path.name} has no video stream")
    return container


def source_info(path: Path) -> SourceInfo:
    container = open_source(path)
    with container:
        vs = container.streams.video[0]
        check_pixels(vs.codec_context.width or 0, vs.codec_context.height or 0, path,
                     "the header declares frames of")  # before ffmpeg decodes them
        duration = container.duration / 1e6 if container.duration else float((vs.duration or 0) * vs.time_base)
        return SourceInfo(path, duration, vs.codec_context.width, vs.codec_context.height,
                          bool(container.streams.audio), video_origin(container, vs) - container_origin(container))


def container_origin(container) -> float:
    return container.start_time / 1e6 if container.start_time is not None else 0.0


def video_origin(container, vs) -> float:
    """Timestamp (s) of the video stream's first frame: vtg's time zero."""
    return float(vs.start_time * vs.time_base) if vs.start_time is not None else container_origin(container)


def frame_window(path: Path, start: float, end: float) -> FrameWindow:
    """The frames of ``[start, end)`` in ``path`` (at least one frame)."""
    times, keyframes = packet_times(path, start, end)
    if not times:
        raise CorruptVideoError(f"no video frames near {start:.3f} s in {path.name}")
    gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
    gap = sorted(gaps)[len(gaps) // 2] if gaps else 0.04
    before = [t for t in times if t <= start + 1e-6]
    first_i = times.index(before[-1]) if before else 0
    inside = [k for k in range(first_i, len(times)) if times[k] < end - 1e-6]
    last_i = inside[-1] if inside else first_i
    first = times[first_i]
    seek = (times[first_i - 1] + first) / 2 if first_i > 0 else max(0.0, first - gap / 2)
    keys = [k for k in keyframes if k <= start + 1e-6]
    return FrameWindow(seek=seek, first=first, last=times[last_i], frames=last_i - first_i + 1,
                       keyframe=keys[-1] if keys else (keyframes[0] if keyframes else first), gap=gap)


def packet_times(path: Path, start: float, end: float) -> tuple[list[float], list[float]]:
    """Sorted presentation times (s, from the file start) of video packets from the keyframe
    before ``start`` to a little past ``end``, and which of them are keyframes."""
    import av

    container = open_source(path)
    with container:
        vs = container.streams.video[0]
        tb = float(vs.time_base)
        origin = video_origin(container, vs)
        try:
            container.seek(max(0, int((origin + max(0.0, start - 1.0)) / tb)), stream=vs, backward=True)
        except av.error.FFmpegError:
            container.seek(0)
        times, keys = [], []
        try:
            for packet in container.demux(vs):
                if packet.pts is None:
                    continue
                t = round(packet.pts * tb - origin, 6)
                times.append(t)
                if packet.is_keyframe:
                    keys.append(t)
                if packet.dts is not None and packet.dts * tb - origin > end + 2.0:
                    break  # past the end, with margin for reordered (B-) frames
        except av.error.FFmpegError as exc:
            if not times:
                raise CorruptVideoError(f"cannot read {path.name}: {exc}") from None
    return sorted(set(times)), sorted(keys)

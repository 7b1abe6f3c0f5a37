"""Not decoding pictures that no target shows: FFmpeg's ``skip_frame`` set packet by packet.

Sampling 1 frame per second from 30 fps video keeps 1 picture in 30, but every reference picture
must still be decoded, since later pictures are predicted from it. Non-reference pictures (most
B-frames: 44% of the pictures of x264's default output) are predicted from others and predict
nothing, so a decoder may drop one without harm to any other picture. This module tells, for
each packet before it is decoded, whether its picture can be shown at a target; when it cannot,
the decoder is told to drop the packet if it is a non-reference picture (``AVDISCARD_NONREF``),
and to decode it normally otherwise. Measured on a 2-minute 360p x264 file at 1 fps: 44% of the
pictures dropped, 40% less decoding time (benchmarks/bench_index.py).

Frame exactness: a picture with presentation time ``p`` is the one shown at target ``t`` only if
``p <= t < n``, where ``n`` is the next presentation time in the stream. ``n`` is found among the
packets demuxed shortly before and after this one (``WINDOW`` packets each side: B-frame
reordering is bounded, 16 pictures in H.264/HEVC). Every error of this estimate keeps *more*
pictures, never fewer: a next time not found in the window counts as "never" (the interval only
widens), a packet without a timestamp or without an earlier one in the window (the stream's or a
segment's first pictures) is decoded, and both ends carry a 1 ms margin. The choice of frames
afterwards is unchanged (:func:`vtg.video.sampling.select_stream`); the barcode fixtures with
B-frames, variable frame rate and edit lists check it frame for frame.

Only for decoders that read ``skip_frame`` again for each packet (FFmpeg's own H.264 and HEVC
decoders, frame threads included: the setting is copied to the thread that takes the packet);
others (libdav1d reads it once, at opening) decode every picture as before. And only in containers
that store presentation times (MP4/MOV, Matroska/WebM, MPEG-TS): an AVI's or a raw stream's
packet times are decode times or missing.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from fractions import Fraction
from typing import Any, Iterable, Iterator

import numpy as np

#: Packets looked at on each side of a packet to find the next presentation time.
WINDOW = 32
#: Codecs whose FFmpeg decoder honours a per-packet ``skip_frame``.
PER_PACKET_CODECS = {"h264", "hevc"}
#: Containers that store each picture's presentation time (FFmpeg's demuxer names). Others (AVI,
#: raw streams) may carry decode times or none, which could not say which picture is shown when.
TIMED_FORMATS = {"mov", "mp4", "matroska", "webm", "mpegts"}
_MARGIN = 1e-3  # seconds added to both ends of a picture's display interval


def applies(container, stream, targets: np.ndarray | None) -> bool:
    """Whether pictures can be skipped for these targets on this stream."""
    return (targets is not None and len(targets) > 0 and stream.start_time is not None
            and stream.time_base is not None and stream.codec_context.name in PER_PACKET_CODECS
            and not TIMED_FORMATS.isdisjoint(container.format.name.split(",")))


def decoded_frames(container, stream, targets: np.ndarray | None) -> Iterator:
    """``container.decode(stream)``, with non-reference pictures that no target shows dropped
    by the decoder when :func:`applies`."""
    if targets is None or not applies(container, stream, targets):
        yield from container.decode(stream)
        return
    context = stream.codec_context
    for packet, needed in needed_packets(container.demux(stream), targets, stream.start_time, stream.time_base):
        context.skip_frame = "DEFAULT" if needed else "NONREF"
        yield from packet.decode()


def needed_packets(packets: Iterable, targets: np.ndarray, origin: int, time_base) -> Iterator[tuple[Any, bool]]:
    """Each packet with whether its picture may be shown at one of ``targets`` (seconds from
    ``origin``, in ``time_base`` units), decided once ``WINDOW`` later packets are known."""
    targets = np.asarray(targets, np.float64).tolist()
    num, den = int(Fraction(time_base).numerator), int(Fraction(time_base).denominator)
    near: list[int] = []  # timestamps of the packets in the window, sorted
    before: deque = deque()  # timestamps of the packets already handed out (the window's first half)
    after: deque = deque()

    def release():
        packet = after.popleft()
        pts = packet.pts
        if pts is None or packet.size == 0:
            return packet, True  # no timestamp to judge by, or the flush at the end
        at = bisect.bisect_left(near, pts)
        if at == 0:
            needed = True  # the first picture (of the stream, or after a seek): may serve earlier targets
        else:
            later = bisect.bisect_right(near, pts)
            start = (pts - origin) * num / den - _MARGIN
            end = (near[later] - origin) * num / den + _MARGIN if later < len(near) else math.inf
            k = bisect.bisect_left(targets, start)
            needed = k < len(targets) and targets[k] < end
        before.append(pts)
        if len(before) > WINDOW:
            del near[bisect.bisect_left(near, before.popleft())]
        return packet, needed

    for packet in packets:
        after.append(packet)
        if packet.pts is not None and packet.size:
            bisect.insort(near, packet.pts)
        if len(after) > WINDOW:
            yield release()
    while after:
        yield release()

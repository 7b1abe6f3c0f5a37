"""Find MP4/MOV edit lists (``moov/trak/edts/elst``) with a small pure-Python ISO BMFF walker.

Why: an edit list tells the player which part of the coded media to show and when. ``ffmpeg -ss T
-i in.mp4 -c copy out.mp4`` writes one that starts the media at a key frame before T and hides the
frames up to T. FFmpeg (and so PyAV) honours it; decord ignores it and returns the hidden frames and
shifted timestamps (measured: several seconds off). The decord backend uses :func:`video_edit_list`
to refuse such files. Only the box headers on the path to ``elst`` are read, so this is cheap even
for multi-gigabyte files (``mdat`` is skipped, not read).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator



@dataclass(frozen=True)
class Edit:
    """One ``elst`` entry: ``duration`` in movie timescale units, ``media_time`` in media units (-1 = empty)."""

    duration: int
    media_time: int
    rate: float


@dataclass(frozen=True)
class TrackEdits:
    """The edit list of one track plus what is needed to read it in seconds."""

    handler: str  # "vide", "soun", ...
    movie_timescale: int
    media_timescale: int
    edits: tuple[Edit, ...]
    composition_times: tuple[int, ...] = ()  # per sample, media units, decode order (empty if unread)

    @property
    def hidden_samples(self) -> int | None:
        """How many coded samples the edit list hides (before its start or after its end).

        ``None`` when that cannot be told (several edits, empty edits, other rates, no sample
        tables). A single edit whose ``media_time`` only removes the B-frame composition delay
        (what ffmpeg writes for every H.264 file with B-frames) hides nothing: ``0``.
        """
        if self.is_identity:
            return 0
        if len(self.edits) != 1 or self.edits[0].rate != 1.0 or self.edits[0].media_time < 0:
            return None
        if not self.composition_times or not self.movie_timescale:
            return None
        edit = self.edits[0]
        cts = self.composition_times
        start = edit.media_time
        if edit.duration == 0:  # "until the end of the media" (fragmented files)
            return sum(1 for t in cts if t < start)
        end = start + edit.duration * self.media_timescale / self.movie_timescale
        return sum(1 for t in cts if t < start or t >= end)

    @property
    def shifts_or_cuts(self) -> bool:
        """True when the list hides coded frames, or does something this module cannot tell apart."""
        return self.hidden_samples != 0

    @property
    def is_identity(self) -> bool:
        """True when the list shows all media from its start at normal speed (no shift, no cut).

        A single edit with ``media_time == 0`` and rate 1 is what muxers write by default. A lone
        empty edit followed by nothing is not possible; anything else shifts or cuts the media.
        """
        return len(self.edits) == 0 or (
            len(self.edits) == 1 and self.edits[0].media_time == 0 and self.edits[0].rate == 1.0
        )

    def describe(self) -> str:
        """A short human-readable account of the edits, in seconds."""
        parts = []
        for e in self.edits:
            dur = e.duration / self.movie_timescale if self.movie_timescale else float("nan")
            if e.media_time < 0:
                parts.append(f"empty {dur:.3f}s")
            else:
                start = e.media_time / self.media_timescale if self.media_timescale else float("nan")
                parts.append(f"media from {start:.3f}s for {dur:.3f}s at rate {e.rate:g}")
        return "; ".join(parts) or "empty edit list"


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(type, payload_start, payload_end)`` for the boxes between ``start`` and ``end``."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header)
        payload = pos + 8
        if size == 1:
            large = f.read(8)
            if len(large) < 8:
                return
            size = struct.unpack(">Q", large)[0]
            payload = pos + 16
        elif size == 0:
            size = end - pos
        if size < payload - pos or pos + size > end:
            return  # truncated or damaged: stop rather than guess
        yield kind, payload, pos + size
        pos += size


def _full_box(f: BinaryIO, start: int) -> tuple[int, int]:
    """Read a full box's (version, flags) at ``start``."""
    f.seek(start)
    raw = f.read(4)
    if len(raw) < 4:
        raise ValueError("short full box")
    return raw[0], int.from_bytes(raw[1:], "big")


def _parse_elst(f: BinaryIO, start: int, end: int) -> tuple[Edit, ...]:
    version, _ = _full_box(f, start)
    (count,) = struct.unpack(">I", f.read(4))
    fmt, size = (">QqhH", 20) if version == 1 else (">IihH", 12)
    count = min(count, max(0, (end - start - 8) // size))
    edits = []
    for _ in range(count):
        duration, media_time, rate_int, rate_frac = struct.unpack(fmt, f.read(size))
        edits.append(Edit(duration, media_time, rate_int + rate_frac / 65536.0))
    return tuple(edits)


def _timescale(f: BinaryIO, start: int) -> int:
    """The timescale of an ``mvhd`` or ``mdhd`` box (same layout for both)."""
    version, _ = _full_box(f, start)
    f.seek(start + 4 + (16 if version == 1 else 8))
    return struct.unpack(">I", f.read(4))[0]


def _handler(f: BinaryIO, start: int) -> str:
    f.seek(start + 8)  # version/flags + pre_defined
    return f.read(4).decode("latin-1")


_MAX_TABLE_ENTRIES = 10_000_000  # a damaged count must not make us allocate gigabytes


def _runs(f: BinaryIO, start: int, end: int, signed: bool) -> list[tuple[int, int]]:
    """(count, value) runs of an ``stts`` or ``ctts`` box."""
    version, _ = _full_box(f, start)
    (count,) = struct.unpack(">I", f.read(4))
    count = min(count, max(0, (end - start - 8) // 8), _MAX_TABLE_ENTRIES)
    fmt = ">Ii" if (signed and version == 1) else ">II"
    raw = f.read(8 * count)
    return [struct.unpack_from(fmt, raw, 8 * i) for i in range(len(raw) // 8)]


def _composition_times(stts: list[tuple[int, int]], ctts: list[tuple[int, int]]) -> tuple[int, ...]:
    """Composition (presentation) time of every sample, from decode deltas plus offsets."""
    times: list[int] = []
    dts = 0
    for count, delta in stts:
        for _ in range(min(count, _MAX_TABLE_ENTRIES - len(times))):
            times.append(dts)
            dts += delta
    i = 0
    for count, offset in ctts:
        for _ in range(count):
            if i >= len(times):
                break
            times[i] += offset
            i += 1
    return tuple(times)


def _sample_tables(f: BinaryIO, start: int, end: int) -> tuple[int, ...]:
    """Walk ``minf/stbl`` and return the composition times of the track's samples."""
    stts: list[tuple[int, int]] = []
    ctts: list[tuple[int, int]] = []
    for kind, p0, p1 in _boxes(f, start, end):
        if kind == b"stbl":
            for k2, q0, q1 in _boxes(f, p0, p1):
                if k2 == b"stts":
                    stts = _runs(f, q0, q1, signed=False)
                elif k2 == b"ctts":
                    ctts = _runs(f, q0, q1, signed=True)
    return _composition_times(stts, ctts)


def _track(f: BinaryIO, start: int, end: int, movie_timescale: int) -> TrackEdits:
    edits: tuple[Edit, ...] = ()
    handler, media_timescale = "", 0
    cts: tuple[int, ...] = ()
    for kind, p0, p1 in _boxes(f, start, end):
        if kind == b"edts":
            for k2, q0, q1 in _boxes(f, p0, p1):
                if k2 == b"elst":
                    edits = _parse_elst(f, q0, q1)
        elif kind == b"mdia":
            for k2, q0, q1 in _boxes(f, p0, p1):
                if k2 == b"mdhd":
                    media_timescale = _timescale(f, q0)
                elif k2 == b"hdlr":
                    handler = _handler(f, q0)
                elif k2 == b"minf" and handler == "vide":
                    cts = _sample_tables(f, q0, q1)
    return TrackEdits(handler, movie_timescale, media_timescale, edits, cts)


def track_edit_lists(path: str | Path) -> list[TrackEdits]:
    """The edit lists of every track of an MP4/MOV file; ``[]`` for other formats or damaged files."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            for kind, p0, p1 in _boxes(f, 0, size):
                if kind == b"moov":
                    movie_timescale = 0
                    tracks = []
                    for k2, q0, q1 in _boxes(f, p0, p1):
                        if k2 == b"mvhd":
                            movie_timescale = _timescale(f, q0)
                        elif k2 == b"trak":
                            tracks.append((q0, q1))
                    return [_track(f, q0, q1, movie_timescale) for q0, q1 in tracks]
    except (OSError, ValueError, struct.error):
        return []
    return []


def video_edit_list(path: str | Path) -> TrackEdits | None:
    """The first video track's edits (with sample times) of an MP4/MOV file; ``None`` if none."""
    for track in track_edit_lists(path):
        if track.handler == "vide":
            return track
    return None

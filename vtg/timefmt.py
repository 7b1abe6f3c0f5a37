"""Times as people read them: ``m:ss.s``, ``h:mm:ss.s``, axis ticks and SRT timestamps.

Every clock-style time vtg prints comes from :func:`clock_parts`, which rounds the time to the
digits that will be shown *before* splitting it into hours, minutes and seconds. Splitting first
and rounding the seconds afterwards prints 59.96 s as ``0:60.0`` (and 3599.96 s as ``59:60.0``);
rounding first carries into the minute and the hour: ``1:00.0``, ``1:00:00.0``.
"""

from __future__ import annotations

import math


def clock_parts(seconds: float, decimals: int = 1) -> tuple[int, int, int, int]:
    """``(hours, minutes, seconds, fraction)`` of ``seconds`` rounded to ``decimals`` digits;
    ``fraction`` counts units of 10^-decimals. Negative and non-finite times count as 0."""
    scale = 10 ** decimals
    # round(seconds, decimals) rounds the exact binary value as printing does (0.05 -> 0.1)
    ticks = round(round(seconds, decimals) * scale) if math.isfinite(seconds) and seconds > 0 else 0
    whole, fraction = divmod(int(ticks), scale)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return hours, minutes, secs, fraction


def clock(seconds: float, decimals: int = 1) -> str:
    """``m:ss`` (``m:ss.s`` with decimals), or ``h:mm:ss[.s]`` from an hour on."""
    h, m, s, frac = clock_parts(seconds, decimals)
    tail = f"{s:02d}" + (f".{frac:0{decimals}d}" if decimals > 0 else "")
    return f"{h}:{m:02d}:{tail}" if h else f"{m}:{tail}"


def hms(seconds: float) -> str:
    """``m:ss.s`` or ``h:mm:ss.s``, tenths of a second: tables and report pages."""
    return clock(seconds, 1)


def srt_time(seconds: float) -> str:
    """``HH:MM:SS,mmm`` as SubRip cues want it."""
    h, m, s, ms = clock_parts(seconds, 3)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def span(start: float, end: float, duration: float) -> str:
    """A moment's interval in the units of a curve's time axis: ``12.3-18.0 s`` under two
    minutes, ``m:ss-m:ss`` (whole seconds, as the axis ticks) on longer videos."""
    if duration < 120:
        return f"{start:.1f}-{end:.1f} s"
    return f"{clock(start, 0)}-{clock(end, 0)}"

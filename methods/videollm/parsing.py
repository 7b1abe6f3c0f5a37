"""Reading time intervals out of a Video-LLM's free-text answer.

Shared by NumPro (frame numbers), TimeMarker (``second{t}`` or plain seconds) and VTG-LLM (time
tokens or ``0002.5``-style digits). Models phrase the same answer many ways: "From Frame 3 to
Frame 7", "frames 3-7", "between 2.5s and 10s", "00:01:05 - 00:01:12", several intervals in one
sentence, the ends reversed, "[2.5, 10.0]", "start time: 2.5, end time: 10", "1 minute 5 seconds".
The parser pairs two consecutive numbers when only a range connector (``-``, ``to``, ``and``,
``until``, ``through``, ``~``) and unit words lie between them (a number may end in a bare dot,
"12. - 30. seconds", as TimeChat writes it at times), or a comma inside brackets; failing
that it looks for "start ... end ..." wording. It never raises on odd text: an answer without an
interval gives an empty list.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from vtg.types import Moment

_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_SECOND_BRACES = re.compile(r"seconds?\s*\{\s*([0-9:.]+)\s*\}")
# VTG-LLM's time tokens as the released model spells them (<TIME_ZERO> .. <TIME_NINE>, <TIME_DOT>),
# matched after lower-casing; spaces a decoder may put between two of them are dropped first.
_TIME_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "dot")
_TIME_CHAR = dict(zip(_TIME_NAMES, "0123456789."))
_TIME_TOKEN = re.compile(r"<time_(" + "|".join(_TIME_NAMES) + r")>")
_TIME_GAP = re.compile(r"(<time_[a-z]+>)\s+(?=<time_)")
_NUMBER = re.compile(r"(?<![\d.:])(?:(\d{1,3}):(\d{1,2})(?::(\d{1,2}(?:\.\d+)?))?|(\d+(?:\.\d+)?))")
# Patterns below never put two ``\s*`` side by side (only around a required token) and never list
# one word twice, so they backtrack linearly on hostile answers (long whitespace runs, "second"
# repeated); the old forms took minutes on a few hundred characters.
_UNIT = r"(?:s|secs?|seconds?|frames?|th)"
_SEPARATOR = re.compile(
    r"^\.?\s*(?:" + _UNIT + r"\s*)?(?:\)\s*)?(?:,\s*)?(?:-+>?|~|→|to|and|until|till|through|thru)\s*"
    r"(?:the\s+)?(?:(?:frames?|seconds?|sec|at|timestamp|no\.?|#)\s*)*$"
)
_MAX_SEPARATOR = 80  # characters between two numbers that can still be "a to b"
_MIN_SEC = re.compile(r"(?<!\d)(\d+)\s*(?:minutes?|mins?)\s*(?:and\s*)?(\d+(?:\.\d+)?)\s*(?:seconds?|secs?|s)\b")
_BRACKETED = re.compile(r"^\s*,\s*$")
_START_END = re.compile(
    r"start(?:ing)?\s*(?:(?:time|frame|point)\s*)?(?:(?:is|:|=|at|of)\s*)?(?:frame\s*)?(?P<a>[0-9:.]*\d)[^0-9]{0,40}?"
    r"end(?:ing)?\s*(?:(?:time|frame|point)\s*)?(?:(?:is|:|=|at|of)\s*)?(?:frame\s*)?(?P<b>[0-9:.]*\d)")
_SINGLE_FRAME = re.compile(r"frames?\s*(?:(?:#|no\.?|number)\s*)?(\d+)(?![\d:]|\.\d)")


def normalise(text: str) -> str:
    """Lower-case, unify dashes, unwrap ``second{t}`` markers and spell time tokens as digits."""
    text = _DASHES.sub("-", str(text)).lower()
    text = _TIME_TOKEN.sub(lambda m: _TIME_CHAR[m.group(1)], _TIME_GAP.sub(r"\1", text))
    text = _SECOND_BRACES.sub(r"\1", text)
    return _MIN_SEC.sub(lambda m: f"{int(m.group(1)) * 60 + float(m.group(2)):g} seconds", text)


def number_spans(text: str) -> list[tuple[int, int, float]]:
    """``(start, end, value)`` of every number in normalised ``text``; HH:MM:SS and MM:SS become
    seconds."""
    spans = []
    for m in _NUMBER.finditer(text):
        if m.group(4) is not None:
            value = float(m.group(4))
        elif m.group(3) is not None:
            value = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        else:
            value = int(m.group(1)) * 60 + float(m.group(2))
        spans.append((m.start(), m.end(), value))
    return spans


def find_ranges(text: str) -> list[tuple[float, float]]:
    """Every ``(a, b)`` range in ``text``, in order of appearance, each with ``a <= b``.

    Duplicates are dropped; reversed ends are swapped.
    """
    try:
        return _ranges(normalise(text))
    except Exception:  # defensive: a parser must never fail on model output
        return []


def _ranges(text: str) -> list[tuple[float, float]]:
    spans = number_spans(text)
    out: list[tuple[float, float]] = []
    seen: set[tuple[float, float]] = set()  # a set, not `in out`: 200k intervals stay linear
    i = 0
    while i + 1 < len(spans):
        (start_a, end_a, a), (start_b, end_b, b) = spans[i], spans[i + 1]
        between = text[end_a:start_b]
        bracketed = (_BRACKETED.match(between) and text[max(0, start_a - 64):start_a].rstrip()[-1:] in ("[", "(")
                     and text[end_b:end_b + 64].lstrip()[:1] in ("]", ")"))
        if (len(between) <= _MAX_SEPARATOR and _SEPARATOR.match(between)) or bracketed:
            pair = (min(a, b), max(a, b))
            if pair not in seen:
                seen.add(pair)
                out.append(pair)
            i += 2
        else:
            i += 1
    return out or start_end(text)


def start_end(text: str) -> list[tuple[float, float]]:
    """``start time: 2.5 ... end time: 10`` style answers (normalised text)."""
    m = _START_END.search(text)
    a = number_spans(m.group("a")) if m else []
    b = number_spans(m.group("b")) if m else []
    if not a or not b:
        return []
    a_val, b_val = a[0][2], b[0][2]
    return [(min(a_val, b_val), max(a_val, b_val))]


def single_frames(text: str) -> list[int]:
    """Frame numbers mentioned alone ("in frame 5"), for answers that name one frame."""
    try:
        return [int(m.group(1)) for m in _SINGLE_FRAME.finditer(normalise(text))]
    except Exception:
        return []


def clamp(pairs: list[tuple[float, float]], low: float, high: float | None) -> list[tuple[float, float]]:
    """Clamp both ends of every pair into ``[low, high]`` (``high`` None: no upper bound)."""
    out: list[tuple[float, float]] = []
    seen: set[tuple[float, float]] = set()
    for a, b in pairs:
        a, b = max(low, a), max(low, b)
        if high is not None:
            a, b = min(high, a), min(high, b)
        if (a, b) not in seen:
            seen.add((a, b))
            out.append((a, b))
    return out


def seconds_answer(text, duration: float | None = None) -> list:
    """Moments from an answer that names times in seconds (``4.0 - 6.0``, ``second{4}``, HH:MM:SS,
    VTG-LLM's ``0002.5``), clamped to ``[0, duration]`` when given; ``[]`` when it names none."""
    if not isinstance(text, str):
        return []
    return [Moment(a, b) for a, b in clamp(find_ranges(text), 0.0, duration)
            if math.isfinite(a) and math.isfinite(b)]  # a 400-digit "number" is inf


def frame_spans(times: np.ndarray, duration: float | None) -> np.ndarray:
    """When each sampled frame stops being the current sample: the next frame's time, and for
    the last frame the video's end (or one median step after it)."""
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return times
    step = float(np.median(np.diff(times))) if times.size > 1 else 0.0
    last = duration if duration is not None and duration > times[-1] else times[-1] + step
    return np.append(times[1:], last)


def parse_frame_answer(text: str, timestamps: Sequence[float] | np.ndarray, duration: float | None = None) -> list[Moment]:
    """Moments in seconds from a NumPro answer such as "From Frame 3 to Frame 7" (Wu et al. 2025).

    ``timestamps`` are the true times of the numbered frames (frame ``i`` shown at
    ``timestamps[i]``). Frame numbers outside ``0..len-1`` are clamped; reversed ranges swapped;
    an answer naming one frame ("in frame 5") gives that frame's span. No interval: ``[]``.
    """
    times = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    if times.size == 0 or not isinstance(text, str):
        return []
    ranges = find_ranges(text) or [(f, f) for f in single_frames(text)]
    ends = frame_spans(times, duration)
    moments = []
    for a, b in clamp(ranges, 0, times.size - 1):
        i, j = int(round(a)), int(round(b))
        moments.append(within(times[i], max(ends[j], times[i]), duration))
    return _unique(moments)


def parse_frame_answer_one_per_second(text: str, duration: float) -> list[Moment]:
    """:func:`parse_frame_answer` with frame ``i`` shown at ``i`` s for ``ceil(duration)`` frames (the
    paper's 1 fps), computed per answered range: work follows the answer, not the duration."""
    if not isinstance(text, str):
        return []
    last = max(1, math.ceil(duration)) - 1
    ranges = find_ranges(text) or [(f, f) for f in single_frames(text)]
    moments = []
    for a, b in clamp(ranges, 0, last):
        i, j = int(round(a)), int(round(b))
        moments.append(within(float(i), float(j + 1) if j < last else max(duration, float(j)), duration))
    return _unique(moments)


def within(start: float, end: float, duration: float | None) -> Moment:
    """``[start, end]`` clamped to ``[0, duration]``: timestamps a file lists may run past it."""
    if duration is not None:
        start, end = min(start, duration), min(end, duration)
    return Moment(start, max(start, end))


def _unique(moments: list[Moment]) -> list[Moment]:
    return list(dict.fromkeys(moments))

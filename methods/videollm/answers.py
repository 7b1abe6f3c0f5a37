"""Answer formats of Video-LLMs, vtg's own and others', turned into moments in seconds.

Users who run TimeChat or VTimeLLM elsewhere keep their raw answers; ``vtg parse`` reads them
with these functions and writes vtg's JSONL, so ``vtg eval`` and ``vtg export`` work on them.

- ``timechat``: Ren et al., "TimeChat: A Time-sensitive Multimodal Large Language Model for Long
  Video Understanding", CVPR 2024. Answers give seconds, one or several events per answer:
  "The given query happens in 12.0 - 30.5 seconds." or, for dense captions,
  "0.0 - 12.0 seconds, a man ... 12.0 - 30.5 seconds, ...".
- ``vtimellm``: Huang et al., "VTimeLLM: Empower LLM to Grasp Video Moments", CVPR 2024. The model
  sees 100 uniformly sampled frames and answers with two-digit frame indices, "from 04 to 12"
  (or "04 and 12"); index ``i`` stands for ``i / 100`` of the video's duration, as in the authors'
  evaluation. Several events per answer are read in order.
- ``numpro``, ``timemarker``, ``vtgllm``: vtg's own methods' parsers (NumPro needs the numbered
  frames' timestamps; without them frame ``i`` is taken to be shown at ``i`` seconds, 1 fps).

``strict=True`` reads the answer as the model's own evaluation script does
(:mod:`~vtg.methods.videollm.official`): the first interval only, not clamped to the video (the
official IoU is computed on it as read). NumPro's script maps frame ``n`` to ``2n`` seconds (its
0.5 fps); given the numbered frames' timestamps, frame ``n`` maps to ``timestamps[n]`` instead
(the same thing at 0.5 fps), and a frame past the last one numbered reads as no interval.
TimeMarker's authors publish no answer parser, so it has no strict reading.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Sequence

import numpy as np

from vtg.errors import UnknownNameError, UsageError
from vtg.methods.videollm import official
from vtg.methods.videollm.parsing import parse_frame_answer, parse_frame_answer_one_per_second, seconds_answer
from vtg.types import Moment

# Two-digit indices joined by "to" / "and" / a dash, as VTimeLLM writes them ("from 04 to 12").
# Bounded separators, no nested quantifiers: linear on hostile text.
_VTIMELLM_PAIR = re.compile(r"(?<!\d)(\d{2})(?!\d)\s{0,8}(?:to|and|-|~)\s{0,8}(?<!\d)(\d{2})(?!\d)")
VTIMELLM_FRAMES = 100


def parse_timechat(text: str, duration: float | None = None) -> list[Moment]:
    """Moments from a TimeChat answer ("12.0 - 30.5 seconds", several events allowed), clamped
    to ``[0, duration]`` when it is given; ``[]`` when the answer names no interval."""
    return seconds_answer(text, duration)


def parse_vtimellm(text: str, duration: float) -> list[Moment]:
    """Moments from a VTimeLLM answer: each "NN to NN" pair of frame indices (of 100 uniformly
    sampled frames) becomes ``[NN / 100 * duration, NN / 100 * duration]``, ends swapped when
    reversed. ``duration`` is required: the indices mean nothing without it."""
    duration = _check_vtimellm_duration(duration)
    if not isinstance(text, str):
        return []
    out: list[Moment] = []
    seen: set[tuple[int, int]] = set()
    for m in _VTIMELLM_PAIR.finditer(text.lower()):
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        if (a, b) not in seen:
            seen.add((a, b))
            out.append(Moment(a / VTIMELLM_FRAMES * duration, b / VTIMELLM_FRAMES * duration))
    return out


def _check_vtimellm_duration(duration: float | None) -> float:
    if duration is None or not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise UsageError("VTimeLLM answers are fractions of the video: give its duration (seconds > 0)")
    return float(duration)


def _numpro(text: str, duration: float | None, timestamps: Sequence[float] | np.ndarray | None) -> list[Moment]:
    if timestamps is not None:
        return parse_frame_answer(text, timestamps, duration)
    if duration is None:
        raise UsageError("numpro answers name frame numbers: give the frames' timestamps or the duration")
    return parse_frame_answer_one_per_second(text, duration)  # NumPro's 1 fps, never a list as long as the video


def _seconds(text: str, duration: float | None, _timestamps=None) -> list[Moment]:
    """TimeMarker's and VTG-LLM's answers name times in seconds (or VTG-LLM's time tokens)."""
    return seconds_answer(text, duration)


#: format name -> parser(text, duration, timestamps) -> moments.
FORMATS: dict[str, Callable[..., list[Moment]]] = {
    "timechat": lambda text, duration, _timestamps=None: parse_timechat(text, duration),
    "vtimellm": lambda text, duration, _timestamps=None: parse_vtimellm(text, duration),
    "numpro": _numpro,
    "timemarker": _seconds,
    "vtgllm": _seconds,
}


def _first_moment(pair: tuple[float, float] | None) -> list[Moment]:
    """The official first interval as a one-moment list; reversed, non-finite: none (scores 0)."""
    if pair is None:
        return []
    a, b = pair
    if not (math.isfinite(a) and math.isfinite(b)) or b < a:
        return []
    return [Moment(a, b)]


def _strict_vtimellm(text: str, duration: float | None, _timestamps=None) -> list[Moment]:
    duration = _check_vtimellm_duration(duration)
    found = official.vtimellm_first(text)
    # The official script's arithmetic, in its order: index / 100, then (here) times the duration.
    return _first_moment(None if found is None else
                         (found[0] / VTIMELLM_FRAMES * duration, found[1] / VTIMELLM_FRAMES * duration))


def _strict_numpro(text: str, duration: float | None,
                   timestamps: Sequence[float] | np.ndarray | None) -> list[Moment]:
    frames = official.numpro_first(text)
    if frames is None:
        return []
    if timestamps is None:
        try:
            return _first_moment((float(frames[0] * 2), float(frames[1] * 2)))  # metrics_mr's "0.5 FPS"
        except OverflowError:  # a frame number no float holds
            return []
    if max(frames) >= len(timestamps):
        return []
    return _first_moment((float(timestamps[frames[0]]), float(timestamps[frames[1]])))


#: format name -> the official reading (text, duration, timestamps) -> at most one moment.
STRICT_FORMATS: dict[str, Callable[..., list[Moment]]] = {
    "timechat": lambda text, _duration=None, _timestamps=None: _first_moment(official.timechat_first(text)),
    "vtgllm": lambda text, _duration=None, _timestamps=None: _first_moment(official.vtgllm_first(text)),
    "vtimellm": _strict_vtimellm,
    "numpro": _strict_numpro,
}

#: How ``-O parse=`` and ``vtg parse --strict`` may read an answer.
READINGS = ("lenient", "strict")


def check_reading(reading: str, fmt: str) -> str:
    """``lenient`` or ``strict`` (the latter only where the authors published a parser)."""
    key = str(reading).strip().lower()
    if key not in READINGS:
        raise UsageError(f"parse={reading!r}: choose lenient or strict")
    if key == "strict" and fmt not in STRICT_FORMATS:
        raise UsageError(f"{fmt} has no strict reading (its authors publish no answer parser); "
                         f"strict exists for {', '.join(STRICT_FORMATS)}")
    return key


def parse_answer(fmt: str, text: str, duration: float | None = None,
                 timestamps: Sequence[float] | np.ndarray | None = None, *, strict: bool = False) -> list[Moment]:
    """Moments from ``text`` written in answer format ``fmt`` (one of :data:`FORMATS`); with
    ``strict`` the official script's first interval (:data:`STRICT_FORMATS`)."""
    key = str(fmt).strip().lower()
    if key not in FORMATS:
        raise UnknownNameError("answer format", fmt, list(FORMATS))
    if strict:
        check_reading("strict", key)
        if not isinstance(text, str):
            return []
        return STRICT_FORMATS[key](text, duration, timestamps)
    return FORMATS[key](text, duration, timestamps)

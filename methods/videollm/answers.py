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
"""

from __future__ import annotations

import math
import re
from typing import Callable, Sequence

from vtg.errors import UnknownNameError, UsageError
from vtg.types import Moment

# Two-digit indices joined by "to" / "and" / a dash, as VTimeLLM writes them ("from 04 to 12").
# Bounded separators, no nested quantifiers: linear on hostile text.
_VTIMELLM_PAIR = re.compile(r"(?<!\d)(\d{2})(?!\d)\s{0,8}(?:to|and|-|~)\s{0,8}(?<!\d)(\d{2})(?!\d)")
VTIMELLM_FRAMES = 100


def parse_timechat(text: str, duration: float | None = None) -> list[Moment]:
    """Moments from a TimeChat answer ("12.0 - 30.5 seconds", several events allowed), clamped
    to ``[0, duration]`` when it is given; ``[]`` when the answer names no interval."""
    from vtg.methods.videollm.parsing import seconds_answer

    return seconds_answer(text, duration)


def parse_vtimellm(text: str, duration: float) -> list[Moment]:
    """Moments from a VTimeLLM answer: each "NN to NN" pair of frame indices (of 100 uniformly
    sampled frames) becomes ``[NN / 100 * duration, NN / 100 * duration]``, ends swapped when
    reversed. ``duration`` is required: the indices mean nothing without it."""
    if duration is None or not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise UsageError("VTimeLLM answers are fractions of the video: give its duration (seconds > 0)")
    if not isinstance(text, str):
        return []
    out: list[Moment] = []
    for m in _VTIMELLM_PAIR.finditer(text.lower()):
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        moment = Moment(a / VTIMELLM_FRAMES * duration, b / VTIMELLM_FRAMES * duration)
        if moment not in out:
            out.append(moment)
    return out


def _numpro(text: str, duration: float | None, timestamps: Sequence[float] | None) -> list[Moment]:
    from vtg.methods.numpro import parse_answer

    if timestamps is None:
        if duration is None:
            raise UsageError("numpro answers name frame numbers: give the frames' timestamps or the duration")
        timestamps = [float(i) for i in range(max(1, math.ceil(duration)))]  # NumPro's 1 fps
    return parse_answer(text, timestamps, duration)


def _timemarker(text: str, duration: float | None, _timestamps=None) -> list[Moment]:
    from vtg.methods.timemarker import parse_answer

    return parse_answer(text, duration)


def _vtgllm(text: str, duration: float | None, _timestamps=None) -> list[Moment]:
    from vtg.methods.vtgllm.method import parse_answer

    return parse_answer(text, duration)


#: format name -> parser(text, duration, timestamps) -> moments.
FORMATS: dict[str, Callable[..., list[Moment]]] = {
    "timechat": lambda text, duration, _timestamps=None: parse_timechat(text, duration),
    "vtimellm": lambda text, duration, _timestamps=None: parse_vtimellm(text, duration),
    "numpro": _numpro,
    "timemarker": _timemarker,
    "vtgllm": _vtgllm,
}


def parse_answer(fmt: str, text: str, duration: float | None = None,
                 timestamps: Sequence[float] | None = None) -> list[Moment]:
    """Moments from ``text`` written in answer format ``fmt`` (one of :data:`FORMATS`)."""
    key = str(fmt).strip().lower()
    if key not in FORMATS:
        raise UnknownNameError("answer format", fmt, list(FORMATS))
    return FORMATS[key](text, duration, timestamps)

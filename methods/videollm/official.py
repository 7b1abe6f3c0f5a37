"""The authors' own readings of a Video-LLM answer ("strict"), quirks included.

vtg's default reading (:mod:`~vtg.methods.videollm.parsing`) understands many phrasings; the
papers' numbers were computed with each model's own evaluation script, which understands fewer
and misreads some. To put a score next to a paper's, ``vtg parse --strict`` and ``-O parse=strict``
read an answer the way that script does. Each function returns the *first* interval the official
code would score, as it computes it (possibly reversed), or None where it finds none:

- :func:`timechat_first`: TimeChat's ``utils/format_tvg.py`` (``format_tvg_output``), Ren et al.,
  CVPR 2024. Every ``a - b`` in the lower-cased answer (``a``/``b`` are digits, any run of dots,
  digits: "12." and "12..5" count as numbers); failing that, the first number of each "sentence"
  (split at ``!``, ``?`` and newlines only) that contains a keyword such as "start"/"end"/"happen",
  paired in order. (Its third fallback, ``H:MM:SS`` times, can never pair two: a sentence with a
  time also has a first number, so it only runs when at most one sentence has one, and it reads
  ``findall``'s tuples, whose ``count(':')`` is 0. It is left out.) Ends are swapped to ascend;
  only the first pair is kept, so "starts at 00:00:18 and ends at 00:00:23" on one line reads
  nothing, and on two lines reads 0 - 0. A dash pair with ``..`` inside a number makes the official script raise
  (``float('12..5')``); here that answer reads as no interval.
- :func:`vtgllm_first`: VTG-LLM's ``utils/format_tvg.py``: ``<TIME_ZERO>`` .. ``<TIME_NINE>`` and
  ``<TIME_DOT>`` (case-sensitive) become characters, spaces inside a digit run are dropped, then
  TimeChat's reading.
- :func:`vtimellm_first`: VTimeLLM's ``vtimellm/eval/eval.py``: the first ``NN to NN`` or
  ``NN and NN`` (two digits, one space each side, case-sensitive, no digit boundary, so "100 to
  200" reads "00 to 20"), indices of 100 frames; not swapped.
- :func:`numpro_first`: NumPro's ``eval/metrics_mr.py``: the first "from [frame] x to [frame] y"
  (any case); not swapped.

A reversed interval scores IoU 0 in VTimeLLM's and NumPro's scripts (their intersection is then
never positive), so the callers turn it into "no interval", which scores the same.

The patterns are the official ones written so that Python's backtracking stays linear on hostile
text (possessive quantifiers and a no-digit-before guard that, as argued at each, cannot change
which text matches); the reading is otherwise the same.
"""

from __future__ import annotations

import re

# TimeChat's r"(\d+\.*\d*)\s*-\s*(\d+\.*\d*)". A match can only start at the start of a digit run
# (started inside a run, the number runs to the same end and meets the same next character) and
# the first number's parts never give back characters usefully (what follows them must be space
# or "-"), so the guard and the possessive forms find the same matches in linear time.
_DASH_PAIR = re.compile(r"(?<!\d)(\d++\.*+\d*+)\s*+-\s*+(\d+\.*\d*)")
_FIRST_NUMBER = re.compile(r"\b(\d+\.\d+\b|\b\d+)\b")
_SENTENCE_END = re.compile(r"[!?\n]")
_KEYWORDS = ("starts", "ends", "happens in", "start time", "end time", "start", "end", "happen")

_TIME_TOKENS = [(f"<TIME_{name}>", str(digit)) for digit, name in enumerate(
    ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"))]
# VTG-LLM's r"\d[\d\s]*(\.[\s\d]*\d)*", whose matches lose their spaces.
_SPACED_NUMBER = re.compile(r"\d[\d\s]*(?:\.[\s\d]*\d)*")

_VTIMELLM = re.compile(r"(\d{2}) (to|and) (\d{2})")
_NUMPRO = re.compile(r"from\s*(?:frame\s*)?(\d+)\s*to\s*(?:frame\s*)?(\d+)", re.IGNORECASE)


def timechat_first(answer: str) -> tuple[float, float] | None:
    """The interval TimeChat's ``format_tvg_output`` keeps (ascending), or None."""
    text = answer.lower()
    pairs: list[tuple[float, float]] = []
    try:
        pairs = [(float(a), float(b)) for a, b in _DASH_PAIR.findall(text)]
    except ValueError:  # "12..5": the official script stops with this error
        return None
    if not pairs:
        candidates = [s for s in _SENTENCE_END.split(text) if any(k in s for k in _KEYWORDS)]
        pairs = _paired(_first_numbers(candidates))
    if not pairs:
        return None
    a, b = pairs[0]
    return (a, b) if b > a else (b, a)


def _first_numbers(sentences: list[str]) -> list[float]:
    found = (_FIRST_NUMBER.search(s) for s in sentences)
    return [float(m.group(1)) for m in found if m]


def _paired(times: list[float]) -> list[tuple[float, float]]:
    """Consecutive times two by two; an odd last one is dropped."""
    return [(times[i], times[i + 1]) for i in range(0, len(times) - 1, 2)]


def vtgllm_first(answer: str) -> tuple[float, float] | None:
    """The interval VTG-LLM's ``format_tvg_output`` keeps: time tokens spelled out, spaces inside
    numbers dropped, then TimeChat's reading."""
    for token, digit in _TIME_TOKENS:
        answer = answer.replace(token, digit)
    answer = answer.replace("<TIME_DOT>", ".")
    answer = _SPACED_NUMBER.sub(lambda m: m.group(0).replace(" ", ""), answer)
    return timechat_first(answer)


def vtimellm_first(answer: str) -> tuple[int, int] | None:
    """The frame indices (of 100) VTimeLLM's ``iou`` reads, as written (maybe reversed), or None."""
    m = _VTIMELLM.search(answer)
    return (int(m.group(1)), int(m.group(3))) if m else None


def numpro_first(answer: str) -> tuple[int, int] | None:
    """The frame numbers NumPro's ``calculate_iou`` reads, as written (maybe reversed), or None."""
    m = _NUMPRO.search(answer)
    try:
        return (int(m.group(1)), int(m.group(2))) if m else None
    except ValueError:  # past Python's 4300-digit limit: the official script stops here too
        return None

"""The one validator of grounding records read from a file (predictions, batch journals, results).

``vtg eval``, ``vtg export``, ``vtg report``, ``vtg plot`` and ``vtg batch``'s resume all read
records that a user (or another tool, or a damaged disk) may have written. Each record goes
through :func:`check_prediction` before anything uses it, so a ``duration`` of ``Infinity``, a
list where the method name belongs or a window ending before it starts is one line naming the
file, the line and the field, never a ``TypeError`` deep inside a plot.

Rules (fields absent from a record keep their defaults; QVHighlights' own prediction files have
only ``qid``, ``query``, ``vid``, ``pred_relevant_windows`` and ``pred_saliency_scores``):

=========================  ====================================================================
``qid``                    a string or an integer (or absent/null)
``query`` ``method``       strings
``video`` ``vid``          strings
``duration``               a finite number >= 0 (0, absent or null: unknown, as ``vtg parse``
                           writes for answers without a duration)
``pred_relevant_windows``  a list of ``[start, end]`` or ``[start, end, score]``: finite numbers,
                           ``0 <= start <= end``
``pred_saliency_scores``   a list of finite numbers
``saliency_times/scores``  lists of finite numbers of equal length, given together
``meta``                   an object
``status``                 ``"ok"`` or ``"error"`` (error records are not checked further)
=========================  ====================================================================
"""

from __future__ import annotations

import math
from typing import Any


from vtg.errors import DataError

STRING_FIELDS = ("query", "method", "video", "vid")
NUMBER_LISTS = ("pred_saliency_scores", "saliency_times", "saliency_scores")


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(where: str, name: str, problem: str) -> DataError:
    return DataError(f"{where}: field {name!r}: {problem}")


def finite(value: Any, name: str, where: str) -> float:
    """``value`` as a finite float (booleans and strings are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, name, f"{short(value)} is not a number")
    try:
        x = float(value)
    except OverflowError:  # a 400-digit integer
        raise _fail(where, name, f"{short(value)} is too large") from None
    if not math.isfinite(x):
        raise _fail(where, name, f"{short(value)} is not a finite number")
    return x


def number_list(value: Any, name: str, where: str) -> list[float]:
    if not isinstance(value, list):
        raise _fail(where, name, f"must be a list of numbers, got {type(value).__name__}")
    try:  # the common case at C speed: the sum of numbers is finite only when every one is
        if math.isfinite(sum(value)):  # (strings, lists, None raise; a boolean reads as 0/1: harmless)
            return value
    except (TypeError, OverflowError):
        pass
    return [finite(x, f"{name}[{i}]", where) for i, x in enumerate(value)]  # finds and names the bad one


_PLAIN_NUMBERS = (int, float)


def window(value: Any, name: str, where: str) -> list[float]:
    """``[start, end]`` or ``[start, end, score]`` -> ``[start, end, score]`` (score 0 when absent)."""
    fast = _plain_window(value)
    return fast if fast is not None else _checked_window(value, name, where)


def _plain_window(value: Any) -> list[float] | None:
    """The common, valid case without building any message; None when anything is off."""
    if type(value) is list and len(value) in (2, 3) and all(type(x) in _PLAIN_NUMBERS for x in value):
        try:
            start, end = float(value[0]), float(value[1])
            score = float(value[2]) if len(value) == 3 else 0.0
        except OverflowError:
            return None
        if 0.0 <= start <= end and math.isfinite(end) and math.isfinite(score):
            return [start, end, score]
    return None


def _checked_window(value: Any, name: str, where: str) -> list[float]:
    """:func:`window`'s slow path: finds what is wrong and names it."""
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise _fail(where, name, f"{short(value)} is not [start, end] or [start, end, score]")
    start, end = finite(value[0], f"{name} start", where), finite(value[1], f"{name} end", where)
    score = finite(value[2], f"{name} score", where) if len(value) == 3 else 0.0
    if start < 0:
        raise _fail(where, name, f"{short(value)} starts before 0")
    if end < start:
        raise _fail(where, name, f"{short(value)} ends before it starts")
    return [start, end, score]


def check_prediction(d: Any, where: str) -> dict[str, Any]:
    """A validated copy of one record (windows as ``[start, end, score]`` floats); a
    :class:`~vtg.errors.DataError` naming ``where`` (``file:line``) and the field otherwise."""
    if not isinstance(d, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(d).__name__}")
    out = dict(d)
    status = d.get("status")
    if status is not None and status not in ("ok", "error"):
        raise _fail(where, "status", f"{short(status)} is neither 'ok' nor 'error'")
    qid = d.get("qid")
    if qid is not None and (isinstance(qid, bool) or not isinstance(qid, (str, int))):
        raise _fail(where, "qid", f"{short(qid)} is not a string or an integer")
    for name in STRING_FIELDS:
        if d.get(name) is not None and not isinstance(d[name], str):
            raise _fail(where, name, f"must be a string, got {type(d[name]).__name__}")
    if status == "error":
        return out
    if d.get("duration") is not None:
        duration = finite(d["duration"], "duration", where)
        if duration < 0:
            raise _fail(where, "duration", f"{short(d['duration'])} is a negative length")
        out["duration"] = duration
    windows = d.get("pred_relevant_windows")
    if windows is not None:
        if not isinstance(windows, list):
            raise _fail(where, "pred_relevant_windows", f"must be a list, got {type(windows).__name__}")
        out["pred_relevant_windows"] = [_plain_window(w) or window(w, f"pred_relevant_windows[{i}]", where)
                                        for i, w in enumerate(windows)]
    for name in NUMBER_LISTS:
        if d.get(name) is not None:
            out[name] = number_list(d[name], name, where)
    has_times, has_scores = d.get("saliency_times") is not None, d.get("saliency_scores") is not None
    if has_times != has_scores:
        raise _fail(where, "saliency_times" if has_scores else "saliency_scores",
                    "missing (saliency_times and saliency_scores come together)")
    if has_times and len(out["saliency_times"]) != len(out["saliency_scores"]):
        raise _fail(where, "saliency_scores", f"{len(out['saliency_scores'])} scores for "
                    f"{len(out['saliency_times'])} saliency_times")
    if d.get("meta") is not None and not isinstance(d["meta"], dict):
        raise _fail(where, "meta", f"must be an object, got {type(d['meta']).__name__}")
    return out


__all__ = ["check_prediction", "finite", "number_list", "window"]

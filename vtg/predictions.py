"""The one validator of grounding records read from a file (predictions, batch journals, results).

``vtg eval``, ``vtg export``, ``vtg report``, ``vtg plot`` and ``vtg batch``'s resume all read
records that a user (or another tool, or a damaged disk) may have written. Each record goes
through :func:`check_prediction` before anything uses it, so a ``duration`` of ``Infinity``, a
list where the method name belongs or a window ending before it starts is one line naming the
file, the line and the field, never a ``TypeError`` deep inside a plot.

The fields and their kinds (type and range: ids, strings, seconds >= 0, windows with
``0 <= start <= end``, lists of finite numbers, objects, ``ok``/``error``) are declared once in
:mod:`vtg.record`; this module holds the check of each kind (:data:`KIND_CHECKS`), which the
server's response model (:mod:`vtg.serve.models`) applies too. Fields absent or null keep their
defaults: QVHighlights' own prediction files carry only ``qid``, ``query``, ``vid``,
``pred_relevant_windows`` and ``pred_saliency_scores``; a ``duration`` of 0 means unknown, as
``vtg parse`` writes for answers without one.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from vtg import record
from vtg.errors import DataError


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


def _status(value: Any, name: str, where: str) -> str:
    if value not in ("ok", "error"):
        raise _fail(where, name, f"{short(value)} is neither 'ok' nor 'error'")
    return value


def _id(value: Any, name: str, where: str) -> str | int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _fail(where, name, f"{short(value)} is not a string or an integer")
    return value


def _string(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, name, f"must be a string, got {type(value).__name__}")
    return value


def _seconds(value: Any, name: str, where: str) -> float:
    seconds = finite(value, name, where)
    if seconds < 0:
        raise _fail(where, name, f"{short(value)} is a negative length")
    return seconds


def _windows(value: Any, name: str, where: str) -> list[list[float]]:
    if not isinstance(value, list):
        raise _fail(where, name, f"must be a list, got {type(value).__name__}")
    return [_plain_window(w) or window(w, f"{name}[{i}]", where) for i, w in enumerate(value)]


def _object(value: Any, name: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise _fail(where, name, f"must be an object, got {type(value).__name__}")
    return value


#: The check of each kind of :mod:`vtg.record`: the value as stored, or a DataError naming the field.
KIND_CHECKS: dict[str, Callable[[Any, str, str], Any]] = {
    record.ID: _id, record.STRING: _string, record.SECONDS: _seconds, record.WINDOWS: _windows,
    record.NUMBERS: number_list, record.OBJECT: _object, record.STATUS: _status}


def check_field(field: record.RecordField, value: Any, where: str) -> Any:
    """One field's value checked by its kind (windows come back as ``[start, end, score]``)."""
    return KIND_CHECKS[field.kind](value, field.name, where)


def check_pairs(d: dict[str, Any], where: str) -> None:
    """Fields of :data:`vtg.record.PAIRED` come together, with as many values each."""
    for first, second in record.PAIRED:
        has_first, has_second = d.get(first) is not None, d.get(second) is not None
        if has_first != has_second:
            raise _fail(where, first if has_second else second, f"missing ({first} and {second} come together)")
        if has_first and len(d[first]) != len(d[second]):
            raise _fail(where, second, f"{len(d[second])} values for {len(d[first])} {first}")


def check_prediction(d: Any, where: str) -> dict[str, Any]:
    """A validated copy of one record, field by field as :mod:`vtg.record` declares them
    (windows as ``[start, end, score]`` floats); a :class:`~vtg.errors.DataError` naming
    ``where`` (``file:line``) and the field otherwise. Error records (``status: error``) have
    only their ids and strings checked."""
    if not isinstance(d, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(d).__name__}")
    out = dict(d)
    error = d.get("status") == "error"
    for field in record.FIELDS:
        value = d.get(field.name)
        if value is not None and (not error or field.kind in record.CHECKED_IN_ERRORS):
            out[field.name] = check_field(field, value, where)
    if not error:
        check_pairs(out, where)
    return out


def read_groundings(path: Any) -> list:
    """Every successful result of a ``vtg ground --json`` file, a JSON list or a Grounding JSONL
    (a ``vtg batch`` journal), validated record by record; error records are left out. The one
    reader behind ``vtg export``, ``vtg report`` and ``vtg plot``."""
    from vtg.eval.loaders import read_predictions
    from vtg.types import Grounding

    return [Grounding.from_dict(r) for r in read_predictions(path).records]


__all__ = ["KIND_CHECKS", "check_field", "check_pairs", "check_prediction", "finite", "number_list", "read_groundings",
           "window"]

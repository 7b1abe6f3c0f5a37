"""The grounding record's schema, declared once: every field of the JSON form of a
:class:`~vtg.types.Grounding`, with its kind (type and range) and how the writer fills it.

Three parts of vtg read or write that record, and each derives its view from :data:`FIELDS`
instead of keeping its own list: ``Grounding.to_dict`` writes the fields that have a ``write``,
in this order; :func:`vtg.predictions.check_prediction` validates every field by its kind (the
checks of each kind live there); the server's pydantic response model
(:mod:`vtg.serve.models`) is built from the same fields with the same checks. A field added here
is written, validated and served with no other edit (a test adds one and looks at all three).

The form is a superset of the QVHighlights prediction format (``qid``, ``query``, ``vid``,
``pred_relevant_windows``, ``pred_saliency_scores``), so the community's evaluation scripts read
vtg output unchanged. Every field may be absent or null in a record read from a file (plain
QVHighlights predictions carry only those five).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

# -- kinds: the type and range of a field's value (checked by vtg.predictions.KIND_CHECKS) --------
#: a string or an integer (not a boolean)
ID = "id"
#: a string
STRING = "string"
#: a finite number >= 0 (0: unknown)
SECONDS = "seconds"
#: a list of ``[start, end]`` / ``[start, end, score]`` of finite numbers, ``0 <= start <= end``
WINDOWS = "windows"
#: a list of finite numbers
NUMBERS = "numbers"
#: a JSON object
OBJECT = "object"
#: ``"ok"`` or ``"error"``; an error record's other fields (beyond ids and strings) are not checked
STATUS = "status"
KINDS = (ID, STRING, SECONDS, WINDOWS, NUMBERS, OBJECT, STATUS)
#: Kinds checked in error records too (the journal matches them by qid and shows their text).
CHECKED_IN_ERRORS = frozenset({ID, STRING, STATUS})


def rounded(x: float) -> float:
    """Floats as written: 4 decimals keep files small and diffs readable."""
    return float(round(float(x), 4))


@dataclass(frozen=True)
class RecordField:
    """One field: its ``name`` in the JSON form, its ``kind`` (above), what it means, and
    ``write``: how ``Grounding.to_dict`` computes it from a Grounding (None: not written there,
    e.g. ``status``, which ``vtg batch`` adds)."""

    name: str
    kind: str
    doc: str
    write: Callable[[Any], Any] | None = None


def _clip_scores(g: Any) -> list[float]:
    # No curve (an answer read by `vtg parse`) writes none: zeros for every 2-s clip of a declared
    # duration would make the output grow with a number, not with the result.
    if g.duration > 0 and len(g.saliency):
        return [rounded(s) for s in g.saliency.on_clips(g.duration)]
    return []


FIELDS: tuple[RecordField, ...] = (
    RecordField("qid", ID, "the query's id (batch: the input line's qid or line<N>-<hash>)", lambda g: g.qid),
    RecordField("query", STRING, "the query text, or <image NAME> for an image query", lambda g: g.query),
    RecordField("vid", STRING, "video id: the file name without its extension", lambda g: g.vid),
    RecordField("video", STRING, "the video's path as given", lambda g: g.video),
    RecordField("duration", SECONDS, "the video's duration in seconds (0: unknown)", lambda g: rounded(g.duration)),
    RecordField("method", STRING, "the method that produced it", lambda g: g.method),
    RecordField("pred_relevant_windows", WINDOWS, "moments, best first: [start, end, score] in seconds",
                lambda g: [m.to_list() for m in g.moments]),
    RecordField("pred_saliency_scores", NUMBERS, "saliency per 2-s clip (QVHighlights' form)", _clip_scores),
    RecordField("saliency_times", NUMBERS, "the sampled times of the saliency curve, seconds",
                lambda g: [rounded(t) for t in g.saliency.times]),
    RecordField("saliency_scores", NUMBERS, "the saliency curve: one score per sampled time",
                lambda g: [rounded(s) for s in g.saliency.scores]),
    RecordField("meta", OBJECT, "method-specific details (encoder, sampling, raw LLM answers...)", lambda g: g.meta),
    RecordField("status", STATUS, "ok or error (vtg batch output)"),
)

#: Fields that come together or not at all, and hold lists of equal length.
PAIRED: tuple[tuple[str, str], ...] = (("saliency_times", "saliency_scores"),)


def field_names() -> list[str]:
    return [f.name for f in FIELDS]


def write_record(grounding: Any) -> dict[str, Any]:
    """The JSON form of ``grounding``: every field with a ``write``, in declaration order."""
    return {f.name: f.write(grounding) for f in FIELDS if f.write is not None}


__all__ = ["FIELDS", "KINDS", "PAIRED", "RecordField", "field_names", "rounded", "write_record"]

"""Defensive parsing of LLM answers into a :class:`Decomposition`.

Chat models wrap JSON in prose, Markdown fences or ``<think>`` blocks, use smart quotes, leave
trailing commas, write Python dicts, or invent keys. :func:`extract_json` finds the first JSON
object in such text; :func:`from_object` validates and normalises it (our format or the
reference's ``query_json`` format). Both raise :class:`AnswerError` for an unusable answer; the
backends then retry and finally fall back to the whole query, so no answer can crash a run.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
from typing import Any

from vtg.llm.types import Decomposition, SubEvent

MAX_SUB_EVENTS = 8
MAX_DESCRIPTIONS = 8
MAX_CHARS = 300
MAX_ANSWER = 200_000
MAX_CANDIDATES = 100  # opening braces tried per answer
MAX_LITERAL = 20_000  # longest Python dict literal looked for
_THINK_OPEN = re.compile(r"<think>", re.I)
_THINK_CLOSE = re.compile(r"</think>", re.I)

_RELATIONSHIP_WORDS = {
    "single-query": ("single", "one event", "one query", "none"),
    "simultaneously": ("simultan", "same time", "parallel", "concurrent", "together", "while", "during"),
    "sequentially": ("sequen", "order", "then", "after", "before", "consecutive", "successive", "one after"),
}


_KNOWN_KEYS = ("relationship", "relation", "temporal_relationship", "rewrites", "paraphrases", "rewritten_queries",
               "sub_events", "sub-events", "subevents", "events", "query_json")


class AnswerError(ValueError):
    """An LLM answer that holds no usable decomposition (the backend retries, then falls back)."""


def json_objects(text: str):
    """Every JSON object that starts at a ``{`` in ``text``, in order (tolerating fences, prose,
    ``<think>`` blocks, smart quotes, trailing commas and Python dict literals).

    Linear in the answer's length: at most :data:`MAX_CANDIDATES` opening braces are tried, the
    trailing-comma repair runs once over the whole answer, and a hostile answer (``{`` repeated
    100k times, 5,000-digit numbers, deep nesting, unclosed ``<think>``) costs milliseconds.
    """
    if not isinstance(text, str) or not text.strip():
        return
    text = _drop_think(text[:MAX_ANSWER])
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'").replace("\u2018", "'")
    repaired = _repair(text)  # removes only ",<space>" before a closer: the k-th "{" stays the k-th
    decoder = json.JSONDecoder()
    starts = zip(_brace_positions(text), _brace_positions(repaired))
    for start, fixed in itertools.islice(starts, MAX_CANDIDATES):
        found = None
        for candidate, at in ((text, start), (repaired, fixed)):
            try:
                obj, _ = decoder.raw_decode(candidate, at)
            except (ValueError, RecursionError):  # ValueError: also ints past Python's digit limit
                continue
            if isinstance(obj, dict):
                found = obj
                break
        if found is None:
            found = _python_literal(text[start:start + MAX_LITERAL])
        if found is not None:
            yield found


def _brace_positions(text: str):
    return (m.start() for m in re.finditer(r"\{", text))


def _drop_think(text: str) -> str:
    """``text`` without ``<think>...</think>`` blocks, in one pass (a non-greedy regex over many
    unclosed ``<think>`` tags is quadratic)."""
    out, pos = [], 0
    while True:
        opening = _THINK_OPEN.search(text, pos)
        closing = _THINK_CLOSE.search(text, opening.end()) if opening else None
        if opening is None or closing is None:
            break
        out.append(text[pos:opening.start()] + " ")
        pos = closing.end()
    out.append(text[pos:])
    return "".join(out)


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``; :class:`AnswerError` if there is none."""
    for obj in json_objects(text):
        return obj
    raise AnswerError("empty answer" if not isinstance(text, str) or not text.strip() else "no JSON object in the answer")


def _repair(text: str) -> str:
    """Drop trailing commas before a closing bracket (a frequent LLM slip)."""
    return re.sub(r",\s*([}\]])", r"\1", text)


def _python_literal(text: str) -> dict | None:
    """A Python dict literal (single quotes) at the start of ``text``, found by brace matching."""
    depth = 0
    for brace in re.finditer(r"[{}]", text[:MAX_LITERAL]):
        depth += 1 if brace.group() == "{" else -1
        if depth > 100:  # deeper than any decomposition (and than Python's parser allows)
            return None
        if depth == 0:
            try:
                obj = ast.literal_eval(text[:brace.end()])
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
            return obj if isinstance(obj, dict) else None
    return None


def parse_answer(text: str, query: str, backend: str) -> Decomposition:
    """Decomposition from a raw LLM answer; raises :class:`AnswerError` if unusable."""
    problem = None
    for obj in json_objects(text):
        try:
            decomposition = from_object(obj, query, backend)
            break
        except AnswerError as exc:
            problem = problem or exc
    else:
        raise problem or AnswerError("empty answer" if not str(text or "").strip() else "no JSON object in the answer")
    return Decomposition(decomposition.query, decomposition.relationship, decomposition.sub_events,
                         decomposition.rewrites, backend, None, text)


def from_object(obj: Any, query: str, backend: str) -> Decomposition:
    """Validate a parsed answer (our keys, or the reference's ``query_json``) into a Decomposition."""
    if not isinstance(obj, dict):
        raise AnswerError("the answer is not a JSON object")
    if not any(k in obj for k in _KNOWN_KEYS):
        raise AnswerError("the JSON object has none of the keys relationship, rewrites, sub_events")
    rewrites = _texts(_first(obj, "rewrites", "paraphrases", "rewritten_queries"))
    subs_raw = _first(obj, "sub_events", "sub-events", "subevents", "events")
    if subs_raw is None and isinstance(obj.get("query_json"), list):
        subs_raw, extra = _split_query_json(obj["query_json"])
        rewrites = rewrites or extra
    subs = [SubEvent(tuple(d)) for d in (_texts(_descriptions(s)) for s in _as_list(subs_raw)) if d]
    subs = subs[:MAX_SUB_EVENTS]
    relationship = normalise_relationship(_first(obj, "relationship", "relation", "temporal_relationship"))
    if relationship is None:
        if len(subs) >= 2:
            raise AnswerError("the relationship between sub-events is missing or not one of "
                              "single-query, simultaneously, sequentially")
        relationship = "single-query"
    if relationship == "single-query" and len(subs) == 1 and not rewrites:
        rewrites = list(subs[0].descriptions)
    if relationship != "single-query" and not subs:
        relationship = "single-query"
    return Decomposition(query=query, relationship=relationship, sub_events=tuple(subs),
                         rewrites=tuple(rewrites), backend=backend)


def normalise_relationship(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip().lower().replace("_", "-")
    if text in ("single-query", "simultaneously", "sequentially"):
        return text
    for name, words in _RELATIONSHIP_WORDS.items():
        if any(w in text for w in words):
            return name
    return None


def _split_query_json(entries: list) -> tuple[list, list[str]]:
    """Reference layout: ``sub_query_id`` 0 holds rewrites, the others are sub-events (by id)."""
    subs, rewrites = [], []
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        ident = entry.get("sub_query_id", position + 1)
        try:
            ident = int(ident)
        except (TypeError, ValueError):
            ident = position + 1
        if ident == 0:
            rewrites.extend(_texts(entry.get("descriptions")))
        else:
            subs.append((ident, position, entry))
    subs.sort(key=lambda t: (t[0], t[1]))
    return [e for _, _, e in subs], rewrites


def _first(obj: dict, *keys: str) -> Any:
    for key in keys:
        if key in obj:
            return obj[key]
    return None


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _descriptions(entry: Any) -> Any:
    if isinstance(entry, dict):
        return _first(entry, "descriptions", "description", "texts", "text", "query")
    return entry


def _texts(value: Any) -> list[str]:
    """Non-empty strings (a single string becomes a list), trimmed and capped."""
    items = [value] if isinstance(value, str) else (value if isinstance(value, list) else [])
    out = [" ".join(v.split())[:MAX_CHARS] for v in items if isinstance(v, str) and v.strip()]
    return out[:MAX_DESCRIPTIONS]

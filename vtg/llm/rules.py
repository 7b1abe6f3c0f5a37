"""Deterministic, offline decomposition of queries with explicit temporal connectives.

No model: a query is split at "then / and then / followed by / afterwards" (sequential, in word
order), "X after Y" (sequential, Y first), "X before Y" (sequential, X first) or "X while Y"
(simultaneous). A part that starts with a verb inherits the subject of the first part ("person
opens the door then walks out" -> "person walks out"). Anything else is left whole, which makes
the TFVTG result identical to running without an LLM. No rewrites are invented.
"""

from __future__ import annotations

import re

from vtg.llm.types import Decomposition, SubEvent

_SEQUENTIAL = r"\b(?:and\s+then|,\s*then|then|followed\s+by|and\s+afterwards|afterwards|after\s+that|and\s+later)\b"
_AFTER = r"\b(?:after|once)\b"
_BEFORE = r"\bbefore\b"
_WHILE = r"\b(?:while|whilst)\b"
_SUBJECT_START = {
    "a", "an", "the", "this", "that", "these", "those", "some", "another", "person", "people", "someone",
    "somebody", "he", "she", "they", "it", "we", "i", "you", "his", "her", "their", "its", "man", "woman",
    "boy", "girl", "men", "women", "child", "kid", "kids", "children", "one", "two", "three", "everyone",
}
_DETERMINERS = {"a", "an", "the", "this", "that", "some", "another", "one", "two", "three"}


def _clean(part: str) -> str:
    part = part.strip(" \t\n,;:.")
    return " ".join(part.split())


def _subject(first: str) -> str:
    words = first.split()
    if not words:
        return ""
    if words[0].lower() in _DETERMINERS and len(words) > 1:
        return " ".join(words[:2])
    return words[0] if words[0].lower() in _SUBJECT_START else ""


def _with_subject(part: str, subject: str) -> str:
    first = part.split()[0].lower() if part.split() else ""
    if not subject or first in _SUBJECT_START:
        return part
    return f"{subject} {part}"


def _split(query: str, pattern: str, limit: int = 0) -> list[str]:
    parts = [_clean(p) for p in re.split(pattern, query, maxsplit=limit, flags=re.I)]
    return parts if len(parts) > 1 and all(parts) else []


def _leading(text: str, words: str) -> list[str]:
    """``"After X, Y"`` -> ``[X, Y]`` for a sentence that opens with one of ``words``."""
    m = re.match(rf"(?i)^(?:{words})\s+(.+?),\s*(.+)$", text)
    return [_clean(m.group(1)), _clean(m.group(2))] if m and _clean(m.group(1)) and _clean(m.group(2)) else []


def split_query(query: str) -> tuple[str, list[str]]:
    """``(relationship, parts in temporal order)``; ``("single-query", [])`` when nothing splits."""
    text = " ".join(query.split())
    relationship = "sequentially"
    parts = _split(text, _SEQUENTIAL)
    if not parts:
        parts = _leading(text, "after|once") or _split(text, _AFTER, 1)[::-1]
    if not parts:
        parts = _leading(text, "before")[::-1] or _split(text, _BEFORE, 1)
    if not parts:
        relationship = "simultaneously"
        parts = _leading(text, "while|whilst") or _split(text, _WHILE, 1)
    if not parts:
        return "single-query", []
    subject = next((_subject(p) for p in parts if _subject(p)), "")
    return relationship, [_with_subject(p, subject) for p in parts]


class RulesBackend:
    """``--llm rules`` (the default): connective-based splitting, no network, no model."""

    name = "rules"

    def decompose(self, query: str, video_id: str | None = None) -> Decomposition:
        relationship, parts = split_query(query)
        return Decomposition(query=query, relationship=relationship,
                             sub_events=tuple(SubEvent((p,)) for p in parts), backend=self.name)


class NoneBackend:
    """``--llm none``: never decompose (the reference's evaluation without an LLM)."""

    name = "none"

    def decompose(self, query: str, video_id: str | None = None) -> Decomposition:
        return Decomposition.whole(query, self.name)

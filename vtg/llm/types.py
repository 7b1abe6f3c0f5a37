"""What an LLM decomposition of a query is: sub-events, how they relate in time, and rewrites.

TFVTG (Zheng et al., ECCV 2024, Sec. 3.2) asks an LLM to split a query into simple sub-events,
each with several descriptions, to say whether they happen ``simultaneously`` or
``sequentially`` (in the listed order), and to paraphrase the whole query. A query that is one
simple event is ``single-query`` and has no sub-events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RELATIONSHIPS = ("single-query", "simultaneously", "sequentially")


@dataclass(frozen=True)
class SubEvent:
    """One simple event, described in one or more ways."""

    descriptions: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "descriptions", tuple(self.descriptions))
        if not self.descriptions:
            raise ValueError("a sub-event needs at least one description")


@dataclass(frozen=True)
class Decomposition:
    """A query split into sub-events (in temporal order) plus rewrites of the whole query.

    Invariants: ``relationship`` is one of :data:`RELATIONSHIPS`; ``single-query`` has no
    sub-events and a decomposition without sub-events is ``single-query``. ``warning`` says why a
    backend fell back to the whole query; ``raw`` keeps the LLM's last answer for inspection.
    """

    query: str
    relationship: str = "single-query"
    sub_events: tuple[SubEvent, ...] = ()
    rewrites: tuple[str, ...] = ()
    backend: str = "rules"
    warning: str | None = None
    raw: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.relationship not in RELATIONSHIPS:
            raise ValueError(f"relationship must be one of {RELATIONSHIPS}, got {self.relationship!r}")
        subs = tuple(s if isinstance(s, SubEvent) else SubEvent(tuple(s)) for s in self.sub_events)
        if self.relationship == "single-query":
            subs = ()
        object.__setattr__(self, "sub_events", subs)
        object.__setattr__(self, "rewrites", tuple(self.rewrites))
        if not subs:
            object.__setattr__(self, "relationship", "single-query")

    @classmethod
    def whole(cls, query: str, backend: str, warning: str | None = None, raw: str | None = None) -> "Decomposition":
        """The undecomposed query: what every backend falls back to."""
        return cls(query=query, backend=backend, warning=warning, raw=raw)

    @property
    def descriptions(self) -> tuple[str, ...]:
        """The whole query's descriptions: the query itself, then its rewrites."""
        return (self.query, *self.rewrites)

    @property
    def trivial(self) -> bool:
        """Nothing beyond the query itself (no rewrites, no sub-events)."""
        return not self.rewrites and not self.sub_events

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "backend": self.backend,
            "relationship": self.relationship,
            "sub_events": [list(s.descriptions) for s in self.sub_events],
            "rewrites": list(self.rewrites),
        }
        if self.warning:
            out["warning"] = self.warning
        return out

"""One query of a benchmark file, before validation (:mod:`vtg.eval.loaders` checks windows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Annotation:
    """A query of a shipped benchmark file: where it came from (``where`` = ``file:line`` or
    ``file: video 'vid'``, for error messages), and its fields in seconds."""

    qid: Any
    vid: str
    query: str
    windows: list[list[float]]
    duration: float
    where: str
    line: int

    def as_record(self) -> dict[str, Any]:
        """The QVHighlights-style fields the ground-truth loader validates."""
        return {"qid": self.qid, "query": self.query, "vid": self.vid, "duration": self.duration,
                "relevant_windows": self.windows}

"""Core result types shared by every method, writer, exporter and evaluator.

Times are always float seconds. ``Grounding.to_dict`` writes the record declared in
:mod:`vtg.record`, a superset of the QVHighlights prediction format (``qid``, ``query``, ``vid``,
``pred_relevant_windows``, ``pred_saliency_scores``) so the community's evaluation scripts read
vtg output unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vtg.errors import EmptyQueryError, ModelError, UsageError
from vtg.record import rounded, write_record


@dataclass(frozen=True)
class Moment:
    """One ranked interval ``[start, end]`` in seconds with a confidence ``score``."""

    start: float
    end: float
    score: float = 1.0

    def __post_init__(self) -> None:
        for name in ("start", "end", "score"):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(float(v)):
                raise ValueError(f"Moment.{name} must be a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if self.end < self.start:
            raise ValueError(f"Moment end {self.end} is before start {self.start}")

    @property
    def duration(self) -> float:
        return self.end - self.start

    def iou(self, other: "Moment | Sequence[float]") -> float:
        """Temporal intersection over union with another moment or ``(start, end)`` pair."""
        s2, e2 = (other.start, other.end) if isinstance(other, Moment) else (other[0], other[1])
        inter = max(0.0, min(self.end, e2) - max(self.start, s2))
        union = max(self.end, e2) - min(self.start, s2)
        return inter / union if union > 0 else 0.0

    def to_list(self) -> list[float]:
        return [rounded(self.start), rounded(self.end), rounded(self.score)]


@dataclass(frozen=True)
class Saliency:
    """One relevance score per sampled time; ``times`` and ``scores`` have equal length."""

    times: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        t = np.asarray(self.times, dtype=np.float64).reshape(-1)
        s = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if t.shape != s.shape:
            raise ValueError(f"Saliency times ({t.size}) and scores ({s.size}) differ in length")
        t.setflags(write=False)
        s.setflags(write=False)
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "scores", s)

    def __len__(self) -> int:
        return int(self.times.size)

    @classmethod
    def empty(cls) -> "Saliency":
        return cls(np.zeros(0), np.zeros(0))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Saliency)
            and np.array_equal(self.times, other.times)
            and np.array_equal(self.scores, other.scores)
        )

    __hash__ = None  # type: ignore[assignment]

    def on_clips(self, duration: float, clip_length: float = 2.0) -> np.ndarray:
        """Resample to fixed clips (QVHighlights uses 2 s): the mean score of samples in each clip.

        Clips with no sample take the score of the nearest sample, so every clip gets a value.
        """
        n = max(1, int(math.ceil(duration / clip_length - 1e-9)))
        if len(self) == 0:
            return np.zeros(n)
        idx = np.clip((self.times // clip_length).astype(int), 0, n - 1)
        sums = np.bincount(idx, weights=self.scores, minlength=n)
        counts = np.bincount(idx, minlength=n)
        out = np.empty(n)
        has = counts > 0
        out[has] = sums[has] / counts[has]
        if not has.all():
            centers = (np.arange(n) + 0.5) * clip_length
            nearest = np.abs(self.times[None, :] - centers[~has][:, None]).argmin(axis=1)
            out[~has] = self.scores[nearest]
        return out


@dataclass(frozen=True)
class Grounding:
    """The answer to one (video, query): ranked moments plus a saliency curve.

    ``meta`` holds method-specific details (encoder, sampling rate, raw LLM answers, ...); it must
    stay JSON-serialisable.
    """

    query: str
    video: str
    duration: float
    moments: tuple[Moment, ...]
    saliency: Saliency
    method: str
    meta: dict[str, Any] = field(default_factory=dict)
    qid: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "moments", tuple(self.moments))
        object.__setattr__(self, "video", str(self.video))
        object.__setattr__(self, "duration", float(self.duration))

    @property
    def vid(self) -> str:
        """Video id as QVHighlights spells it: the file name without extension."""
        return Path(self.video).stem

    def top(self, k: int) -> "Grounding":
        """A copy keeping only the ``k`` best moments."""
        return Grounding(self.query, self.video, self.duration, self.moments[:k], self.saliency,
                         self.method, dict(self.meta), self.qid)

    def check_finite(self) -> None:
        """Raise :class:`~vtg.errors.ModelError` when the duration or the saliency curve holds NaN or
        an infinity (a model with NaN weights, features of a damaged cache): such a result is not
        an answer, and JSON has no NaN, so it must never reach a file as ``NaN``."""
        bad = [name for name, values in (("duration", np.asarray([self.duration])),
                                         ("saliency times", self.saliency.times),
                                         ("saliency scores", self.saliency.scores))
               if values.size and not np.isfinite(values).all()]
        if bad:
            raise ModelError(f"method {self.method!r} produced non-finite {' and '.join(bad)} (NaN or infinity) "
                             f"for {self.vid!r}: the model's weights or the video's features hold NaN/inf")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the fields of the one record schema (:mod:`vtg.record`), a superset of
        the QVHighlights prediction format. Raises :class:`~vtg.errors.ModelError` for NaN/inf
        (see :meth:`check_finite`)."""
        self.check_finite()
        return write_record(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Grounding":
        """Inverse of :meth:`to_dict`; also reads plain QVHighlights predictions."""
        duration = float(d.get("duration") or 0.0)
        moments = tuple(Moment(*w[:3]) if len(w) >= 3 else Moment(w[0], w[1])
                        for w in d.get("pred_relevant_windows", []))
        if "saliency_times" in d:
            sal = Saliency(np.asarray(d["saliency_times"], float), np.asarray(d["saliency_scores"], float))
        elif d.get("pred_saliency_scores"):
            scores = np.asarray(d["pred_saliency_scores"], float)
            sal = Saliency(np.arange(scores.size) * 2.0 + 1.0, scores)
        else:
            sal = Saliency.empty()
        return cls(
            query=d.get("query", ""),
            video=d.get("video") or d.get("vid", ""),
            duration=duration,
            moments=moments,
            saliency=sal,
            method=d.get("method", "unknown"),
            meta=dict(d.get("meta") or {}),
            qid=d.get("qid"),
        )


def _valid_unicode(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD. Undecodable bytes in argv or a JSONL line
    arrive as surrogates; tokenizers (and UTF-8 output) refuse them, so they become U+FFFD here
    (bytes smuggled in by ``surrogateescape`` are decoded back first)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@dataclass(frozen=True)
class Query:
    """What to look for: a sentence, or an example image (query by example), or both."""

    text: str | None = None
    image: Path | None = None

    def __post_init__(self) -> None:
        text = _valid_unicode(self.text).strip() if isinstance(self.text, str) else None
        object.__setattr__(self, "text", text or None)
        if self.image is not None:
            object.__setattr__(self, "image", Path(self.image))
        if self.text is None and self.image is None:
            raise EmptyQueryError("the query is empty: give a sentence, or an example image with --image")

    @property
    def label(self) -> str:
        """Human-readable form stored in ``Grounding.query``."""
        name = self.image.name if self.image is not None else ""  # __post_init__ refuses neither
        return self.text if self.text is not None else f"<image {name}>"

    @classmethod
    def of(cls, query: object = None, image: str | Path | None = None) -> "Query":
        """A Query from what a caller passed: a sentence, a Query (returned as it is), or None with
        ``image``; anything else is refused with a :class:`UsageError` naming its type."""
        if isinstance(query, Query):
            return query
        if query is not None and not isinstance(query, str):
            raise UsageError(f"query must be a string, got {type(query).__name__}")
        return cls(text=query, image=Path(image) if image is not None else None)

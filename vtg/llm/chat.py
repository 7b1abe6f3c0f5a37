"""What chat-model backends share: ask, parse, retry with the problem explained, then fall back.

A backend only implements :meth:`ChatBackend.complete` (messages -> answer text). Whatever it
answers, :meth:`ChatBackend.decompose` returns a Decomposition: after ``retries`` unusable answers
it logs a warning and returns the whole query. Only a backend that cannot be used at all (server
unreachable on every attempt, model not installed) raises :class:`vtg.errors.LLMError` or
:class:`vtg.errors.WeightsNotFoundError`.

Every call of :meth:`ChatBackend.decompose` runs under one overall :class:`Deadline` (``deadline``
seconds, all attempts together): a server that never answers, or answers one byte a second, cannot
hold a run. When the deadline passes the backend falls back to the whole query with a warning,
like any other unusable answer.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from vtg.errors import LLMError, UsageError, VtgError
from vtg.llm import prompt
from vtg.llm.parse import AnswerError, parse_answer
from vtg.llm.types import Decomposition

log = logging.getLogger("vtg.llm")


class Unreachable(Exception):
    """The backend could not produce an answer this attempt (network, server error)."""


class TimedOut(Unreachable):
    """The overall deadline of the call passed before a complete answer arrived."""


class Deadline:
    """A point in time (monotonic clock) by which one decomposition must be done; ``None``: never."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.end = None if seconds is None else time.monotonic() + max(0.0, float(seconds))

    def remaining(self) -> float:
        """Seconds left (``inf`` without a deadline, 0.0 once it passed)."""
        return math.inf if self.end is None else max(0.0, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0


def check_deadline(seconds: float | None) -> float | None:
    """A valid overall deadline in seconds (positive and finite) or None; else a UsageError."""
    if seconds is None:
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"the LLM deadline must be a positive number of seconds, got {seconds!r}")
    return value


class ChatBackend:
    """Base class of LLM backends that answer chat messages."""

    name = "chat"

    def __init__(self, retries: int = 2, deadline: float | None = None):
        self.retries = max(0, int(retries))
        #: Overall seconds for one :meth:`decompose` call, all attempts together (None: no limit).
        self.deadline = check_deadline(deadline)
        self._calls = threading.local()

    def current_deadline(self) -> Deadline:
        """The deadline of the decomposition running in this thread (unlimited outside one)."""
        return getattr(getattr(self, "_calls", None), "deadline", None) or Deadline(None)

    def complete(self, messages: list[dict[str, str]], attempt: int) -> str:
        """The model's answer to ``messages``; ``attempt`` > 0 may sample instead of decoding greedily."""
        raise NotImplementedError

    def decompose(self, query: str, video_id: str | None = None) -> Decomposition:
        if getattr(self, "_calls", None) is None:  # a subclass that did not call __init__
            self._calls = threading.local()
        self._calls.deadline = Deadline(getattr(self, "deadline", None))
        try:
            return self._decompose(query)
        finally:
            self._calls.deadline = None

    def _decompose(self, query: str) -> Decomposition:
        messages = prompt.messages(query)
        problems: list[str] = []
        answer = None
        reached = timed_out = False
        deadline = self.current_deadline()
        for attempt in range(self.retries + 1):
            if deadline.expired:
                timed_out = True
                break
            try:
                answer = self.complete(messages, attempt)
            except TimedOut as exc:
                problems.append(str(exc))
                timed_out = True
                break
            except Unreachable as exc:
                problems.append(str(exc))
                continue
            except VtgError:
                raise
            except Exception as exc:  # a malformed reply, or a model that fails mid-generation
                reached = True
                problems.append(str(exc) if isinstance(exc, AnswerError) else f"{type(exc).__name__}: {exc}")
                continue
            reached = True
            try:
                return parse_answer(answer, query, self.name)
            except AnswerError as exc:
                problems.append(str(exc))
                messages = prompt.retry_messages(prompt.messages(query), answer, str(exc))
        if timed_out:
            within = f"within its {deadline.seconds:g} s deadline" if deadline.seconds is not None else "in time"
            warning = (f"LLM backend {self.name} gave no complete answer {within} "
                       f"({problems[-1] if problems else 'time ran out between attempts'}); using the whole query "
                       "(raise the deadline with -O llm_timeout=SECONDS or VTG_LLM_TIMEOUT)")
            log.warning(warning)
            return Decomposition.whole(query, self.name, warning=warning, raw=answer)
        if not reached:
            raise LLMError(f"LLM backend {self.name} gave no answer ({problems[-1] if problems else 'unknown error'}); "
                           "check that it is running, or use --llm rules")
        warning = (f"LLM backend {self.name} gave no usable decomposition after {len(problems)} attempt(s) "
                   f"({problems[-1]}); using the whole query")
        log.warning(warning)
        return Decomposition.whole(query, self.name, warning=warning, raw=answer)

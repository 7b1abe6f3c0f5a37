"""What chat-model backends share: ask, parse, retry with the problem explained, then fall back.

A backend only implements :meth:`ChatBackend.complete` (messages -> answer text). Whatever it
answers, :meth:`ChatBackend.decompose` returns a Decomposition: after ``retries`` unusable answers
it logs a warning and returns the whole query. Only a backend that cannot be used at all (server
unreachable on every attempt, model not installed) raises :class:`vtg.errors.LLMError` or
:class:`vtg.errors.WeightsNotFoundError`.
"""

from __future__ import annotations

import logging

from vtg.errors import LLMError, VtgError
from vtg.llm import prompt
from vtg.llm.parse import AnswerError, parse_answer
from vtg.llm.types import Decomposition

log = logging.getLogger("vtg.llm")


class Unreachable(Exception):
    """The backend could not produce an answer this attempt (network, server error)."""


class ChatBackend:
    """Base class of LLM backends that answer chat messages."""

    name = "chat"

    def __init__(self, retries: int = 2):
        self.retries = max(0, int(retries))

    def complete(self, messages: list[dict[str, str]], attempt: int) -> str:
        """The model's answer to ``messages``; ``attempt`` > 0 may sample instead of decoding greedily."""
        raise NotImplementedError

    def decompose(self, query: str, video_id: str | None = None) -> Decomposition:
        messages = prompt.messages(query)
        problems: list[str] = []
        answer = None
        reached = False
        for attempt in range(self.retries + 1):
            try:
                answer = self.complete(messages, attempt)
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
        if not reached:
            raise LLMError(f"LLM backend {self.name} gave no answer ({problems[-1] if problems else 'unknown error'}); "
                           "check that it is running, or use --llm rules")
        warning = (f"LLM backend {self.name} gave no usable decomposition after {len(problems)} attempt(s) "
                   f"({problems[-1]}); using the whole query")
        log.warning(warning)
        return Decomposition.whole(query, self.name, warning=warning, raw=answer)

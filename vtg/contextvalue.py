"""One value per thread (and asyncio task) for the length of a block.

How a :class:`vtg.session.Session` reaches the code under its calls without a module-level mutable:
its settings (:mod:`vtg.settings`) and its model manager (:mod:`vtg.engine`) are each held in a
:class:`contextvars.ContextVar`, bound here for a block and restored after it, so two sessions on
two threads each see their own.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def bound(var: "contextvars.ContextVar[T | None]", value: T) -> Iterator[T]:
    """``var`` holds ``value`` in this thread/task for the block, and what it held before after it."""
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)

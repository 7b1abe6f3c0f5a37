"""Admission to the costly work: ``size`` run at once, a short bounded queue, then 503.

Refusing the request past the last slot at once (the first policy) turned ordinary bursts into
errors: with two slots, four clients that do not retry saw 96% of their requests refused. A small
queue absorbs such bursts: up to ``queue`` requests wait, each at most ``wait`` seconds, for a
slot; past that the answer is 503 with a jittered ``Retry-After`` scaled to the work in front
(:func:`vtg.serve.errors.retry_after`), so a burst never becomes minutes of queued work and
refused clients do not all return in the same second.

Waiting happens in the event loop (an ``asyncio.Condition``), not in a worker thread, so waiting
requests hold no thread that video streaming or listing needs. The work itself runs in a daemon
thread (:func:`in_thread`): a computation still running when the server stops does not keep the
process alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from typing import Any, AsyncIterator, Callable, TypeVar

from vtg.serve.errors import Overloaded, retry_after

T = TypeVar("T")


class Admission:
    """``async with admission.slot(): ...``: a running slot, after a bounded wait, or Overloaded."""

    def __init__(self, size: int, queue: int, wait: float, what: str = "requests"):
        self.size, self.queue, self.wait, self.what = size, queue, wait, what
        self.busy = 0      # running now
        self.waiting = 0   # queued now
        self.mean_seconds = 1.0  # running average of how long one holds its slot
        self._freed: asyncio.Condition | None = None  # made in the server's loop on first use

    def expected_wait(self) -> float:
        """Seconds until the work in front of a newcomer (running and queued) has drained."""
        return (self.busy + self.waiting) / self.size * self.mean_seconds

    def _refuse(self, why: str) -> Overloaded:
        return Overloaded(f"the server is busy ({self.size} {self.what} running, {self.waiting} waiting; "
                          f"{why}); retry shortly", retry_after(self.expected_wait()))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._freed is None:
            self._freed = asyncio.Condition()
        if self.busy >= self.size or self.waiting:  # first come, first served
            if self.waiting >= self.queue:
                raise self._refuse("the queue is full" if self.queue else "no queue")
            self.waiting += 1
            try:
                async with self._freed:
                    await asyncio.wait_for(self._freed.wait_for(lambda: self.busy < self.size), self.wait)
            except asyncio.TimeoutError:
                raise self._refuse(f"waited {self.wait:g} s") from None
            finally:
                self.waiting -= 1
        self.busy += 1
        started = time.monotonic()
        try:
            yield
        finally:
            self.busy -= 1
            self.mean_seconds += 0.2 * (time.monotonic() - started - self.mean_seconds)
            async with self._freed:
                self._freed.notify_all()  # each waiter re-checks; a timed-out one cannot swallow the wake-up


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a new daemon thread, awaited: the loop stays free, and a computation that
    outlives the server (stopped past its grace period) does not hold the process open."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def deliver(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting request, which answers it
            outcome: tuple = (future.set_exception, exc)
        else:
            outcome = (future.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(deliver, *outcome)

    # in a copy of the request's context, so the thread sees the settings the request's task sees
    threading.Thread(target=contextvars.copy_context().run, args=(work,), name="vtg-serve-work", daemon=True).start()
    return await future

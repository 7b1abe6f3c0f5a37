"""Pipeline stages: run an iterator in its own thread behind a bounded queue.

Why threads: the heavy work of every indexing stage happens outside the interpreter lock (FFmpeg's
decoder and scaler in PyAV, torch's kernels), so a decoding thread, a preprocessing thread and the
encoding thread run at the same time on different cores, and the slowest stage sets the pace.
Why bounded: a fast producer blocks once ``depth`` items wait, so memory is ``depth`` items per
stage whatever the length of the video.

Errors raised by a stage come out of the consumer's ``next()`` in order (after the items produced
before them); closing the consumer early (``break``, an exception downstream) stops the producer
at its next ``put``, so no thread keeps decoding a video nobody reads.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from typing import Callable, Generator, Iterable, Iterator, TypeVar

T = TypeVar("T")
U = TypeVar("U")

_DONE = object()
_POLL = 0.1  # seconds between checks of the stop flag while a queue is full


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def threaded(source: Iterable[T], depth: int = 2, name: str = "vtg-stage") -> Generator[T, None, None]:
    """Iterate ``source`` in a daemon thread; yield its items through a queue of ``depth`` slots."""
    items: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        iterator = iter(source)
        try:
            for item in iterator:
                if not put(item):
                    break
            else:
                put(_DONE)
        except BaseException as err:  # handed to the consumer, raised there
            put(_Failure(err))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    # in a copy of the consumer's context: the stage reads the same session's settings (limits, decoder)
    worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), name=name, daemon=True)
    worker.start()
    return _drain(items, stop, worker)


def _drain(items: queue.Queue, stop: threading.Event, worker: threading.Thread) -> Generator:
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)  # it stops at its next put; a long item may outlive us (daemon)


def mapped(fn: Callable[[T], U], source: Iterable[T], depth: int = 2,
           name: str = "vtg-stage") -> Generator[U, None, None]:
    """``fn`` applied to each item of ``source`` in its own thread (a pipeline stage)."""

    def apply() -> Iterator[U]:
        try:
            for item in source:
                yield fn(item)
        finally:  # an upstream stage stops too when this one is closed early
            close = getattr(source, "close", None)
            if close is not None:
                close()

    return threaded(apply(), depth, name)

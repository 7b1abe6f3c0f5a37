"""Pipeline stages: order, bounded queues, errors in order, early close stops the producer."""

from __future__ import annotations

import threading

import pytest

from vtg import stages


def test_items_in_order_through_a_chain():
    out = list(stages.mapped(lambda x: x * 2, stages.threaded(range(100), depth=2), depth=3))
    assert out == [2 * i for i in range(100)]


def test_producer_stays_at_most_depth_ahead():
    produced = []
    ready = threading.Event()

    def source():
        for i in range(1000):
            produced.append(i)
            yield i

    it = stages.threaded(source(), depth=3)
    assert next(it) == 0
    ready.wait(0.3)  # give the producer time to run ahead as far as it can
    assert len(produced) <= 1 + 3 + 1  # the one taken, the queue, the one blocked in put
    it.close()


def test_error_comes_after_the_items_before_it():
    def source():
        yield 1
        yield 2
        raise ValueError("bad frame")

    got = []
    with pytest.raises(ValueError, match="bad frame"):
        for item in stages.mapped(lambda x: x, stages.threaded(source())):
            got.append(item)
    assert got == [1, 2]


def test_closing_early_stops_and_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            for i in range(10**9):
                yield i
        finally:
            closed.set()

    chain = stages.mapped(lambda x: x, stages.threaded(source(), depth=2), depth=2)
    assert next(chain) == 0
    chain.close()
    assert closed.wait(5)

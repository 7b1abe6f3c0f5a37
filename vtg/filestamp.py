"""Per-process memos of facts about a file (its probe, its content hash), keyed by its stat stamp.

A loop of ``vtg.ground`` calls on one video used to open the container and decode a frame for
every query (issue 22: the probe was over half the cost of a warm query with a small encoder).
What a probe or a content hash says depends only on the file's bytes, so it is remembered under
the file's *stamp*: device, inode, size, modification time and status-change time (both in
nanoseconds). Editing the file in place changes its size or mtime, replacing it (a rename over it,
``cp``) changes the inode, and even a write that restores the old mtime with ``touch -d`` moves
the ctime, which no user call can set back, so an edited file is always probed again.

File times come from the kernel's coarse clock (one tick, up to 10 ms), so two writes within one
tick can leave the same stamp. As git does with "racily clean" index entries, a value is only
remembered once the file's ctime is :data:`SETTLE_NS` in the past: a file still being written
is read again every time.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")

#: A file changed more recently than this (nanoseconds) is not remembered yet (see above).
SETTLE_NS = 1_000_000_000


def stamp(path: str | Path) -> tuple[int, int, int, int, int]:
    """``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` of ``path`` (follows symlinks)."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def settled(file_stamp: tuple[int, int, int, int, int]) -> bool:
    """Whether a change after this stamp would show in a later stamp (its ctime is old enough)."""
    return time.time_ns() - file_stamp[4] >= SETTLE_NS


class StampedMemo:
    """Values computed from a file, remembered per (stamp, extra key); least recently used dropped
    first. A failed computation stores nothing (the next call tries again)."""

    def __init__(self, capacity: int = 1024):
        self.capacity = int(capacity)
        self._values: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()
        #: How many times ``compute`` ran: tests count work with it.
        self.computed = 0

    def get(self, path: str | Path, extra: Hashable, compute: Callable[[], T]) -> T:
        """The value for ``path`` as it is now (its current stamp) and ``extra``, computed on a miss."""
        key = (stamp(path), extra)
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self.computed += 1
        if stamp(path) != key[0] or not settled(key[0]):  # changed while read, or may change unseen
            return value
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.capacity:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)

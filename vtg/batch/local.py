"""The local engine: every query on this machine, each video decoded and encoded once.

Lines are grouped by (method, options) so each model loads once, then by video so all queries
of a video run back to back on its cached features. The method's ``prepare(video)``
hook (decode + encode into the feature cache, itself a pipeline: :mod:`vtg.pipeline`) runs ahead
in a thread pool: ``workers`` videos are prepared at once plus one more, so even with one worker
the next video decodes while this one's last batches encode and its queries are grounded.
Decoding (PyAV) and encoding (torch) release the GIL, so threads overlap them without copying the
model into other processes. At most ``workers + 1`` videos are in flight, and results are handed
to ``sink`` in the main thread only, one at a time, in input order.
"""

from __future__ import annotations

import contextvars
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable

from vtg.batch.inputs import BatchItem
from vtg.batch.records import error_record, instantiate, method_spec, prepare_video, run_video

Sink = Callable[[dict[str, Any]], None]


def group_items(items: Iterable[BatchItem]) -> "OrderedDict[tuple[str, str], OrderedDict[Path, list[BatchItem]]]":
    """(method, options) -> video -> items, keeping first-seen order everywhere."""
    groups: OrderedDict = OrderedDict()
    for item in items:
        groups.setdefault(item.group, OrderedDict()).setdefault(item.video, []).append(item)
    return groups


def run_local(items: list[BatchItem], sink: Sink, *, workers: int = 1, top_k: int | None = None) -> None:
    for (name, _), videos in group_items(items).items():
        options = next(iter(videos.values()))[0].options
        try:
            method = instantiate(method_spec(name), options)
        except Exception as exc:  # unknown method/option, missing weights: every line of the group fails
            for video_items in videos.values():
                for item in video_items:
                    sink(error_record(item, exc))
            continue
        run_method(method, videos, sink, workers=workers, top_k=top_k)


def run_method(method: Any, videos: "OrderedDict[Path, list[BatchItem]]", sink: Sink, *,
               workers: int, top_k: int | None) -> None:
    """All videos of one loaded method, each prepared ahead by a pool of ``workers + 1`` threads."""
    ahead = max(1, workers) + 1
    order = iter(videos.items())
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="vtg-prepare") as pool:
        queued: deque[tuple[list[BatchItem], Future]] = deque()

        def submit() -> None:
            for video, video_items in order:
                # in a copy of this thread's context: the pool's threads run in the caller's session
                queued.append((video_items, pool.submit(contextvars.copy_context().run, prepare_video, method, video)))
                return

        try:
            for _ in range(ahead):
                submit()
            while queued:
                video_items, future = queued.popleft()
                failure = future.result()
                submit()
                for record in run_video(method, video_items, top_k, failure):
                    sink(record)
        finally:
            for _, future in queued:  # interrupted: do not decode videos nobody will use
                future.cancel()

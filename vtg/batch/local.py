"""The local engine: every query on this machine, each video decoded and encoded once.

Lines are grouped by (method, options) so each model loads once, then by video so all queries
of a video run back to back on its cached features. With ``workers > 1`` a thread pool calls the
method's ``prepare(video)`` hook (decode + encode into the feature cache) for the next
videos while the main thread grounds the queries of the current one: decoding (PyAV) and
encoding (torch) release the GIL, so threads overlap them without copying the model into other
processes. Results are handed to ``sink`` in the main thread only, one at a time.
"""

from __future__ import annotations

from collections import OrderedDict
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
    """All videos of one loaded method; prefetches ``prepare`` when asked for workers."""
    if workers <= 1:
        for video, video_items in videos.items():
            for record in run_video(method, video_items, top_k, prepare_video(method, video)):
                sink(record)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vtg-prepare") as pool:
        futures: dict[Path, Future] = {v: pool.submit(prepare_video, method, v) for v in videos}
        try:
            for video, video_items in videos.items():
                for record in run_video(method, video_items, top_k, futures.pop(video).result()):
                    sink(record)
        finally:
            for future in futures.values():  # interrupted: do not decode videos nobody will use
                future.cancel()

"""The Ray engine: the same batch spread over a Ray cluster, on warm actors.

``workers`` actors (:class:`GroundActor`) are started once; each loads a method the first time a
task needs it and keeps it for every later task, so models load once per actor, not per video.
A task is one *video* with all its queries (for one method and options), so a video is decoded
and encoded once, by one actor, whatever the cluster size. The driver keeps two tasks queued on
every actor and hands out the next as soon as one finishes (least-loaded first, in input order);
each actor runs two tasks at a time, so the next video decodes while this one encodes, as in the
local engine. With GPUs on the cluster each actor reserves ``num_gpus`` (1 by default) so every
GPU holds one resident model. Records come back to the driver as tasks finish and go to the same
:class:`~vtg.batch.journal.Journal` as the local engine's, so the output format and resume
semantics are identical.

Why plain actors rather than Ray Data's ``map_batches``: a streaming dataset adds planning,
block bookkeeping and an autoscaling actor pool around what is a queue of independent tasks;
on one small machine that overhead made the Ray engine slower than the local one (measured with
benchmarks/bench_batch.py, see docs/batch.md).

Remote workers import vtg afresh, so the driver resolves each method name to its class path
(``module:Class``) and the workers import exactly that.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from vtg.batch.inputs import BatchItem
from vtg.batch.local import group_items
from vtg.batch.ray_reaper import watch_cluster
from vtg.batch.records import error_record, method_spec
from vtg.errors import DependencyError
from vtg.session import Session
from vtg.settings import Settings, current_settings

Sink = Callable[[dict[str, Any]], None]


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise DependencyError("--engine ray", "ray[data]", extra="ray") from None
    return ray


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """Join the cluster at ``address``, or start a local one; True when this call started Ray.

    Ray's own Python log lines (INFO/WARNING from the driver, Ray Data's progress notes) stay
    off the terminal unless vtg runs with ``--debug``; workers' output is never forwarded to the
    driver. Ray still writes its session logs under its temp folder. Error lines of Ray's C++
    core worker still reach stderr: only ``RAY_BACKEND_LOG_LEVEL`` silences them, and setting it
    prints a line of its own and lowers every Ray process's file logs too.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    debug = ray_debug()
    settings = dict(include_dashboard=False, log_to_driver=False, logging_level="info" if debug else "error")
    if address:
        ray.init(address=address, **settings)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **settings)
    quiet_ray_data(debug)
    return True


def ray_debug() -> bool:
    """Whether Ray's logs should reach the terminal: vtg's ``--debug`` (``VTG_DEBUG``)."""
    return os.environ.get("VTG_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def quiet_ray_data(debug: bool) -> None:
    """Ray Data logs INFO lines (and a warning about progress bars) to the console; keep its
    console handlers at ERROR unless debugging. Its log file in the session folder is untouched."""
    import logging

    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.INFO if debug else logging.ERROR)


def item_to_dict(item: BatchItem) -> dict[str, Any]:
    return {"qid": item.qid, "line": item.line, "video": str(item.video), "text": item.text,
            "image": str(item.image) if item.image else None, "method": item.method, "options": item.options}


def item_from_dict(d: dict[str, Any]) -> BatchItem:
    return BatchItem(qid=d["qid"], line=d["line"], video=Path(d["video"]), text=d["text"],
                     image=Path(d["image"]) if d["image"] else None, method=d["method"], options=d["options"])


class GroundActor:
    """Holds loaded methods (one per method class and options) and grounds one video per task,
    in a session built from the driver's :class:`~vtg.settings.Settings` (pickled: every flag and
    variable the driver was given, ``--offline`` and ``--verify`` included). The cache folder is
    the one exception: a path of the driver's machine, so each worker keeps its own
    (``$VTG_CACHE_DIR`` where it runs), as before."""

    def __init__(self, top_k: int | None = None, settings: Settings | None = None):
        import threading

        self.top_k = top_k
        here = Settings.from_environment()
        self.session = Session(here if settings is None else settings.replace(cache_dir=here.cache_dir))
        self.methods: dict[str, Any] = {}
        self._lock = threading.Lock()  # two tasks run at once: load each method only once

    def method(self, spec: str, options: dict[str, Any]) -> Any:
        from vtg.batch.records import instantiate

        key = spec + json.dumps(options, sort_keys=True, default=str)
        with self._lock:
            if key not in self.methods:
                self.methods[key] = instantiate(spec, options)
            return self.methods[key]

    def run_task(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        """The records of one task, computed in this actor's session (in the calling thread only:
        Ray runs two tasks of an actor at once, on two threads)."""
        return self.session.run(self._run_task, task)

    def _run_task(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        from vtg.batch.records import prepare_video, run_video

        items = [item_from_dict(d) for d in task["items"]]
        try:
            method = self.method(task["spec"], task["options"])
        except Exception as exc:
            return [error_record(item, exc) for item in items]
        return list(run_video(method, items, self.top_k, prepare_video(method, Path(task["video"]))))


def build_tasks(items: list[BatchItem], sink: Sink) -> list[dict[str, Any]]:
    """One task per (method, options, video); lines whose method is unknown fail here."""
    tasks = []
    for (name, _), videos in group_items(items).items():
        try:
            spec = method_spec(name)
        except Exception as exc:
            for video_items in videos.values():
                for item in video_items:
                    sink(error_record(item, exc))
            continue
        for video, video_items in videos.items():
            tasks.append({"spec": spec, "options": video_items[0].options, "video": str(video),
                          "items": [item_to_dict(i) for i in video_items]})
    return tasks


#: Tasks queued on each actor: one running, one ready to start (and overlap) when it ends.
TASKS_PER_ACTOR = 2


def run_ray(items: list[BatchItem], sink: Sink, *, workers: int = 1, top_k: int | None = None,
            address: str | None = None, num_cpus: int | None = None, num_gpus: float | None = None,
            settings: Settings | None = None) -> None:
    """Run ``items`` on Ray; ``workers`` actors, each with ``num_gpus`` GPUs (default: 1 when the
    cluster has GPUs, else one CPU per actor), each running in a session of ``settings``
    (default: the current session's)."""
    ray = import_ray()
    tasks = build_tasks(items, sink)
    if not tasks:
        return
    started = connect(address, num_cpus)
    reaper = watch_cluster() if started and not address else None  # a local cluster dies with vtg
    try:
        if num_gpus is None:
            num_gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        resources = {"num_gpus": num_gpus} if num_gpus > 0 else {"num_cpus": 1}
        actor_class = ray.remote(max_concurrency=TASKS_PER_ACTOR, **resources)(GroundActor)
        settings = settings if settings is not None else current_settings()
        actors = [actor_class.remote(top_k, settings) for _ in range(max(1, min(workers, len(tasks))))]
        for records in dispatch(ray, actors, tasks):
            for record in records:
                sink(record)
    finally:
        if started:
            ray.shutdown()
        if reaper is not None:
            reaper.close()


def dispatch(ray: Any, actors: list, tasks: list[dict[str, Any]]):
    """Yield each task's records as it finishes; every actor keeps ``TASKS_PER_ACTOR`` queued."""
    from collections import deque

    waiting = deque(tasks)
    running: dict[Any, Any] = {}

    def submit(actor) -> None:
        if waiting:
            running[actor.run_task.remote(waiting.popleft())] = actor

    for _ in range(TASKS_PER_ACTOR):
        for actor in actors:
            submit(actor)
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        actor = running.pop(done[0])
        submit(actor)
        yield ray.get(done[0])

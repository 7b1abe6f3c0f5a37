"""The Ray engine: the same batch spread over a Ray cluster with Ray Data.

Each row of the dataset is one *video* with all its queries (for one method and options), so a
video is decoded and encoded once by one actor whatever the cluster size. Rows go through
``map_batches`` to a pool of actors (:class:`GroundActor`); each actor loads its model once and
keeps it for every row it gets; with GPUs on the cluster each actor reserves ``num_gpus`` (1 by
default) so every GPU holds one resident model. Records stream back to the driver
(``iter_rows``), which appends them to the same :class:`~vtg.batch.journal.Journal` as the local
engine, so the output format and resume semantics are identical.

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
from vtg.batch.records import error_record, method_spec
from vtg.errors import DependencyError

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
    """Holds loaded methods (one per method class and options) and grounds one video per row."""

    def __init__(self, top_k: int | None = None):
        self.top_k = top_k
        self.methods: dict[str, Any] = {}

    def method(self, spec: str, options: dict[str, Any]) -> Any:
        from vtg.batch.records import instantiate

        key = spec + json.dumps(options, sort_keys=True, default=str)
        if key not in self.methods:
            self.methods[key] = instantiate(spec, options)
        return self.methods[key]

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        records = []
        for task_json in batch["task"]:
            records.extend(json.dumps(r) for r in self.run_task(json.loads(task_json)))
        return {"record": np.array(records, dtype=object)}

    def run_task(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        from vtg.batch.records import prepare_video, run_video

        items = [item_from_dict(d) for d in task["items"]]
        try:
            method = self.method(task["spec"], task["options"])
        except Exception as exc:
            return [error_record(item, exc) for item in items]
        return list(run_video(method, items, self.top_k, prepare_video(method, Path(task["video"]))))


def build_tasks(items: list[BatchItem], sink: Sink) -> list[dict[str, str]]:
    """One dataset row per (method, options, video); lines whose method is unknown fail here."""
    rows = []
    for (name, _), videos in group_items(items).items():
        try:
            spec = method_spec(name)
        except Exception as exc:
            for video_items in videos.values():
                for item in video_items:
                    sink(error_record(item, exc))
            continue
        for video, video_items in videos.items():
            task = {"spec": spec, "options": video_items[0].options, "video": str(video),
                    "items": [item_to_dict(i) for i in video_items]}
            rows.append({"task": json.dumps(task)})
    return rows


def run_ray(items: list[BatchItem], sink: Sink, *, workers: int = 1, top_k: int | None = None,
            address: str | None = None, num_cpus: int | None = None, num_gpus: float | None = None) -> None:
    """Run ``items`` on Ray; ``workers`` actors, each with ``num_gpus`` GPUs (default: 1 when the
    cluster has GPUs, else one CPU per actor)."""
    ray = import_ray()
    rows = build_tasks(items, sink)
    if not rows:
        return
    started = connect(address, num_cpus)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        if num_gpus is None:
            num_gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        resources = {"num_gpus": num_gpus} if num_gpus > 0 else {"num_cpus": 1}
        ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), 200))
        ds = ds.map_batches(GroundActor, fn_constructor_kwargs={"top_k": top_k}, batch_size=1,
                            batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=max(1, workers)),
                            **resources)
        for row in ds.iter_rows():
            sink(json.loads(row["record"]))
    finally:
        if started:
            ray.shutdown()

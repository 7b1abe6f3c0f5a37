"""What one input line becomes in the output, shared by every engine so their output is identical.

* success: ``Grounding.to_dict()`` (the QVHighlights prediction superset) plus ``"status": "ok"``
  and the input ``line`` number;
* failure: ``{"qid", "line", "video", "query", "status": "error", "error": "<Type>: <reason>",
  "error_kind": "input" | "environment" | "internal"}`` (see vtg.batch.journal).

The runner's sink adds vtg's marker and the line's settings to both (vtg.batch.settings).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from vtg.api import ground
from vtg.batch.inputs import BatchItem
from vtg.batch.journal import error_kind
from vtg.errors import UsageError
from vtg.registry import method_class
from vtg.types import Query
from vtg.video.source import VideoSource

if TYPE_CHECKING:
    from vtg.video.source import VideoSource


def error_record(item: BatchItem, reason: str | BaseException) -> dict[str, Any]:
    kind = error_kind(reason)  # input / environment / internal: decides whether a resume reruns it
    if isinstance(reason, BaseException):
        reason = f"{type(reason).__name__}: {reason}"
    return {
        "qid": item.qid,
        "line": item.line,
        "video": str(item.video) if item.video is not None else None,
        "query": item.text if item.text is not None else (str(item.image) if item.image else None),
        "status": "error",
        "error": str(reason),
        "error_kind": kind,
    }


def ok_record(item: BatchItem, result: Any, top_k: int | None) -> dict[str, Any]:
    if top_k is not None:
        result = result.top(top_k)
    record = dataclasses.replace(result, qid=item.qid).to_dict()
    record["status"] = "ok"
    record["line"] = item.line
    json.dumps(record, allow_nan=False)  # fail here (-> error record), not in the journal
    return record


def method_spec(name: str) -> str:
    """``"module:Class"`` of a registered method, resolved on the driver so remote workers
    (which import vtg afresh) run exactly the class the driver would."""
    cls = method_class(name)
    return f"{cls.__module__}:{cls.__qualname__}"


def instantiate(spec: str, options: dict[str, Any]) -> Any:
    module_name, _, qualname = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj(**options)


def prepare_video(method: Any, video: Path) -> "VideoSource | Exception":
    """Check ``video`` once and run the method's ``prepare`` hook (decode + encode ahead of its queries).

    Returns the checked (and probed, when the hook probed) source that all the video's queries
    share, or the failure instead of raising, so a missing or corrupt video fails all its lines
    once, without being decoded again for each of its queries.
    """
    try:
        source = VideoSource.of(video)
        method.prepare(source, progress=False)
    except Exception as exc:
        return exc
    return source


def run_video(method: Any, items: list[BatchItem], top_k: int | None,
              prepared: "VideoSource | Exception") -> Iterator[dict[str, Any]]:
    """The records of all queries of one (prepared) video, in input order."""
    for item in items:
        if isinstance(prepared, Exception):
            yield error_record(item, prepared)
        else:
            yield run_item(method, item, top_k, prepared)


def run_item(method: Any, item: BatchItem, top_k: int | None, video: "VideoSource | None" = None) -> dict[str, Any]:
    """Ground one item through :func:`vtg.ground` (the path the CLI and the server take); any
    exception becomes an error record so the batch carries on."""
    try:
        query = Query(text=item.text, image=item.image)
        source = video if video is not None else item.video
        if source is None:  # read_items gives such a line its error; it never reaches an engine
            raise UsageError(f"line {item.line}: no video")
        return ok_record(item, ground(source, query, method=method), top_k)
    except Exception as exc:  # one bad line never stops the batch
        return error_record(item, exc)

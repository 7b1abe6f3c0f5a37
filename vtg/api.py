"""The one-call Python API: ``vtg.ground(video, query, method=...)``.

It is also the one path every front end takes: ``vtg ground``, ``vtg batch`` (per item, keeping
its error records) and ``vtg serve`` all call :func:`ground`, so input checks, query handling and
``top_k`` behave the same everywhere. Models stay warm between calls in the process-wide model
manager (:mod:`vtg.engine`); a caller that grounds many queries can also pass a loaded
:class:`~vtg.methods.Method` object and a :class:`~vtg.video.VideoSource` it reuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, overload

from vtg.errors import UsageError
from vtg.options import TopK, check_of, check_value
from vtg.types import Grounding, Query

if TYPE_CHECKING:
    from vtg.method import Method
    from vtg.types import Query
    from vtg.video.source import VideoSource


def check_video_path(video: str | Path, what: str = "video") -> Path:
    """Fail early and clearly on a path that does not exist, before any model loads.
    ``what`` names the input in the message ("image" for a query image)."""
    from vtg.video.files import existing_file

    return existing_file(video, what)


@overload
def ground(video: "str | Path | VideoSource", query: "str | Query | None" = None, *,
           image: str | Path | None = None, method: "str | Method" = "tfvtg", top_k: int | None = None,
           progress: bool = False, **options: Any) -> Grounding: ...


@overload
def ground(video: "str | Path | VideoSource", query: "list[str | Query] | tuple[str | Query, ...]", *,
           image: None = None, method: "str | Method" = "tfvtg", top_k: int | None = None,
           progress: bool = False, **options: Any) -> list[Grounding]: ...


def ground(
    video: "str | Path | VideoSource",
    query: "str | Query | Sequence[str | Query] | None" = None,
    *,
    image: str | Path | None = None,
    method: "str | Method" = "tfvtg",
    top_k: int | None = None,
    progress: bool = False,
    **options: Any,
) -> "Grounding | list[Grounding]":
    """Find when ``query`` (a sentence) or ``image`` (an example frame) happens in ``video``.

    ``query`` may also be a list of sentences (or :class:`~vtg.methods.Query` objects): then
    the result is a list of groundings in the same order, equal to single calls, with the
    video's features read once and the sentences encoded in one batch (faster for many queries).

    ``method`` is a registered name (``vtg methods`` lists them) configured with ``options``
    (``encoder``, ``fps``, ``device``, ``llm``...; an unknown one is an error), or a method object
    already configured (then ``options`` must be empty). ``top_k`` keeps the best moments.
    The video's path is checked once and the file probed at most once for the whole query.
    """
    from vtg.video.source import VideoSource

    if top_k is not None:
        top_k = check_value("top_k", top_k, int, check_of(TopK))
    if isinstance(query, (list, tuple)):
        return _ground_many(video, query, image, method, top_k, progress, options)
    q = Query.of(query, image)
    source = VideoSource.of(video)
    if q.image is not None:
        check_video_path(q.image, what="image")  # same existence check, same error type family
    runner = resolve_method(method, options)
    runner.check_query(q)
    result = runner.ground(source, q, progress=progress)
    return result.top(top_k) if top_k is not None else result


def _ground_many(video, queries: "Sequence[str | Query]", image, method, top_k: int | None, progress: bool,
                 options: dict[str, Any]) -> list[Grounding]:
    """``ground`` with a list of queries: every query checked before any work, then one
    :meth:`~vtg.methods.Method.ground_many` call."""
    from vtg.video.source import VideoSource

    if image is not None:
        raise UsageError("give either a list of queries or image=, not both; put image queries in the list "
                         "as vtg.methods.Query(image=PATH)")
    qs = [Query.of(q) for q in queries]
    source = VideoSource.of(video)
    for q in qs:
        if q.image is not None:
            check_video_path(q.image, what="image")
    runner = resolve_method(method, options)
    for q in qs:
        runner.check_query(q)
    results = runner.ground_many(source, qs, progress=progress) if qs else []
    return [r.top(top_k) for r in results] if top_k is not None else results


def resolve_method(method: "str | Method", options: dict[str, Any]) -> "Method":
    """A method object from a registered name and its options, or the given object itself."""
    from vtg.method import Method
    from vtg.registry import load_method

    if isinstance(method, Method):
        if options:
            raise UsageError(f"options {', '.join(map(repr, options))} were given with an already configured "
                             f"{method.name!r} method object; configure it with vtg.methods.load_method instead")
        return method
    if not isinstance(method, str):
        raise UsageError(f"method must be a method name or a vtg.methods.Method, got {type(method).__name__}")
    return load_method(method, **options)

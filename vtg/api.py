"""The one-call Python API: ``vtg.ground(video, query, method=...)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vtg.types import Grounding


def check_video_path(video: str | Path, what: str = "video") -> Path:
    """Fail early and clearly on a path that does not exist, before any model loads.
    ``what`` names the input in the message ("image" for a query image)."""
    from vtg.video.files import existing_file

    return existing_file(video, what)


def ground(
    video: str | Path,
    query: str | None = None,
    *,
    image: str | Path | None = None,
    method: str = "tfvtg",
    top_k: int | None = None,
    progress: bool = False,
    **options: Any,
) -> Grounding:
    """Find when ``query`` (a sentence) or ``image`` (an example frame) happens in ``video``.

    ``options`` are the chosen method's parameters (``encoder``, ``fps``, ``device``, ``llm``...;
    ``vtg methods`` lists them); an unknown one is an error. ``top_k`` keeps the best moments.
    """
    from vtg.methods import Query, load_method

    q = Query.of(query, image)
    path = check_video_path(video)
    if q.image is not None:
        check_video_path(q.image, what="image")  # same existence check, same error type family
    runner = load_method(method, **options)
    runner.check_query(q)
    result = runner.ground(path, q, progress=progress)
    return result.top(top_k) if top_k is not None else result

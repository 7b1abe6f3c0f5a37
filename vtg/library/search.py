"""``vtg search``: rank moments across every video of a library.

The method is any method with the :class:`vtg.method.FeatureLocaliser` capability (given by name,
through :mod:`vtg.registry`, or as an instance; by default the one that indexed the library, as its
manifest records); the library itself names no method.

1. The method encodes the query once with the library's encoder (``encode_query``; a sentence
   loads only the text tower).
2. An exact scan (:mod:`vtg.library.scan`) scores every frame of every video and keeps each
   video's best frame similarity. Libraries of :data:`vtg.library.ann.MIN_FRAMES` frames or more
   with an approximate index (faiss) take their candidate videos from it instead, re-scored exactly
   over all their frames (:mod:`vtg.library.ann`; recall@20 of videos against the exact scan 0.99
   on a clustered synthetic 10,000-h library, docs/library.md). ``approximate=False``
   (``--exact``) always scans; ``approximate=True`` (``--approximate``) uses an index whatever the
   library's size (``vtg ann-index`` builds one below the threshold).
3. The ``candidates`` videos with the best frames (default: twice the videos the list can span,
   ``2 * ceil(top / per_video)``, at least 10) are read back one at a time and the method's
   ``localise`` places the boundaries on their stored features (TFVTG: the same window scoring
   and fusion as ``vtg ground``).
4. Moments are ranked across videos. A localiser's confidences are relative to the best moment of
   their own video (TFVTG divides by it), so they cannot be compared between videos; each moment's
   score is its confidence times the video's *relevance*, ``(1 + r) / 2`` with ``r`` the raw
   cosine similarity of the query to the best-matching frame inside the video's best moment (a
   peak, not a mean: a mean would reward a method's loose boundaries on one video over tight
   ones on another). Within a video the method's order is kept; across videos the video whose
   best moment holds the closest match comes first, on the encoder's own scale, the same for
   every video. Each video keeps at most ``per_video`` moments (default 3): confidences of a
   video's runner-up moments are often close to 1, and uncapped they would fill the list with a
   few videos' variations of one hit.

The result is a list of :class:`vtg.types.Grounding`, one per video with a hit, each holding its
moments among the overall ``top``, ordered by its best moment: what ``vtg ground`` returns for one
video, so the same writers print it and ``vtg export`` cuts its clips.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from vtg.encoders.specs import parse_spec
from vtg.errors import UsageError, VtgError
from vtg.library import ann
from vtg.library.manifest import METHOD_SETTING
from vtg.library.store import Library, open_library
from vtg.method import EncodedQuery, FeatureLocaliser, supports_feature_search
from vtg.registry import method_class, registered_methods
from vtg.types import Grounding, Moment, Query, Saliency
from vtg.writers import ranked_moments


def search(library, query: str | None = None, *, image: Path | str | None = None, top: int = 20,
           method: str | FeatureLocaliser | None = None, candidates: int | None = None, per_video: int = 3,
           approximate: bool | None = None, **options) -> list[Grounding]:
    """The ``top`` best moments of the library for ``query`` (text) or ``image`` (query by example),
    grouped per video (see the module docstring). ``method``: a method name or instance with the
    :class:`~vtg.method.FeatureLocaliser` capability; None: the method that indexed the library.
    ``options`` configure a method given by name.
    ``approximate``: None takes candidate videos from the library's approximate index when the
    library is big enough to use one (:mod:`vtg.library.ann`), else scans every frame; False
    always scans; True uses the index whatever the library's size."""
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise UsageError(f"top must be a positive integer, got {top!r}")
    for name, value in (("candidates", candidates), ("per_video", per_video)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise UsageError(f"{name} must be a positive integer, got {value!r}")
    q = Query.of(query, image)
    if q.image is not None:
        from vtg.video.files import existing_file

        existing_file(q.image, "image")
    lib = library if isinstance(library, Library) else open_library(library)
    try:
        candidates = candidates or default_candidates(top, per_video)
        return _search(lib, q, top, candidates, per_video, method, options, approximate)
    finally:
        if lib is not library:
            lib.close()


def default_candidates(top: int, per_video: int) -> int:
    """Videos to localise: twice the videos a list of ``top`` moments can span, at least 10."""
    return max(10, 2 * math.ceil(top / per_video))


def _search(lib, q: Query, top: int, candidates: int, per_video: int, method: str | FeatureLocaliser | None,
            options: dict, approximate: bool | None) -> list[Grounding]:
    view = lib.view()
    if not view.videos and method is None:
        return []  # nothing indexed: no method recorded yet, and nothing to find
    localiser = feature_localiser(lib, method, options)
    if not view.videos:
        return []
    index = None if approximate is False else approximate_index(lib.folder, view, asked=bool(approximate))
    encoder = _encoder(lib, getattr(getattr(localiser, "config", None), "device", "auto"), text_only=q.image is None)
    encoded = localiser.encode_query(q, encoder)
    return rank(view, localiser, encoded, top=top, candidates=candidates, per_video=per_video, library=lib.name,
                encoder=encoder.spec, index=index)


def feature_localiser(lib, method: str | FeatureLocaliser | None, options: dict) -> FeatureLocaliser:
    """The method that searches ``lib``: an instance as given, a name configured with ``options``
    (not ``encoder``: the library's is used), or the method that indexed the library."""
    if method is not None and not isinstance(method, str):
        if options:
            raise UsageError(f"options {', '.join(sorted(options))} go to the method's config, not to search() "
                             "with a method instance")
        _check_capable(method, getattr(method, "name", type(method).__name__))
        return method
    name = method or lib.manifest.setting(METHOD_SETTING)
    if not name:
        raise UsageError(f"library {lib.name!r} does not record the method that indexed it; name one (--method)")
    cls = method_class(name)
    _check_capable(cls, name)
    return cls(**_without_encoder(lib, options))  # type: ignore[return-value]


def _check_capable(method: object, name: str) -> None:
    """A clear error for a method that cannot localise on stored frame features."""
    if not supports_feature_search(method):
        raise UsageError(f"method {name!r} cannot search a library (it does not localise on precomputed frame "
                         f"features); methods that can: {', '.join(capable_methods()) or 'none installed'}")


def capable_methods() -> list[str]:
    """Registered methods with the :class:`~vtg.method.FeatureLocaliser` capability (a method
    whose module cannot be imported here is left out)."""
    names = []
    for name in registered_methods():
        try:
            if supports_feature_search(method_class(name)):
                names.append(name)
        except (ImportError, VtgError, AttributeError):
            continue
    return names


def approximate_index(folder: Path, view, *, asked: bool = False):
    """The library's approximate index when a search should use it, else None (every frame is
    scanned). By default (``asked`` False) only for a library of :data:`vtg.library.ann.MIN_FRAMES`
    frames or more whose index is not :func:`~vtg.library.ann.outdated`; ``asked``: any index it
    has. Token features (BLIP-2) have none. A big library without faiss, or one whose index is
    missing or outdated, is scanned with a one-line note saying what would help."""
    frames = sum(s.rows for s in view.shards)
    if any(len(s.shape) != 1 for s in view.shards) or (frames < ann.MIN_FRAMES and not asked):
        return None
    if ann.load_faiss() is None:
        _note_once(f"library of {frames:,} frames scanned exactly; `pip install 'vtg[ann]'` (faiss) adds an "
                   "approximate index that searches it without reading every frame")
        return None
    state = ann.read_state(folder)
    if state is None:
        if asked:
            _note_once(f"library {folder.name} has no approximate index, so every frame is scanned; "
                       f"`vtg ann-index --library {folder.name}` builds one")
        return None
    why = ann.outdated(state)
    if why and not asked:
        _note_once(f"library {folder.name} scanned exactly: its approximate index is outdated ({why}); "
                   f"`vtg ann-index --library {folder.name} --rebuild` (or the next `vtg index`) re-trains it")
        return None
    return ann.open_index(folder, state=state)


_noted: set[str] = set()


def _note_once(text: str) -> None:
    import sys

    if text not in _noted:
        _noted.add(text)
        print(f"vtg: note: {text}", file=sys.stderr)


def rank(view, localiser: FeatureLocaliser, encoded: EncodedQuery, *, top: int, candidates: int,
         per_video: int = 3, library: str, encoder: str, index=None) -> list[Grounding]:
    """Steps 2-4 of the module docstring for an already encoded query (``localiser.encode_query``);
    step 2 through the approximate ``index`` (:class:`vtg.library.ann.AnnIndex`) when given."""
    best = video_scores(view, encoded, index)
    order = sorted(best, key=lambda vid: (-best[vid], vid))[:candidates]
    videos = {v.id: v for v in view.videos}
    hits: list[tuple[float, int, int, int, Moment]] = []  # (score, video order, rank, video id, moment)
    found: dict[int, tuple] = {}
    for pos, vid in enumerate(order):
        video = videos[vid]
        times = view.video_times(video)
        got = localiser.localise(view.video_features(video), times, float(video.duration), encoded)
        if not got.moments:
            continue
        raw = np.asarray(got.relevance, np.float32)
        relevance = _peak_inside(raw, got.moments[0], float(video.duration))
        scale = (1.0 + relevance) / 2.0
        scored = [Moment(m.start, m.end, m.score * scale) for m in got.moments[:per_video]]
        meta = {**got.meta, "peak_time": round(float(times[int(np.argmax(raw))]), 3)}  # the video's best frame
        found[vid] = (video, times, got.saliency, meta, relevance)
        hits.extend((m.score, pos, rank, vid, m) for rank, m in enumerate(scored))
    hits.sort(key=lambda h: (-h[0], h[1], h[2]))
    return _group(library, hits[:top], found, encoded.label, encoder, localiser.name)


def video_scores(view, encoded: EncodedQuery, index=None) -> dict[int, float]:
    """Best frame similarity of every candidate video: all videos (exact scan of the query's
    :meth:`~vtg.method.EncodedQuery.relevance`) or, with an approximate ``index`` and a query whose
    relevance is one dot product (single-vector features), the videos of its candidate frames,
    re-scored exactly."""
    from vtg.library.scan import scan

    direction = encoded.direction() if index is not None else None
    if index is not None and direction is not None and all(len(s.shape) == 1 for s in view.shards):
        from vtg.library.ann import candidate_scores

        return candidate_scores(view, direction, index, encoded.relevance)[0]
    return scan(view, encoded.relevance)[0]


def ranked_rows(results: list[Grounding]) -> list[tuple[str, float, float, float]]:
    """``(video, start, end, score)`` of every moment of a search, best first across videos."""
    return ranked_moments(results)


def _group(name: str, hits: list, found: dict, label: str, spec: str, method: str) -> list[Grounding]:
    """One Grounding per video, in the order of each video's best hit."""
    per_video: dict[int, list[Moment]] = {}
    for _, _, _, vid, moment in hits:
        per_video.setdefault(vid, []).append(moment)
    out = []
    for vid, moments in per_video.items():
        video, times, saliency, meta, relevance = found[vid]
        out.append(Grounding(
            query=label, video=str(video.path), duration=float(video.duration), moments=tuple(moments),
            saliency=Saliency(times, saliency), method=method,
            meta={"library": name, "video_id": video.id, "encoder": spec, "fps": video.fps,
                  "frames": video.frames, "relevance": round(float(relevance), 6), **meta}))
    return out


def _peak_inside(curve: np.ndarray, moment: Moment, duration: float) -> float:
    """Largest value of ``curve`` over the frames of ``moment`` (at least one frame)."""
    n = len(curve)
    i0 = min(n - 1, max(0, int(math.floor(moment.start / duration * n + 1e-9))))
    i1 = max(i0 + 1, min(n, int(math.ceil(moment.end / duration * n - 1e-9))))
    return float(np.max(curve[i0:i1]))


def _without_encoder(lib, options: dict[str, Any]) -> dict[str, Any]:
    """The method options minus ``encoder``: a library is searched with the encoder it was built
    with; asking for another one is an error, not a silent switch."""
    options = dict(options)
    asked = options.pop("encoder", None)
    if asked is not None and lib.encoder is not None:
        if parse_spec(asked).canonical != lib.encoder:
            raise UsageError(f"library {lib.name!r} was built with {lib.encoder}, not {asked}; "
                             "search it without --encoder or index another library")
    return options


def _encoder(lib, device: str, *, text_only: bool):
    """The library's encoder, shared through the model manager: a sentence query loads only the
    text tower (the frames are already encoded); an image query needs the image tower."""
    from vtg.encoders import load_encoder

    return load_encoder(lib.encoder, device=device, text_only=text_only)

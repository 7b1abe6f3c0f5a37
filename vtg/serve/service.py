"""What the server does, without HTTP: one warm method, the served files, the libraries.

:class:`Service` is built once per process: it loads the method (and its models) at start-up and
warms them, so the first request costs what every later one does. Routes call its ``ground`` /
``search`` from worker threads; an :class:`~vtg.serve.admission.Admission` caps how many run at
once, lets a few more wait briefly and refuses the rest (the caller answers 503), so a burst of
requests never becomes a queue of minutes.
"""

from __future__ import annotations

import logging
from typing import Any

import vtg
from vtg.errors import UsageError
from vtg.library import open_library, search
from vtg.method import request_options as declared, supports_feature_search
from vtg.serve.admission import Admission
from vtg.serve.catalog import Catalog, Entry
from vtg.serve.config import MAX_QUERY_CHARS, ServeConfig
from vtg.serve.ids import load_id_key
from vtg.serve.thumbs import ThumbnailCache
from vtg.session import Session, current_session
from vtg.types import Grounding

log = logging.getLogger("vtg.serve")
#: Thumbnail requests beyond the decoders that may wait, and for how long (a results page asks
#: for one per moment at once).
THUMB_QUEUE = 64
THUMB_WAIT = 10.0


def allowed_request_options(method) -> list[str]:
    """The options of ``method`` a request may set, derived from its option schema
    (:func:`vtg.method.request_options`: scoring parameters a batch line may also set): they change
    how moments are scored, never which model, device, file or endpoint is used (the operator's
    choice, fixed at start-up)."""
    return sorted(declared(type(method.config)))


def request_options(method, options: dict[str, Any]) -> dict[str, Any]:
    """The per-request options, allowed only from :func:`allowed_request_options`."""
    allowed = allowed_request_options(method)
    bad = [k for k in options if k not in allowed]
    if bad:
        raise UsageError(f"option {bad[0][:40]!r} cannot be set per request; allowed: {', '.join(allowed)}")
    for key, value in options.items():
        if isinstance(value, str) and len(value) > 100:
            raise UsageError(f"option {key} is too long")
    return dict(options)


class Service:
    """The warm method, the catalog of served files, the open libraries and the thumbnails."""

    def __init__(self, config: ServeConfig, session: Session | None = None):
        self.config = config
        #: Every request runs in this one session (default: the one current at start-up, the CLI's).
        self.session = session if session is not None else current_session()
        self.catalog = Catalog(config.roots, load_id_key())
        self.method = self.session.load_method(config.method, **config.method_options)
        self.slots = Admission(config.max_concurrent, config.queue, config.queue_wait)
        self.thumb_slots = Admission(max(2, config.max_concurrent), THUMB_QUEUE, THUMB_WAIT, "thumbnails")
        self.thumbs = ThumbnailCache(config.thumb_cache_entries)
        self.libraries = {name: self.session.run(self._open_library, name) for name in config.libraries}

    # -- start-up ---------------------------------------------------------------------------
    @staticmethod
    def _open_library(name: str):
        return open_library(name)

    def warm_up(self) -> None:
        """Load the models now (the method's own, :meth:`vtg.methods.Method.warm_up`, and each
        library's encoder) and run them once, so the first request is not the slow one; register
        the libraries' videos."""
        from vtg.encoders import load_encoder

        self.method.warm_up()
        device = getattr(self.method.config, "device", "auto")
        for spec in sorted({lib.encoder for lib in self.libraries.values()}):
            load_encoder(spec, device=device).encode_texts(["warm up"])
        for library in self.libraries.values():
            for row in library.videos():
                if row.status == "ok":
                    self.catalog.register_library_video(row.path)

    # -- requests ---------------------------------------------------------------------------
    def method_for(self, options: dict[str, Any]):
        """The warm method, or a copy with this request's scoring options (models are shared
        through the model manager, so a copy loads nothing)."""
        opts = request_options(self.method, options)
        return type(self.method)(config=self.method.config, **opts) if opts else self.method

    def ground(self, video: str, query: str | None, image: str | None, top_k: int | None,
               options: dict[str, Any]) -> dict:
        """``vtg.ground`` on a served file with the warm method (the one path every front end takes)."""
        entry = self.catalog.resolve(video)
        image_path = self.catalog.resolve_image(image) if image else None
        result = self.session.ground(entry.path, check_query(query), image=image_path,
                                     method=self.method_for(options), top_k=top_k)
        return result_json(result, entry)

    def search(self, library: str | None, query: str | None, image: str | None, top: int,
               options: dict[str, Any]) -> dict:
        name, lib = self.library(library)
        image_path = self.catalog.resolve_image(image) if image else None
        if supports_feature_search(self.method):
            # the warm method (with this request's options) localises; the library dictates the encoder
            results = self.session.run(search, lib, check_query(query), image=image_path, top=top,
                                       method=self.method_for(options))
        else:  # the served method cannot localise on features: the one that indexed the library does
            if options:
                raise UsageError(f"options apply to the served method {self.method.name!r}, which cannot search a "
                                 "library; this library is searched with the method that indexed it, as configured")
            results = self.session.run(search, lib, check_query(query), image=image_path, top=top)
        return {"library": name, "results": [result_json(r, self.catalog.register_library_video(r.video))
                                             for r in results]}

    def library(self, name: str | None):
        if not self.libraries:
            raise UsageError("this server has no library to search (start it with --library NAME)")
        if name is None:
            return next(iter(self.libraries.items()))
        if name not in self.libraries:
            raise UsageError(f"library {name[:80]!r} is not served; served: {', '.join(self.libraries)}")
        return name, self.libraries[name]

    def thumbnail(self, ident: str, t: float) -> bytes:
        """The JPEG (callers hold a :attr:`thumb_slots` slot)."""
        entry = self.catalog.get(ident)
        return self.session.run(self.thumbs.get, entry.id, entry.path, t)

    def videos(self) -> list[dict]:
        entries = self.catalog.list_roots()
        for library in self.libraries.values():
            entries += [self.catalog.register_library_video(row.path) for row in library.videos()
                        if row.status == "ok"]
        unique = {e.id: e for e in entries}
        return [{"id": e.id, "name": e.name, "url": f"/videos/{e.id}"} for e in unique.values()]

    def health(self) -> dict:
        return {"status": "ok", "version": vtg.__version__, "method": self.config.method,
                "libraries": list(self.libraries), "roots": len(self.config.roots),
                "busy": self.slots.busy, "max_concurrent": self.slots.size,
                "waiting": self.slots.waiting, "queue": self.slots.queue,
                "request_options": allowed_request_options(self.method),
                "max_query_chars": MAX_QUERY_CHARS,
                "thumbnails": {"made": self.thumbs.made, "cached": len(self.thumbs)},
                "models": self.session.models.memory()}


def check_query(query: str | None) -> str | None:
    if query is not None and len(query) > MAX_QUERY_CHARS:
        raise UsageError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    return query


def result_json(result: Grounding, entry: Entry) -> dict:
    """``Grounding.to_dict()`` naming the video as users see it (never the server's absolute path),
    with the id and URL the page plays it from, checked by the server's record model
    (:mod:`vtg.serve.models`, derived from the one record schema)."""
    from vtg.serve.models import served

    out = result.to_dict()
    out.update(video=entry.name, video_id=entry.id, video_url=f"/videos/{entry.id}")
    return served(out)

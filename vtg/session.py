"""A session: one set of run settings, the models it keeps warm and the feature cache it uses.

>>> from vtg.session import Session
>>> session = Session.from_environment(decoder="nvdec", max_frames=5000, verify=True)
>>> session.ground("video.mp4", "person opens the door")      # as vtg.ground, with these settings

Every front end builds one: the CLI from its flags (``vtg --decoder ... ground``), ``vtg batch``
(its Ray workers receive the pickled :class:`~vtg.settings.Settings`), ``vtg serve`` (each request
runs in the server's session) and Python callers. ``vtg.ground(...)`` is the one-call convenience
over the *default* session: the settings of the environment at that moment and the process's
shared model manager.

A session's methods make it current for their duration (:meth:`Session.active`): its settings
and model manager are then what the code underneath reads, in this thread or asyncio task only,
so two sessions with different settings can run at once in one process. Work handed to a thread
pool inside a call keeps them by running in a copy of the caller's context
(:func:`contextvars.copy_context`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar, overload

from vtg import api
from vtg.engine import ModelManager, default_manager, using_manager
from vtg.registry import load_method
from vtg.settings import Settings, current_settings, using

if TYPE_CHECKING:
    from vtg.features import Features
    from vtg.method import Method
    from vtg.types import Grounding, Query
    from vtg.video.source import VideoSource

T = TypeVar("T")


class Session:
    """Frozen :class:`~vtg.settings.Settings`, a :class:`~vtg.engine.ModelManager` and the feature
    cache under ``settings.cache_dir``. ``models`` defaults to the process's shared manager, so
    sessions that differ only in settings still load each model once; pass a new
    :class:`ModelManager` to keep a session's models apart (and free them with :meth:`release`)."""

    def __init__(self, settings: Settings | None = None, *, models: ModelManager | None = None):
        self.settings = settings if settings is not None else Settings.from_environment()
        self.models = models if models is not None else default_manager()

    @classmethod
    def from_environment(cls, *, models: ModelManager | None = None, **overrides: Any) -> "Session":
        """A session with :meth:`Settings.from_environment(**overrides) <vtg.settings.Settings.from_environment>`."""
        return cls(Settings.from_environment(**overrides), models=models)

    def replace(self, **changes: Any) -> "Session":
        """A session with the same models and these settings changed (checked as flags are)."""
        return Session(self.settings.replace(**changes), models=self.models)

    @contextlib.contextmanager
    def active(self) -> Iterator["Session"]:
        """This session's settings and models are the current ones for the block, in this thread/task."""
        with using(self.settings), using_manager(self.models):
            yield self

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` inside :meth:`active`."""
        with self.active():
            return fn(*args, **kwargs)

    # -- what front ends call ---------------------------------------------------------------
    @overload
    def ground(self, video: "str | Path | VideoSource", query: "str | Query | None" = None,
               **kwargs: Any) -> "Grounding": ...

    @overload
    def ground(self, video: "str | Path | VideoSource", query: "list[str | Query] | tuple[str | Query, ...]",
               **kwargs: Any) -> "list[Grounding]": ...

    def ground(self, video: "str | Path | VideoSource", query: Any = None, **kwargs: Any) -> Any:
        """:func:`vtg.ground` with this session's settings and models (same arguments, same result)."""
        with self.active():
            return api.ground(video, query, **kwargs)

    def load_method(self, name: str, **options: Any) -> "Method":
        """A configured method (models load lazily, into this session's manager, when it runs
        inside :meth:`active` or through :meth:`ground`)."""
        with self.active():
            return load_method(name, **options)

    def features(self, video: Any, encoder: Any, fps: float | None, **kwargs: Any) -> "Features":
        """:func:`vtg.features.video_features` from this session's cache folder."""
        from vtg.features import video_features  # on use, as load_method

        with self.active():
            return video_features(video, encoder, fps, cache_dir=self.settings.cache_dir, **kwargs)

    @property
    def features_dir(self) -> Path:
        """The folder of this session's feature cache."""
        return self.settings.cache_dir / "features"

    def release(self) -> int:
        """Drop the models this session's manager holds (the shared one's, by default)."""
        return self.models.release()


def current_session() -> Session:
    """The session active in this thread/task; with none, the default session: the settings of
    the environment now and the process's shared model manager (what ``vtg.ground`` runs in)."""
    return Session(current_settings(), models=default_manager())


__all__ = ["Session", "current_session"]

"""A video checked once and probed at most once: what one query (or one video's queries) carries.

Grounding a query touches the video in several layers (the method's sampling plan, the feature
cache, the decoder). Each used to check the path and probe the container again; passing a
:class:`VideoSource` instead lets every layer share one existence check (when it is made) and
one probe per backend (on first use) and one content hash. Probes are also remembered process-wide per file stamp
(:mod:`vtg.filestamp`), so a loop of ``vtg.ground`` calls on one path probes it once, and an
edited file is probed again. It behaves as a path (``os.fspath``, ``str``), so code
that only needs the file name keeps working; :func:`vtg.video.probe`, :func:`vtg.video.iter_frames`
and :func:`vtg.features.video_features` recognise it and reuse what it already knows.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

from vtg.filestamp import StampedMemo

T = TypeVar("T")

#: Probe results of this process, per (file stamp, backend).
PROBES = StampedMemo()


class VideoSource(os.PathLike):
    """An existing regular file (checked by :meth:`of`) with its probe results memoised per backend."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._infos: dict = {}
        self._facts: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, video, what: str = "video") -> "VideoSource":
        """``video`` itself when it already is a source, else the path after the one existence check."""
        if isinstance(video, VideoSource):
            return video
        from vtg.video.files import existing_file

        return cls(existing_file(video, what))

    def info(self, backend: str = "pyav"):
        """The :class:`~vtg.video.VideoInfo` from ``backend``'s probe, probed on first use only.

        Also the content checks :func:`vtg.video.probe` makes (empty file, unreadable), so a bad
        file fails with the same error the first time any layer asks."""
        with self._lock:
            if backend not in self._infos:
                from vtg.video.backends import get_backend
                from vtg.video.files import readable_video

                path = readable_video(self.path)
                # keyed by the path too: the probe's VideoInfo names the path it was given
                self._infos[backend] = PROBES.get(path, (str(path), backend), lambda: get_backend(backend).probe(path))
            return self._infos[backend]

    def remembered(self, fact: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per source for ``fact`` (its content identity: the feature cache's
        key), so a query's plan and its grounding hash the file once between them."""
        with self._lock:
            if fact in self._facts:
                return self._facts[fact]
        value = compute()
        with self._lock:
            return self._facts.setdefault(fact, value)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"VideoSource({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def stem(self) -> str:
        return self.path.stem

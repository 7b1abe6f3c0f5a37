"""A library on disk: a folder holding the SQLite manifest and the float16 feature shards.

::

    <library>/manifest.sqlite     videos, shards, settings (vtg.library.manifest)
    <library>/shards/<id>.npy     float16 features of many videos, memory-mapped by searches
    <library>/shards/<id>.times.npy
    <library>/lock                held by the one `vtg index` allowed to write at a time

Features are stored once: the shards are the store of every indexed video's features, and the
feature-cache entry that ``vtg index`` computed through (so that ``vtg ground`` on the file stays
instant) keeps only its sidecar, which names the video's shard rows (:mod:`vtg.feature_store`).
Shards rather than the cache's per-video files are kept because the exact scan
(:mod:`vtg.library.scan`) reads a few large files sequentially, however many videos there are;
a manifest pointing at per-video entries would make a search open and map one file per video.

A plain name (``--library clips``) lives under vtg's cache root (``$VTG_CACHE_DIR/libraries/NAME``,
beside the feature cache); a name containing a path separator is a folder of the user's choice.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import stat
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vtg.errors import DataError, UsageError, VtgError
from vtg.feature_store import link_to_shard
from vtg.features import cache_root
from vtg.library import shards
from vtg.library.indexer import index_library
from vtg.library.manifest import Manifest, ShardRow, VideoRow

log = logging.getLogger(__name__)

MANIFEST = "manifest.sqlite"
SHARDS = "shards"
#: Features buffered before a shard is written (float16 bytes): its float32 copy in a scan is twice this.
DEFAULT_SHARD_BYTES = 64 << 20
#: Seconds a finished video may wait in the buffer: a slow index run (a CPU encoder fills 64 MiB in
#: hours) still commits, and makes searchable, what it has done every minute.
DEFAULT_MAX_AGE = 60.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def library_folder(name_or_path: str | Path) -> Path:
    """Where the library called ``name_or_path`` lives (see the module docstring)."""
    text = os.fspath(name_or_path)
    if os.sep in text or (os.altsep and os.altsep in text) or text in (".", "..") or text.startswith("~"):
        return Path(text).expanduser().absolute()
    if not _NAME.match(text):
        raise UsageError(f"library name {text!r} must be letters, digits, '.', '_' or '-' (at most 100, "
                         "not starting with a dot); give a path with a '/' for a folder of your choice")
    return cache_root() / "libraries" / text


def open_library(name_or_path: str | Path, *, create: bool = False) -> "Library":
    """Open the library ``name_or_path``; ``create`` makes it when it does not exist yet."""
    folder = library_folder(name_or_path)
    manifest = folder / MANIFEST
    if not os.path.lexists(manifest):  # something else than a file there is refused by Manifest
        if not create:
            raise UsageError(f"no library {os.fspath(name_or_path)!r} at {folder}; build one with "
                             f"`vtg index DIR... --library {os.fspath(name_or_path)}`")
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise UsageError(f"{folder} exists and is not a vtg library (no {MANIFEST}); "
                             "choose another library name or an empty folder")
        folder.mkdir(parents=True, exist_ok=True)
    return Library(folder, name=os.fspath(name_or_path), create=create)


class Library:
    """One library: its manifest, its shards, and the operations on them.

    Thread-safe for readers (``videos``, ``video_path``, ``search``): the SQLite connection is
    used under a lock. Writing (``index``, ``writer``) takes an exclusive file lock, so two
    indexing processes never interleave; searches read committed state meanwhile (WAL). To index
    while serving searches in one process, give the index run a Library object of its own.
    """

    def __init__(self, folder: Path, *, name: str | None = None, create: bool = False) -> None:
        self.folder = folder
        self.name = name or folder.name
        self.shard_folder = folder / SHARDS
        self._lock = threading.RLock()
        try:
            self.manifest = Manifest(folder / MANIFEST, create=create)
        except Exception as exc:  # sqlite3.DatabaseError: not a database, locked beyond the timeout
            if isinstance(exc, DataError):
                raise
            raise DataError(f"library manifest {folder / MANIFEST} cannot be opened: {exc}") from None

    def __repr__(self) -> str:
        return f"Library({self.name!r}, {str(self.folder)!r})"

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self.manifest.close()

    # --- reading ------------------------------------------------------------------------
    def videos(self) -> list[VideoRow]:
        """Every video row (indexed and failed), in the order they were first added."""
        with self._lock:
            return self.manifest.videos()

    def video(self, video_id: int) -> VideoRow:
        with self._lock:
            row = self.manifest.video(video_id)
        if row is None:
            raise UsageError(f"library {self.name!r} has no video {video_id}")
        return row

    def video_path(self, video_id: int) -> Path:
        """The file of video ``video_id`` (the server's ``/videos/{id}``)."""
        return self.video(video_id).path

    @property
    def encoder(self) -> str | None:
        """The encoder spec every indexed video of this library was encoded with."""
        with self._lock:
            return self.manifest.setting("encoder")

    def view(self) -> "View":
        """The committed shards and videos, with every shard already memory-mapped: an index
        run that deletes a shard afterwards cannot pull it from under a search (the maps keep
        the files readable). A shard deleted between reading the manifest and mapping it makes
        the view be taken once more."""
        for attempt in (0, 1):
            with self._lock:
                shard_rows, videos = self.manifest.snapshot()
            used = {v.shard for v in videos}
            try:
                features = {s.id: shards.open_features(self.shard_folder, s.name, s.rows, s.shape)
                            for s in shard_rows if s.id in used}
                times = {s.id: shards.open_times(self.shard_folder, s.name, s.rows)
                         for s in shard_rows if s.id in used}
            except DataError:
                if attempt:
                    raise
                continue
            return View([s for s in shard_rows if s.id in used], videos, features, times)
        raise AssertionError("unreachable")

    # --- writing ------------------------------------------------------------------------
    @contextmanager
    def exclusive(self):
        """Hold the library's write lock; a second writer gets a clear error instead of waiting."""
        path = self.folder / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise DataError(f"library lock file {path} is not a regular file; remove it")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"library {self.name!r} is being indexed by another process; "
                                 "wait for it to finish") from None
            self.collect_garbage()
            self.drop_damaged()
            yield self
        finally:
            os.close(fd)

    @contextmanager
    def writer(self, *, shard_bytes: int = DEFAULT_SHARD_BYTES, max_age: float = DEFAULT_MAX_AGE,
               encoder: str | None = None, fingerprint: str | None = None):
        """A :class:`ShardWriter` under the write lock; buffered videos are flushed on exit.
        ``encoder``/``fingerprint`` name what produced the features (checked against the library's)."""
        with self.exclusive():
            w = ShardWriter(self, shard_bytes=shard_bytes, max_age=max_age)
            if encoder is not None:
                w.claim_encoder(encoder, fingerprint or "")
            try:
                yield w
            finally:
                w.flush()

    def index(self, roots: list[Path], *, encoder: str | None = None, fps: float | None = None,
              method: str, progress: bool = False, **options):
        """Index the videos under ``roots`` (see :func:`vtg.library.indexer.index_library`)."""
        return index_library(self, roots, encoder=encoder, fps=fps, method=method, progress=progress, **options)

    def compact(self, writer: "ShardWriter", min_live: float = 0.5) -> int:
        """Rewrite, through ``writer``, the videos of shards whose live rows fell below
        ``min_live`` (dropped or re-indexed videos leave dead rows that every scan would still
        read) and of small shards when there are several (each run's last, partial shard and the
        shards a long run flushes by age), so the number of files stays bounded. The old shards
        die and are collected. Returns how many shards were emptied."""
        view = self.view()
        live: dict[int, int] = {}
        for v in view.videos:
            if v.shard is not None:
                live[v.shard] = live.get(v.shard, 0) + v.frames
        small_rows = {s.id for s in view.shards
                      if s.rows * 2 * int(np.prod(s.shape, dtype=np.int64)) < writer.shard_bytes // 4}
        emptied = {s.id for s in view.shards if live.get(s.id, 0) < min_live * s.rows}
        if len(small_rows - emptied) >= 2:
            emptied |= small_rows
        names = {s.id: s.name for s in view.shards}
        for v in view.videos:
            if v.shard in emptied and v.shard is not None and v.duration is not None and v.encoder is not None:
                writer.add(v.path, features=view.video_features(v), times=view.video_times(v), duration=v.duration,
                           encoder=v.encoder, fps=v.fps, key=v.key, size=v.size, mtime_ns=v.mtime_ns,
                           feature_entry=v.feature_entry,
                           moved_from=shards.feature_path(self.shard_folder, names[v.shard]))
        writer.flush()
        return len(emptied)

    def drop_damaged(self) -> list[str]:
        """Forget shards whose files are missing or do not match the manifest, with their videos'
        rows, so the index run that follows encodes those videos again (from the feature cache
        when it still has them). Returns the shards dropped."""
        damaged = []
        with self._lock:
            for shard in self.manifest.shards():
                try:
                    shards.open_features(self.shard_folder, shard.name, shard.rows, shard.shape)
                    shards.open_times(self.shard_folder, shard.name, shard.rows)
                except DataError as exc:
                    log.warning("%s; its videos will be indexed again", exc)
                    damaged.append(shard)
            if damaged:
                self.manifest.drop_shards([s.id for s in damaged])
        for shard in damaged:
            shards.delete(self.shard_folder, shard.name)
        return [s.name for s in damaged]

    def collect_garbage(self) -> list[str]:
        """Forget shards no video uses, then delete their files and any file a crash left behind."""
        with self._lock:
            dead = self.manifest.dead_shards()
            self.manifest.forget_shards([s.id for s in dead])
            for s in dead:
                shards.delete(self.shard_folder, s.name)
            registered = {s.name for s in self.manifest.shards()}
        return [s.name for s in dead] + shards.sweep(self.shard_folder, registered)


@dataclass
class View:
    """A consistent read-only view of a library (see :meth:`Library.view`)."""

    shards: list[ShardRow]
    videos: list[VideoRow]
    features: dict[int, np.ndarray]   # shard id -> float16 memory map [rows, *shape]
    times: dict[int, np.ndarray]      # shard id -> float64 memory map [rows]

    def video_features(self, video: VideoRow) -> np.ndarray:
        """One video's rows of its shard (still memory-mapped float16)."""
        shard, start = _placed(video)
        return self.features[shard][start:start + video.frames]

    def video_times(self, video: VideoRow) -> np.ndarray:
        shard, start = _placed(video)
        return np.array(self.times[shard][start:start + video.frames], np.float64)


def _placed(video: VideoRow) -> tuple[int, int]:
    """(shard id, first row) of an indexed video; a row without them has no features to read."""
    if video.shard is None or video.row_start is None:
        raise DataError(f"video {video.id} ({video.path}) is not indexed: {video.error or 'no features'}")
    return video.shard, video.row_start


class ShardWriter:
    """Buffers finished videos and writes them as shards of about ``shard_bytes``.

    A video's rows never straddle two shards; a video larger than the budget gets a shard of its
    own. A shard is also written once its oldest video has waited ``max_age`` seconds, so a slow
    run commits its work as it goes (small shards are merged by :meth:`Library.compact`). Each shard is written and renamed, then registered together with its videos' rows in
    one transaction, so after a crash a video is either fully indexed or not in the manifest.
    """

    def __init__(self, library: Library, *, shard_bytes: int = DEFAULT_SHARD_BYTES,
                 max_age: float = DEFAULT_MAX_AGE) -> None:
        if shard_bytes < 1:
            raise UsageError(f"shard size must be positive, got {shard_bytes}")
        self.library = library
        self.shard_bytes = int(shard_bytes)
        self.max_age = float(max_age)
        self._since = 0.0  # time.monotonic() of the oldest buffered video
        self._feats: list[np.ndarray] = []
        self._times: list[np.ndarray] = []
        self._entries: list[dict] = []
        self._bytes = 0
        self.shards_written = 0
        self.linked = 0  # feature-cache entries now stored in this library's shards

    def claim_encoder(self, spec: str, fingerprint, *, new_weights: bool = False) -> None:
        """Record the library's encoder on first use; a different one later is a usage error
        (similarities of two encoders cannot be ranked against each other). ``fingerprint`` is
        the weights' fingerprint or a function computing it (only asked once the spec matches).
        ``new_weights`` accepts changed weights of the same encoder (``--refresh`` re-encodes)."""
        m = self.library.manifest
        with self.library._lock:
            have, have_fp = m.setting("encoder"), m.setting("fingerprint")
        if have is not None and have != spec:
            raise UsageError(f"library {self.library.name!r} holds features of {have}, not {spec}; "
                             "index into a new library to use another encoder")
        fp = fingerprint() if callable(fingerprint) else (fingerprint or "")
        if have is None or new_weights:
            with self.library._lock:
                m.set_settings({"encoder": spec, "fingerprint": fp})
        elif fp and have_fp and have_fp != fp:
            raise UsageError(f"the weights of {spec} changed since library {self.library.name!r} was built; "
                             "index into a new library (or rebuild this one with --refresh)")

    def add(self, path: Path, *, features: np.ndarray, times: np.ndarray, duration: float, encoder: str,
            fps: float | None, key: str | None, size: int, mtime_ns: int, feature_entry: Path | str | None = None,
            moved_from: Path | None = None) -> None:
        """Queue one video's features [frames, *shape] (converted to float16 now). ``feature_entry``
        (folder/key) is the feature-cache entry these features came from: once the shard is
        registered, the entry refers to its rows and drops its own copy (features stored once);
        ``moved_from``: the shard the rows are copied from (compaction), whose entries alone move."""
        with np.errstate(over="ignore"):  # values beyond float16 become inf, refused just below
            feats = np.asarray(features, dtype=shards.DTYPE)
        if feats.ndim < 2 or feats.shape[0] == 0 or len(times) != feats.shape[0]:
            raise ValueError(f"features {feats.shape} and {len(times)} times do not describe one video")
        if not (np.isfinite(feats).all() and np.isfinite(times).all()):  # also values beyond float16's range
            raise DataError(f"features of {path} hold NaN or infinity (after float16 conversion); not stored")
        self._check_shape(feats.shape[1:])
        if self._bytes and self._bytes + feats.nbytes > self.shard_bytes:
            self.flush()
        self._entries.append({"path": path, "size": int(size), "mtime_ns": int(mtime_ns), "key": key,
                              "duration": float(duration), "encoder": encoder, "fps": fps,
                              "row_start": sum(len(t) for t in self._times), "frames": int(feats.shape[0]),
                              "feature_entry": feature_entry, "moved_from": moved_from})
        self._feats.append(feats)
        self._times.append(np.asarray(times, np.float64))
        self._bytes += feats.nbytes
        if len(self._entries) == 1:
            self._since = time.monotonic()
        if self._bytes >= self.shard_bytes or time.monotonic() - self._since >= self.max_age:
            self.flush()

    def flush(self) -> None:
        """Write the buffered videos as one shard and register them."""
        if not self._entries:
            return
        feats = self._feats[0] if len(self._feats) == 1 else np.concatenate(self._feats)
        times = np.concatenate(self._times)
        written = shards.write(self.library.shard_folder, feats, times)
        with self.library._lock:
            self.library.manifest.register_shard(written.name, written.rows, written.shape, written.bytes,
                                                 self._entries)
        entries = self._entries
        self._feats, self._times, self._entries, self._bytes = [], [], [], 0
        self.shards_written += 1
        self._link_entries(written, entries)

    def _link_entries(self, written: shards.ShardFile, entries: list[dict]) -> None:
        """Point each video's feature-cache entry at its rows of the shard just registered, which
        deletes the entry's own copy (:func:`vtg.feature_store.link_to_shard`). Best effort: an
        entry that cannot be linked (a read-only cache, a sidecar replaced meanwhile) keeps its
        copy, which costs disk space, never a wrong result."""
        folder = self.library.shard_folder
        features, times = shards.feature_path(folder, written.name), shards.times_path(folder, written.name)
        for e in entries:
            if e.get("feature_entry") is None:
                continue
            entry = Path(e["feature_entry"])
            try:
                if link_to_shard(entry.parent, entry.name, features, times, written.rows, e["row_start"],
                                 e["frames"], moved_from=e.get("moved_from")):
                    self.linked += 1
            except (OSError, ValueError, VtgError) as exc:
                log.info("feature cache entry %s keeps its own copy: %s", entry,
                         getattr(exc, "strerror", None) or exc)

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        m = self.library.manifest
        with self.library._lock:
            have = m.setting("shape")
            text = ",".join(map(str, shape))
            if have is None:
                m.set_settings({"shape": text})
            elif have != text:
                raise UsageError(f"library {self.library.name!r} holds features of shape [{have}], "
                                 f"these are [{text}]; index into a new library")

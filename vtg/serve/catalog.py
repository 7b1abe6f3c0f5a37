"""Which files the server may read, and the opaque ids it hands out for them.

A request names a video by a path relative to a served root (``"clips/a.mp4"``) or by an id the
server gave earlier. :meth:`Catalog.resolve` refuses, before touching the file system beyond a
lookup, everything that could escape a root: absolute paths, ``..`` parts, NUL bytes, over-long
names, and symlinks whose target lies outside the root (checked on the fully resolved path).
Library videos are served because the operator chose the library, not because of where they lie.

A file reached through a symlink inside its root is the file itself: one id, one name (its real
path relative to the root). Ids are a hash of the resolved path, so the same file keeps its id across requests and restarts;
an id is only ever looked up in the table of files that passed these checks, never decoded into a
path. Serving re-checks the root, so a file swapped for a symlink after registration is refused.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from vtg.errors import UsageError, VideoNotFoundError

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ogv", ".ts"})
MAX_PATH_CHARS = 1024
MAX_LISTED = 10_000


class OutsideRootError(UsageError):
    """A path that points outside every served root (answered with 403)."""


@dataclass(frozen=True)
class Entry:
    id: str
    path: Path        # resolved, absolute
    name: str         # what users see: the real path relative to its root, or the file name
    root: Path | None  # None for library videos


def video_id(path: Path) -> str:
    return hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:20]


class Catalog:
    """The served roots and every file registered so far (thread-safe)."""

    def __init__(self, roots: tuple[Path, ...]):
        self.roots = tuple(Path(r).resolve() for r in roots)
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    # -- looking up -------------------------------------------------------------------------
    def resolve(self, name: str, what: str = "video") -> Entry:
        """The entry for an id or a root-relative path; 4xx errors for anything else."""
        if not isinstance(name, str) or not name:
            raise UsageError(f"{what} must be a non-empty string")
        with self._lock:
            entry = self._entries.get(name)
        if entry is not None:
            return self.checked(entry)
        return self._resolve_relative(name, what)

    def get(self, ident: str) -> Entry:
        """The registered entry ``ident``, re-checked; VideoNotFoundError (404) for unknown ids."""
        with self._lock:
            entry = self._entries.get(ident)
        if entry is None:
            raise VideoNotFoundError(f"no video with id {ident[:40]!r}")
        return self.checked(entry)

    def checked(self, entry: Entry) -> Entry:
        """``entry`` if its file is still a regular file inside its root."""
        try:
            real = entry.path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise VideoNotFoundError(f"{entry.name} no longer exists") from None
        if entry.root is not None and not real.is_relative_to(entry.root):
            raise OutsideRootError(f"{entry.name} now points outside the served folders")
        if not real.is_file():
            raise VideoNotFoundError(f"{entry.name} is not a regular file")
        return entry

    def _resolve_relative(self, name: str, what: str) -> Entry:
        check_relative(name, what)
        for root in self.roots:
            candidate = root / name
            try:
                if not os.path.lexists(candidate):
                    continue
                real = candidate.resolve(strict=True)
            except (OSError, RuntimeError):  # a broken link or a loop
                raise VideoNotFoundError(f"{what} not found: {name}") from None
            if not real.is_relative_to(root):
                raise OutsideRootError(f"{what} {name!r} points outside the served folders")
            if not real.is_file():
                raise VideoNotFoundError(f"{what} {name!r} is not a file")
            return self.register(real, real.relative_to(root).as_posix(), root)
        raise VideoNotFoundError(f"{what} not found in the served folders: {name}")

    # -- registering ------------------------------------------------------------------------
    def register(self, path: Path, name: str, root: Path | None) -> Entry:
        entry = Entry(video_id(path), path, name, root)
        with self._lock:
            self._entries[entry.id] = entry
        return entry

    def register_library_video(self, path: str | Path) -> Entry:
        """An entry for a library video (its recorded absolute path)."""
        path = Path(path).resolve()
        root = next((r for r in self.roots if path.is_relative_to(r)), None)
        name = path.relative_to(root).as_posix() if root is not None else path.name
        return self.register(path, name, None)

    def list_roots(self, limit: int = MAX_LISTED) -> list[Entry]:
        """Video files under every root (symlinks into other places skipped), at most ``limit``."""
        found: list[Entry] = []
        for root in self.roots:
            for folder, dirs, files in os.walk(root, followlinks=False):
                dirs.sort()
                for file in sorted(files):
                    if Path(file).suffix.lower() not in VIDEO_SUFFIXES:
                        continue
                    rel = Path(folder, file).relative_to(root).as_posix()
                    try:
                        found.append(self._resolve_relative(rel, "video"))
                    except UsageError:  # a symlink out of the root: not listed
                        continue
                    except VideoNotFoundError:
                        continue
                    if len(found) >= limit:
                        return found
        return found


def check_relative(name: str, what: str = "video") -> None:
    """Refuse names that are not plain relative paths (400), before any file system access."""
    if len(name) > MAX_PATH_CHARS:
        raise UsageError(f"{what} path is longer than {MAX_PATH_CHARS} characters")
    if "\x00" in name:
        raise UsageError(f"{what} path contains a NUL byte")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or name.startswith("\\"):
        raise OutsideRootError(f"{what} must be a path relative to a served folder, not an absolute path")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise OutsideRootError(f"{what} path must not contain '..'")

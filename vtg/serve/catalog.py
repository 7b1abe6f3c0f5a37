"""Which files the server may read, and the opaque ids it hands out for them.

A request names a video by a path relative to a served root (``"clips/a.mp4"``) or by an id the
server gave earlier. :meth:`Catalog.resolve` refuses, before touching the file system beyond a
lookup, everything that could escape a root: absolute paths, ``..`` parts, NUL bytes, over-long
names, and symlinks whose target lies outside the root (checked on the fully resolved path).
Library videos are served because the operator chose the library, not because of where they lie.

Only **videos** are registered (and so served): a file under a root is registered only when its
name has a video suffix (:data:`VIDEO_SUFFIXES`) *and* its first bytes are a video container's
signature (:func:`looks_like_video`), checked on the opened file. ``.env``, ``.git/config`` or a
key file under a root can therefore never be listed, grounded, nor read back through
``/videos/{id}``. Query images (``image``) are resolved by the same path rules and must have an
image suffix, but are never registered.

A file reached through a symlink inside its root is the file itself: one id, one name (its real
path relative to the root). Ids are ``HMAC(key, resolved path)`` (:mod:`vtg.serve.ids`): the same
file keeps its id across requests and restarts, but no id can be guessed from a path. An id is only
ever looked up in the table of files that passed these checks, never decoded into a path. Serving
re-checks everything on the opened file (:func:`open_video`), so a file swapped for a symlink or a
non-video after registration is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from vtg.errors import NotAVideoError, UsageError, VideoNotFoundError

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ogv", ".ts"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
#: ISO base media (MP4, MOV, M4V) box types that may open a file.
_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")
SNIFF_BYTES = 1024
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


def video_id(path: Path, key: bytes) -> str:
    """The id of ``path``: a keyed hash, so it reveals nothing about the path and cannot be guessed."""
    return hmac.new(key, str(path).encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:24]


def looks_like_video(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) starts like a video container vtg decodes:
    ISO base media (MP4/MOV), Matroska/WebM, AVI, MPEG program or transport stream, Ogg."""
    if len(head) >= 8 and head[4:8] in _ISO_BOXES:
        return True
    if head.startswith((b"\x1a\x45\xdf\xa3", b"OggS", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    # MPEG-TS: a 0x47 sync byte every 188 bytes (192 with the 4-byte M2TS prefix)
    return any(len(head) > off + 2 * step and all(head[off + k * step] == 0x47 for k in range(3))
               for off, step in ((0, 188), (4, 192)))


def open_video(path: Path, root: Path | None, require_suffix: bool = True) -> tuple[int, os.stat_result]:
    """An open file descriptor on ``path`` and its stat, after checking *the opened file*: a
    regular file (a FIFO does not block the open), still reachable inside ``root`` at its
    resolved path (same device and inode, checked after the open, so a swap between check and
    open is caught), with a video suffix and a video signature. The caller closes the descriptor."""
    if require_suffix and path.suffix.lower() not in VIDEO_SUFFIXES:
        raise NotAVideoError(f"{display(path, root)} is not a video (allowed: {', '.join(sorted(VIDEO_SUFFIXES))})")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise VideoNotFoundError(f"{display(path, root)} no longer exists") from None
    except OSError as exc:
        raise VideoNotFoundError(f"{display(path, root)} cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise VideoNotFoundError(f"{display(path, root)} is not a regular file")
        try:
            real = path.resolve(strict=True)
            now = os.stat(real)
        except (OSError, RuntimeError):
            raise VideoNotFoundError(f"{display(path, root)} no longer exists") from None
        moved = (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino)
        if moved or (root is not None and not real.is_relative_to(root)):
            raise OutsideRootError(f"{display(path, root)} now points outside the served folders")
        if not looks_like_video(os.pread(fd, SNIFF_BYTES, 0)):
            raise NotAVideoError(f"{display(path, root)} is not a video file (no video container signature)")
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def display(path: Path, root: Path | None) -> str:
    """``path`` as users see it: relative to its root, or its file name."""
    return path.relative_to(root).as_posix() if root is not None and path.is_relative_to(root) else path.name


class Catalog:
    """The served roots and every file registered so far (thread-safe)."""

    def __init__(self, roots: tuple[Path, ...], key: bytes):
        self.roots = tuple(Path(r).resolve() for r in roots)
        self.key = key
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    # -- looking up -------------------------------------------------------------------------
    def resolve(self, name: str) -> Entry:
        """The entry for an id or a root-relative path of a video; 4xx errors for anything else."""
        if not isinstance(name, str) or not name:
            raise UsageError("video must be a non-empty string")
        with self._lock:
            entry = self._entries.get(name)
        if entry is not None:
            return self.checked(entry)
        real, root = self._resolve_relative(name, "video")
        return self.register_checked(real, root)

    def resolve_image(self, name: str) -> Path:
        """The real path of a query image under a root (image suffix only; never registered)."""
        real, root = self._resolve_relative(name, "image")
        if real.suffix.lower() not in IMAGE_SUFFIXES:
            raise UsageError(f"image {display(real, root)!r} must be a picture file "
                             f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        return real

    def get(self, ident: str) -> Entry:
        """The registered entry ``ident``, re-checked; VideoNotFoundError (404) for unknown ids."""
        return self.checked(self._lookup(ident))

    def open_id(self, ident: str) -> tuple[Entry, int, os.stat_result]:
        """``(entry, open descriptor, stat)`` of the registered video ``ident``, checked on the
        opened file (:func:`open_video`); the caller closes the descriptor."""
        entry = self._lookup(ident)
        fd, info = self.open(entry)
        return entry, fd, info

    def _lookup(self, ident: str) -> Entry:
        with self._lock:
            entry = self._entries.get(ident)
        if entry is None:
            raise VideoNotFoundError(f"no video with id {ident[:40]!r}")
        return entry

    def checked(self, entry: Entry) -> Entry:
        """``entry`` if its file is still a video inside its root (:func:`open_video`)."""
        fd, _ = self.open(entry)
        os.close(fd)
        return entry

    def open(self, entry: Entry) -> tuple[int, os.stat_result]:
        """:func:`open_video` on ``entry`` (library videos need no suffix: the library chose them)."""
        return open_video(entry.path, entry.root, require_suffix=entry.root is not None)

    def _resolve_relative(self, name: str, what: str) -> tuple[Path, Path]:
        """``(real path, root)`` of a root-relative name, refusing anything that leaves the root."""
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
            return real, root
        raise VideoNotFoundError(f"{what} not found in the served folders: {name}")

    # -- registering ------------------------------------------------------------------------
    def register_checked(self, real: Path, root: Path) -> Entry:
        """Register a file under ``root`` once it has passed :func:`open_video`."""
        fd, _ = open_video(real, root)
        os.close(fd)
        return self.register(real, real.relative_to(root).as_posix(), root)

    def register(self, path: Path, name: str, root: Path | None) -> Entry:
        entry = Entry(video_id(path, self.key), path, name, root)
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
                        found.append(self.register_checked(*self._resolve_relative(rel, "video")))
                    except (UsageError, VideoNotFoundError, NotAVideoError):  # out of the root, or no video
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

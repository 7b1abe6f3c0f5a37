"""Small file helpers: atomic writes, so an interrupted run never leaves a half-written file."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def is_file(path: str | Path) -> bool:
    """``Path.is_file`` that answers False instead of raising for names the file system refuses
    (longer than 255 bytes, ...): paths read from untrusted files are only ever looked up."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):  # ValueError: an embedded NUL byte
        return False


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it over ``path`` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name must fit the 255-byte limit even when ``path``'s own name nearly fills it.
    short = path.name.encode("utf-8", "surrogateescape")[:100].decode("utf-8", "ignore")
    fd, tmp = tempfile.mkstemp(prefix=f".{short}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode(path))  # mkstemp makes 0600: reports and results must stay shareable
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file_mode(path: Path) -> int:
    """The mode a plain ``open(path, "w")`` would give: the existing file's, else 0666 minus the
    umask (read from /proc, since ``os.umask`` can only be read by setting it, racing threads)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        pass
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o644


def atomic_write_text(path: str | Path, text: str) -> None:
    """UTF-8; lone surrogates (undecodable bytes from argv or file names) are written back as the
    bytes they stand for, or as U+FFFD, instead of failing after all the work is done."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            data = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "replace")
    atomic_write_bytes(path, data)

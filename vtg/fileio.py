"""Small file helpers: atomic writes, so an interrupted run never leaves a half-written file, and
reads of files vtg wrote that refuse anything else (JSON Lines: :mod:`vtg.jsonl`)."""

from __future__ import annotations

import errno
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
    """Write to a temporary file beside ``path`` and rename it over ``path`` (atomic on POSIX).

    ``path`` itself is never opened: a symlink, a folder or a device there is refused (the
    backstop of :func:`vtg.outputs.check_output`, which commands call earlier, with their inputs),
    and a failing disk is a :class:`vtg.outputs.WriteError` naming the file, not a traceback.
    """
    from vtg.outputs import WriteError, check_output

    path = Path(path)
    check_output(path)
    try:
        _atomic_write(path, data)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None


def fsync_path(path: str | Path) -> None:
    """Flush ``path`` (a file, or a folder: after a rename in it, so the new name survives a crash)
    to disk by path, for writers that rename temporaries into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name must fit the 255-byte limit even when ``path``'s own name nearly fills it.
    short = path.name.encode("utf-8", "surrogateescape")[:100].decode("utf-8", "ignore")
    fd, tmp = tempfile.mkstemp(prefix=f".{short}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode(path))  # mkstemp makes 0600: reports and results must stay shareable
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_mode(path: Path) -> int:
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


def open_regular(path: str | Path):
    """``open(path, "rb")`` for a file vtg wrote itself (cache entries, shards, sidecars), that
    refuses anything else without ever blocking: opened with ``O_NONBLOCK`` (a FIFO planted in a
    cache or library folder opens at once instead of waiting for a writer that never comes), then
    checked with ``fstat`` on the opened file (no window between check and use). A FIFO, device,
    socket or folder (also behind a symlink, e.g. to ``/dev/zero``) is an OSError saying so."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"{path} is not a regular file but {_kind(mode)}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a plain file"


def require_regular(path: str | Path, *, missing_ok: bool = False) -> None:
    """Raise OSError when ``path`` exists (following links) and is not a regular file, for files a
    library (SQLite) opens itself, where :func:`open_regular` cannot be used. ``stat`` never blocks."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, f"not a regular file but {_kind(mode)}")


#: Sidecars and other small JSON files vtg writes are a few KiB; anything far larger is not one.
TEXT_LIMIT = 1 << 20


def read_regular_text(path: str | Path, limit: int = TEXT_LIMIT) -> str:
    """A small UTF-8 file vtg wrote (a cache sidecar), through :func:`open_regular` and at most
    ``limit`` bytes (OSError beyond: a sidecar replaced by a huge file is not read into memory)."""
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"{path} is larger than {limit} bytes; not a file vtg wrote")
    return data.decode("utf-8")


def load_array(path: str | Path, dtype, shape: tuple[int, ...] | None = None, *, mmap: bool = True):
    """A ``.npy`` file as written by vtg: no pickles, memory-mapped read-only unless ``mmap`` is
    False, and of exactly ``dtype`` (and ``shape`` when given). OSError when it cannot be read or
    is not a regular file (a FIFO never blocks, see :func:`open_regular`), ValueError naming what
    it holds when it is not what the caller's index says or is shorter than its header declares
    (checked before anything is allocated or mapped); the feature cache and library shards turn
    those into their own remedies."""
    import numpy as np

    want = np.dtype(dtype)
    with open_regular(path) as fh:
        declared, fortran, found = _npy_header(fh, path)
        if found != want or fortran or (shape is not None and declared != tuple(shape)):
            expected = f"{want} {tuple(shape)}" if shape is not None else str(want)
            order = " (Fortran order)" if fortran else ""
            raise ValueError(f"{path} holds {found} {declared}{order}, expected {expected}")
        offset = fh.tell()
        count = int(np.prod(declared, dtype=np.int64))
        size = os.fstat(fh.fileno()).st_size
        if size < offset + count * want.itemsize:
            raise ValueError(f"{path} is truncated: its header declares {declared} ({count * want.itemsize} bytes "
                             f"of data), the file holds {max(0, size - offset)}")
        if count == 0:
            return np.zeros(declared, want)
        if mmap:
            return np.memmap(fh, dtype=want, mode="r", offset=offset, shape=declared)
        return np.fromfile(fh, dtype=want, count=count).reshape(declared)


def _npy_header(fh, path) -> tuple[tuple[int, ...], bool, object]:
    """(shape, fortran_order, dtype) from a ``.npy`` header; ValueError when it is not one."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(fh)
        if version == (1, 0):
            return npy.read_array_header_1_0(fh)
        if version == (2, 0):
            return npy.read_array_header_2_0(fh)
    except (ValueError, SyntaxError, EOFError) as exc:
        raise ValueError(f"{path} is not a .npy file vtg wrote ({exc})") from None
    raise ValueError(f"{path} has .npy format version {version}, which vtg does not write")

"""Output guards: refuse, before a byte changes and before expensive work, any output that would
clobber something vtg did not write.

Every command that writes a file calls :func:`check_output` (or :func:`check_output_dir` for a
folder of outputs) as soon as it knows its inputs, so a mistake such as ``vtg eval P GT -o GT``,
``vtg overlay v.mp4 -o v.mp4`` or ``-o`` naming a symlink to a video is one ``vtg: error:`` line
and a non-zero exit, with every file untouched, instead of a lost input after minutes of work.

Refused (each with one line naming the path):

* an output that is a symbolic link (writing through it would change whatever it points at, and
  the rename of an atomic write would silently replace the link instead);
* an output that is an existing directory, or something other than a regular file (a FIFO, a
  device node: ``os.replace`` would swap ``/dev/null`` itself for a file when run as root);
* an output that is the same file as any input, compared by ``st_dev``/``st_ino``
  (``os.path.samefile``), so a hard link, a symlink to the input, ``./x`` versus ``x`` or another
  mount of the same file all count as the input;
* an output whose folder cannot be created or written (checked up the tree to the first folder
  that exists), with what to do.

Whole files are then written with :func:`vtg.fileio.atomic_write_bytes` (temporary sibling +
rename), or, for files another program produces (ffmpeg, matplotlib, PyAV), to
:func:`temporary_sibling` and :func:`commit` -ed with ``os.replace`` when complete.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Iterable

from vtg.errors import UsageError, VtgError


class OutputError(UsageError):
    """An output path vtg refuses to write (would clobber an input, a link, a folder...)."""


class WriteError(VtgError, OSError):
    """Writing an output failed on the machine's side (disk full, read-only, permissions). Also an
    ``OSError``, so code that tolerates a failed write (a cache) still catches it as one."""


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # ENAMETOOLONG, ENOTDIR, an embedded NUL
        raise OutputError(f"cannot use {path} as an output: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` are one file (device and inode), following links; False when
    either does not exist or cannot be looked up."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _inputs(inputs: Iterable[str | Path | None]) -> list[Path]:
    return [Path(p) for p in inputs if p is not None]


def check_output(path: str | Path, *, inputs: Iterable[str | Path | None] = (), what: str = "output") -> Path:
    """Refuse ``path`` as a whole-file output (see the module docstring); returns it as a Path.

    ``what`` names the output in the message (``"-o"``, ``"--times"``...). An existing regular
    file that is none of the inputs may be replaced: it is the output of an earlier run. A file
    named by a command-line flag (``what`` starting with ``-``) must go into an existing folder: a
    typo in ``-o /data/reslts/out.json`` is one line naming the missing folder, not a new tree.
    """
    path = Path(path)
    if what.startswith("-"):
        check_folder_exists(path, what)
    st = _lstat(path)
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(f"{what} {path} is a symbolic link; vtg does not write through links "
                              "(it would change the file the link points to): name a new file")
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{what} {path} is an existing directory; name a file inside it")
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"{what} {path} exists and is not a regular file; name a new file")
        for source in _inputs(inputs):
            if same_file(path, source):
                alias = "" if os.path.abspath(source) == os.path.abspath(path) else f" (same file as {source})"
                raise OutputError(f"{what} {path} is an input of this command{alias}; "
                                  "vtg never overwrites its input: name a new file")
    check_writable_parent(path, what=what)
    return path


def check_folder_exists(path: Path, what: str) -> None:
    """The folder ``path`` goes in exists (and is a folder), else one line naming it."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        is_dir, exists = parent.is_dir(), parent.exists()
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot write {what} {path}: {_reason(exc)}") from None
    if not exists:
        raise OutputError(f"cannot write {what} {path}: folder {parent} does not exist (create it first; "
                          "vtg does not create folders for a file output)")
    if not is_dir:
        raise OutputError(f"cannot write {what} {path}: {parent} is not a directory")


def check_output_dir(folder: str | Path, *, inputs: Iterable[str | Path | None] = (), what: str = "output folder") -> Path:
    """A folder vtg writes files into: must not be an existing non-directory or an input file,
    and must be creatable and writable. A symlink to a directory is accepted (a folder on
    another disk is common); the files inside it are checked one by one with :func:`check_output`."""
    folder = Path(folder)
    try:
        exists = folder.exists()
        is_dir = folder.is_dir()
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot use {folder} as {what}: {_reason(exc)}") from None
    if exists and not is_dir:
        named = next((s for s in _inputs(inputs) if same_file(folder, s)), None)
        extra = " (an input of this command)" if named is not None else ""
        raise OutputError(f"{what} {folder} exists and is not a directory{extra}; name a folder")
    if is_dir:
        _check_dir_writable(folder, what)
    else:
        check_writable_parent(folder, what=what)
    return folder


def check_writable_parent(path: str | Path, *, what: str = "output") -> None:
    """The folder ``path`` goes in exists and is writable, or can be created (the first existing
    ancestor is a writable directory); else one line saying which folder and why."""
    parent = Path(path).parent if str(Path(path).parent) else Path(".")
    probe = parent
    while True:
        try:
            if probe.exists():
                break
        except (OSError, ValueError) as exc:
            raise OutputError(f"cannot write {what} {path}: {_reason(exc)}") from None
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"cannot write {what} {path}: {probe} is not a directory")
    _check_dir_writable(probe, f"{what} {path}: folder")


def _check_dir_writable(folder: Path, what: str) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {what} {folder}: permission denied (read-only folder?); "
                          "choose a writable location")
    try:  # root passes os.access everywhere; /proc, a read-only mount or a full inode table do not
        with tempfile.TemporaryFile(dir=folder):  # unnamed where the system allows: nothing is left
            pass
    except OSError as exc:
        raise OutputError(f"cannot write {what} {folder}: {_reason(exc)}; choose a writable location") from None


def temporary_sibling(path: str | Path, tag: str = "partial") -> Path:
    """A hidden name beside ``path`` with the same suffix (ffmpeg and matplotlib pick the format
    from it), short enough for the 255-byte name limit."""
    path = Path(path)
    stem = path.stem.encode("utf-8", "surrogateescape")[:150].decode("utf-8", "ignore")
    return path.with_name(f".{stem}.{tag}{os.getpid()}{path.suffix}")


class staged:
    """``with staged(dst, inputs=...) as tmp:`` - another program writes ``tmp``; on success it is
    renamed over ``dst`` (after checking ``dst`` again: it may have become a link meanwhile), on
    failure removed. ``dst`` itself is never opened for writing."""

    def __init__(self, dst: str | Path, *, inputs: Iterable[str | Path | None] = (), what: str = "output"):
        self.dst = Path(dst)
        self.inputs = list(inputs)
        self.what = what
        self.tmp = temporary_sibling(self.dst)

    def __enter__(self) -> Path:
        check_output(self.dst, inputs=self.inputs, what=self.what)
        self.dst.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(self.tmp):  # a leftover (or planted link) under our own temporary name:
            os.unlink(self.tmp)        # removing a link never touches what it points to
        return self.tmp

    def __exit__(self, exc_type, *_) -> None:
        try:
            if exc_type is None:
                check_output(self.dst, inputs=self.inputs, what=self.what)
                os.replace(self.tmp, self.dst)
        finally:
            self.tmp.unlink(missing_ok=True)


__all__ = ["OutputError", "check_output", "check_output_dir", "check_writable_parent", "same_file",
           "staged", "temporary_sibling"]

"""Can an output be written where the user asked? Answered before the work, not after it.

Grounding an hour of video or numbering its frames takes minutes; finding out afterwards that
``-o`` names a directory, or a path under a regular file, or a read-only disk, throws that work
away. :func:`check_output_file` / :func:`check_output_dir` look first: the name is not an existing
directory (or file), every existing part of the path is a directory, and a file can be created in
the nearest existing folder (an unnamed temporary file, so nothing is left behind, and no folder is
created before the work succeeds). They check *where* vtg may write; whether an existing file may
be replaced is a separate rule (vtg never clobbers a file it did not write).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from vtg.errors import VtgError


class OutputPathError(VtgError):
    """An output cannot be written at the path given (a directory, under a file, read-only)."""

    exit_code = 2


def _nearest_existing(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path(".")


def _probe_folder(folder: Path, path: Path, flag: str) -> None:
    if not folder.is_dir():
        raise OutputPathError(f"{flag} {path}: {folder} is a file, not a folder; choose another path")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputPathError(f"{flag} {path}: cannot write in {folder} ({exc.strerror or exc}); "
                              "choose a writable location") from None


def check_output_file(path: str | Path | None, flag: str = "-o") -> None:
    """Refuse, before any work, an output file that could not be written at ``path``."""
    if path is None:
        return
    path = Path(path).expanduser()
    try:
        if path.is_dir():
            raise OutputPathError(f"{flag} {path} is a directory; give a file name")
        _probe_folder(_nearest_existing(path), path, flag)
    except OSError as exc:  # a name the file system refuses (too long, ...)
        raise OutputPathError(f"{flag} {path}: {exc.strerror or exc}") from None


def check_output_dir(path: str | Path | None, flag: str = "--out-dir") -> None:
    """Refuse, before any work, an output folder that could not be created or written."""
    if path is None:
        return
    path = Path(path).expanduser()
    try:
        if path.exists() and not path.is_dir():
            raise OutputPathError(f"{flag} {path} is a file, not a folder")
        _probe_folder(path if path.is_dir() else _nearest_existing(path), path, flag)
    except OSError as exc:
        raise OutputPathError(f"{flag} {path}: {exc.strerror or exc}") from None

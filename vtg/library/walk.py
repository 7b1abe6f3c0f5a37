"""Finding the videos under a library's folders.

Rules, chosen so that indexing a folder never reaches outside it and never loops:

* a file counts as a video by its extension (:data:`vtg.batch.inputs.VIDEO_EXTENSIONS`, any case);
* directories are walked without following symbolic links (no loops, no escapes);
* a symbolic link to a *file* is taken only when its target resolves inside the same root (so a
  link to ``/etc`` or a sibling folder is skipped and reported), and it stands for its target: a
  video reached twice is indexed once, under its real path;
* names are handled as the OS gives them (bytes that are not UTF-8, newlines, leading dashes):
  paths are only ever passed to the OS and to SQLite as bytes, never to a shell.

Hidden folders (``.git``, ``.cache``) are skipped: they hold no footage a user means to search.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from vtg.batch.inputs import VIDEO_EXTENSIONS
from vtg.errors import UsageError


@dataclass
class Walk:
    """What a walk found: ``videos`` (real absolute path -> os.stat_result) and what it skipped."""

    roots: list[Path]
    videos: dict[Path, os.stat_result] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def resolve_roots(roots: Sequence[Path | str]) -> list[Path]:
    """Absolute real paths of existing folders; a missing or non-folder root is a usage error."""
    out: list[Path] = []
    for root in roots:
        p = Path(root).expanduser()
        if not p.is_dir():
            what = "does not exist" if not p.exists() else "is not a folder"
            raise UsageError(f"library root {p} {what}; `vtg index DIR... --library NAME` takes folders")
        real = p.resolve()
        if real not in out:
            out.append(real)
    return out


def is_video_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def walk(roots: Sequence[Path | str]) -> Walk:
    """Every video file under ``roots`` (see the module docstring for the rules)."""
    found = Walk(resolve_roots(roots))
    for root in found.roots:
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not is_video_name(name):
                    continue
                _add(found, root, Path(folder) / name)
    return found


def _add(found: Walk, root: Path, path: Path) -> None:
    try:
        if path.is_symlink():
            real = path.resolve(strict=True)
            if not inside(real, root):
                found.skipped.append((path, f"symbolic link to {real}, outside {root}"))
                return
        else:
            real = path
        st = real.stat()
    except (OSError, RuntimeError) as exc:  # broken link, loop, vanished meanwhile
        found.skipped.append((path, f"cannot be read: {getattr(exc, 'strerror', None) or exc}"))
        return
    if not os.path.isfile(real):
        found.skipped.append((path, "not a regular file"))
        return
    found.videos.setdefault(real, st)

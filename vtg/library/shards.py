"""Feature shards: float16 ``.npy`` files that many videos' frame features are packed into.

Why shards and not one file per video: a library of thousands of short clips would otherwise be
thousands of tiny files to open per search, and a file per frame block keeps the scan a few large
sequential reads. Why float16: it halves disk and page-cache use against float32 and keeps cosine
similarities of unit vectors to about 1e-3, far below the differences a ranking depends on.

A shard is two plain NumPy files that ``np.load(..., mmap_mode="r")`` maps without reading:
``<name>.npy`` (float16, [rows, *feature_shape]) and ``<name>.times.npy`` (float64 [rows], each
frame's timestamp in its video). Both are written under temporary names, flushed and fsynced,
then renamed and the folder fsynced; only after that does the manifest register the shard (see
:mod:`vtg.library.manifest`). A crash therefore leaves at worst a temporary file or a renamed
but unregistered shard, both of which :func:`sweep` deletes; a registered shard is complete.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vtg.errors import DataError
from vtg.fileio import fsync_path, load_array

DTYPE = np.dtype("<f2")
TIMES_DTYPE = np.dtype("<f8")
TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class ShardFile:
    """A shard written and renamed into place, ready to be registered."""

    name: str
    rows: int
    shape: tuple[int, ...]  # one frame's feature shape
    bytes: int


def new_name() -> str:
    """A fresh shard name: never reused, so a stale file can never be mistaken for a new one."""
    return uuid.uuid4().hex


def feature_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.npy"


def times_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.times.npy"


def write(folder: Path, features: np.ndarray, times: np.ndarray) -> ShardFile:
    """Write one shard durably (temporary names, fsync, rename, fsync of the folder)."""
    feats = np.ascontiguousarray(features, dtype=DTYPE)
    stamps = np.ascontiguousarray(times, dtype=TIMES_DTYPE)
    if feats.ndim < 2 or stamps.shape != (feats.shape[0],):
        raise ValueError(f"shard features {feats.shape} and times {stamps.shape} do not match")
    folder.mkdir(parents=True, exist_ok=True)
    name = new_name()
    pairs: list[tuple[Path, np.ndarray]] = [(feature_path(folder, name), feats), (times_path(folder, name), stamps)]
    written: list[Path] = []
    try:
        for final, array in pairs:
            tmp = final.with_name(final.name + TMP_SUFFIX)
            written.append(tmp)
            with open(tmp, "wb") as fh:
                np.lib.format.write_array(fh, array, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
        for (final, _), tmp in zip(pairs, written):
            os.replace(tmp, final)
        fsync_path(folder)
    except BaseException:
        for (final, _), tmp in zip(pairs, written):
            tmp.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
        raise
    return ShardFile(name, int(feats.shape[0]), tuple(int(d) for d in feats.shape[1:]),
                     int(feature_path(folder, name).stat().st_size))


def open_features(folder: Path, name: str, rows: int, shape: tuple[int, ...]) -> np.ndarray:
    """The shard's features memory-mapped read-only, checked against what the manifest recorded
    (a file whose header disagrees is damage, not something to allocate or index by)."""
    return _map(feature_path(folder, name), DTYPE, (rows, *shape))


def open_times(folder: Path, name: str, rows: int) -> np.ndarray:
    """The shard's frame timestamps, memory-mapped read-only and checked like the features."""
    return _map(times_path(folder, name), TIMES_DTYPE, (rows,))


def _map(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    try:
        return load_array(path, dtype, shape)
    except (OSError, ValueError) as exc:
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        raise DataError(f"library shard {path} is missing, damaged or not what the manifest says ({reason}); "
                        "run `vtg index` on the library's folders again to rebuild it") from None


def delete(folder: Path, name: str) -> None:
    for path in (feature_path(folder, name), times_path(folder, name)):
        path.unlink(missing_ok=True)


def sweep(folder: Path, registered: set[str]) -> list[str]:
    """Delete temporary files and shards the manifest does not know (left by a crash); returns
    what was deleted. Only names this module writes are touched, so a stray user file stays."""
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        name = path.name
        temporary = name.endswith(TMP_SUFFIX)
        base = name[:-len(TMP_SUFFIX)] if temporary else name
        for suffix in (".times.npy", ".npy"):
            if base.endswith(suffix):
                stem = base[:-len(suffix)]
                if _is_shard_name(stem) and (temporary or stem not in registered):
                    path.unlink(missing_ok=True)
                    removed.append(name)
                break
    return removed


def _is_shard_name(stem: str) -> bool:
    return len(stem) == 32 and all(c in "0123456789abcdef" for c in stem)


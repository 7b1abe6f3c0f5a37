"""The on-disk form of one feature-cache entry: streamed in, memory-mapped out.

An entry is three files beside each other in the cache folder:

* ``<key>.npy`` — the features as float16 [T, ...] in NumPy's ``.npy`` format. Written as a
  stream: a fixed-size header placeholder, then each batch as it leaves the encoder, then the
  header rewritten with the final shape; so writing holds one batch, not the whole array (the
  old ``np.savez`` into a buffer peaked at ~3x the feature size). Read back with
  ``np.load(mmap_mode="r")``: opening an hour of BLIP-2 features costs a header parse, and
  pages are read only when a method touches them.
* ``<key>.times.npy`` — the frames' times, float64 (exact).
* ``<key>.json`` — the sidecar (what, how, shape, dtype), written last: an entry is complete
  exactly when its sidecar exists.

Stored once with a library: ``vtg index DIR --library`` packs each video's features into the
library's shards (:mod:`vtg.library.shards`). Once a shard is durable and registered, the entry's
sidecar is rewritten (atomically) with a ``stored`` field naming the shard's two files and the
video's first row, and the entry's own two arrays are deleted (:func:`link_to_shard`): the shard
*is* the store of that video's features, and a hit memory-maps the video's rows of it. Why this
way round and not a manifest pointing at per-video entries: a library's exact scan reads a few
large shards sequentially; thousands of per-video files would be thousands of opens and maps per
search. The shard name is never reused, so an existing file is the one the entry names; a shard
that was deleted since (its library removed, its videos rewritten) makes the entry a miss that is
recomputed, as for any damaged entry.

Why float16: the features are L2-normalised (every value in [-1, 1]), where float16 keeps
about three significant digits, below what cosine rankings resolve; it halves the cache, the
page-cache footprint and the bytes a query reads. The arrays a first call returns are the stored
ones, so the first and every later query see the same numbers.

Validation: shapes, dtype, file sizes and times are checked on every load (cheap); the features'
finiteness is checked once per process for each file version (path, size, mtime), so a server
or batch answering many queries on one video does not re-read the whole file each time.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import struct
import threading
import time
from pathlib import Path

import numpy as np

from vtg import fileio
from vtg.fileio import atomic_write_text, load_array, read_regular_text

DTYPE = np.float16
_HEADER = 128  # bytes: the .npy preamble + header dict, padded (a multiple of 64, as NumPy aligns)
_MAGIC = b"\x93NUMPY\x01\x00"
_VALIDATED: set[tuple[str, int, int, tuple[int, int] | None]] = set()
_LOCK = threading.Lock()


def paths(folder: Path, key: str) -> tuple[Path, Path, Path]:
    """(features .npy, times .npy, sidecar .json) of an entry."""
    return folder / f"{key}.npy", folder / f"{key}.times.npy", folder / f"{key}.json"


def npy_header(shape: tuple[int, ...], dtype=DTYPE) -> bytes:
    """A version-1.0 ``.npy`` header of exactly ``_HEADER`` bytes for a C-ordered array."""
    text = repr({"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                 "shape": tuple(int(d) for d in shape)})
    body = _HEADER - len(_MAGIC) - 2
    if len(text) + 1 > body:
        raise ValueError(f"shape {shape} does not fit the fixed .npy header")
    return _MAGIC + struct.pack("<H", body) + (text.ljust(body - 1) + "\n").encode("latin1")


class EntryWriter:
    """Streams feature batches into a temporary ``.npy`` beside the entry; :meth:`commit` renames it.

    Only the times (float64, 8 bytes a frame) are kept in memory until the end. Nothing under the
    entry's final names is touched before both arrays are complete on disk: a write that fails
    (a full disk, ``ulimit -f``) leaves no partial entry, and an earlier entry of the same key
    stays as it was. Writes are unbuffered and a failed one is cut back to the last whole batch,
    so :meth:`written` can always read back what was streamed."""

    def __init__(self, folder: Path, key: str):
        self.final, self.times_path, _ = paths(folder, key)
        remove_orphans(folder)
        stem = f".{key}.{os.getpid()}.{threading.get_ident()}"
        self.tmp = folder / f"{stem}.npy.tmp"
        self.times_tmp = folder / f"{stem}.times.npy.tmp"
        self.tail: tuple[int, ...] | None = None
        self.count = 0
        self.times: list[np.ndarray] = []
        self.fh = open(self.tmp, "wb", buffering=0)
        try:
            _write_all(self.fh, b"\0" * _HEADER)
        except OSError:
            self.abort()
            raise

    def add(self, times: np.ndarray, feats: np.ndarray) -> None:
        half = np.ascontiguousarray(feats, dtype=DTYPE)
        if self.tail is None:
            self.tail = tuple(half.shape[1:])
        elif tuple(half.shape[1:]) != self.tail:
            raise ValueError(f"feature batches disagree in shape: {half.shape[1:]} after {self.tail}")
        try:
            _write_all(self.fh, half.tobytes())
        except OSError:
            self.fh.truncate(_HEADER + self.count * self._row_bytes())  # back to the last whole batch
            raise
        self.count += len(half)
        self.times.append(np.asarray(times, np.float64))

    def _row_bytes(self) -> int:
        return int(np.prod(self.tail or (), dtype=np.int64)) * np.dtype(DTYPE).itemsize

    def written(self) -> np.ndarray:
        """What was streamed so far, read back into memory (when the entry cannot be finished)."""
        data = np.fromfile(self.tmp, dtype=DTYPE, offset=_HEADER, count=self.count * int(np.prod(self.tail or ())))
        return data.reshape(self.count, *(self.tail or ()))

    def all_times(self) -> np.ndarray:
        return np.concatenate(self.times) if self.times else np.zeros(0, np.float64)

    def commit(self, tail: tuple[int, ...]) -> Path:
        """Finish both arrays under temporary names, flush them to disk, then move them into place
        (sidecar: the caller). On an OSError nothing has been renamed; :meth:`abort` removes both."""
        import io

        shape = (self.count, *(self.tail if self.tail is not None else tail))
        self.fh.seek(0)
        _write_all(self.fh, npy_header(shape))
        os.fsync(self.fh.fileno())
        self.fh.close()
        buf = io.BytesIO()
        np.save(buf, self.all_times())
        with open(self.times_tmp, "wb", buffering=0) as fh:
            _write_all(fh, buf.getvalue())
            os.fsync(fh.fileno())
        for tmp, final in ((self.tmp, self.final), (self.times_tmp, self.times_path)):
            os.chmod(tmp, fileio.file_mode(final))
        os.replace(self.tmp, self.final)
        os.replace(self.times_tmp, self.times_path)
        return self.final

    def abort(self) -> None:
        try:
            self.fh.close()
        finally:
            self.tmp.unlink(missing_ok=True)
            self.times_tmp.unlink(missing_ok=True)


def _write_all(fh, data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file (a raw write may take only part of it)."""
    view = memoryview(data)
    while view:
        n = fh.write(view)
        if not n:
            raise OSError(errno.EIO, "the file system accepted no bytes")
        view = view[n:]


#: A temporary entry untouched this long, whose writing process is gone, is an orphan.
ORPHAN_SECONDS = 600
_TMP = re.compile(r"^\.[0-9a-f]{64}\.(\d+)\.\d+\.(?:times\.)?npy\.tmp$")


def remove_orphans(folder: Path, now: float | None = None) -> list[Path]:
    """Delete temporary entries left by writers that were killed (``kill -9``, a crash, power loss):
    an hour of BLIP-2 features is gigabytes, and nothing else would ever remove them.

    Only files with :class:`EntryWriter`'s exact name pattern, whose process id is not running
    here and which nobody has written to for :data:`ORPHAN_SECONDS` (a cache folder shared with
    another machine may hold its live writes: those stay fresh). Returns what was removed."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _TMP.match(name)
        if match is None or _running(int(match.group(1))):
            continue
        path = folder / name
        try:
            found = path.lstat()  # not following a link: a symlink is never ours
            if stat.S_ISREG(found.st_mode) and now - found.st_mtime > ORPHAN_SECONDS:
                path.unlink()
                removed.append(path)
        except OSError:  # gone already, or not ours to remove: leave it
            continue
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):
        return True  # another user's live process (PermissionError), or cannot tell: keep the file
    return True


def open_entry(folder: Path, key: str, meta: dict) -> tuple[np.ndarray, np.ndarray, Path, tuple[int, int]]:
    """(times float64 in memory, features float16 memory-mapped read-only, the file mapped, the
    rows ``(start, stop)`` of it that are this entry's); ValueError/OSError on anything that does
    not match the sidecar ``meta`` (its ``shape``, and its ``stored`` shard when it has one)."""
    shape = tuple(int(d) for d in meta["shape"])
    stored = meta.get("stored")
    if stored is None:
        feats_path, times_path, _ = paths(folder, key)
        feats = load_array(feats_path, DTYPE, shape)
        return load_array(times_path, np.float64, mmap=False), feats, feats_path, (0, shape[0])
    feats_path, times_path = Path(stored["features"]), Path(stored["times"])
    rows, start = int(stored["rows"]), int(stored["start"])
    stop = start + shape[0]
    if not 0 <= start <= stop <= rows:
        raise ValueError(f"rows {start}..{stop} are outside the shard's {rows}")
    feats = load_array(feats_path, DTYPE, (rows, *shape[1:]))[start:stop]
    times = np.array(load_array(times_path, np.float64, (rows,))[start:stop], np.float64)
    return times, feats, feats_path, (start, stop)


def link_to_shard(folder: Path, key: str, features: Path, times: Path, rows: int, start: int, frames: int, *,
                  moved_from: Path | None = None) -> bool:
    """Make the entry ``key`` refer to rows ``start..start + frames`` of a library shard
    (``features``/``times``, ``rows`` long) and delete the entry's own arrays; see the module
    docstring. The shard must be durable and registered already. Only a complete entry of
    ``frames`` frames whose feature shape the shard's matches is linked; with ``moved_from`` (a shard rewritten by compaction) only an
    entry that still refers to that shard. Returns whether the entry now refers to ``features``.
    The sidecar is replaced atomically before the arrays go, so a crash leaves a complete entry
    (at worst with its arrays still beside it until the next link)."""
    feats_path, times_path, meta_path = paths(folder, key)
    meta = json.loads(read_regular_text(meta_path))
    if meta.get("key") != key or not isinstance(meta.get("shape"), list) or not meta["shape"]:
        return False
    stored = meta.get("stored")
    if moved_from is not None and (stored is None or Path(stored.get("features", "")) != moved_from):
        return False
    shard = load_array(features, DTYPE)
    if int(meta["shape"][0]) != frames or shard.shape[0] != rows or list(shard.shape[1:]) != list(meta["shape"][1:]) \
            or not 0 <= start <= start + frames <= rows:
        return False
    meta["stored"] = {"features": str(features), "times": str(times), "rows": int(rows), "start": int(start)}
    atomic_write_text(meta_path, json.dumps(meta, indent=1))
    for array in (feats_path, times_path):
        array.unlink(missing_ok=True)
    return True


def finite_once(path: Path, feats: np.ndarray, span: tuple[int, int] | None = None) -> bool:
    """Whether ``feats`` is all finite, read through once per process for each version of the file
    (and each ``span`` of its rows: an entry stored in a shard is a slice of it)."""
    st = path.stat()
    version = (str(path), st.st_size, st.st_mtime_ns, span)
    with _LOCK:
        if version in _VALIDATED:
            return True
    ok = bool(all(np.isfinite(feats[i:i + 4096]).all() for i in range(0, len(feats), 4096)))
    if ok:
        with _LOCK:
            _VALIDATED.add(version)
    return ok


def entry_bytes(folder: Path, key: str) -> int:
    """Disk bytes of an entry's own files (the old single-file ``.npz`` form too); 0 for an entry
    stored in a library shard, whose bytes the library counts."""
    total = 0
    for path in (*paths(folder, key)[:2], folder / f"{key}.npz"):
        if path.is_file():
            total += path.stat().st_size
    return total

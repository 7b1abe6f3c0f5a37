"""The library's manifest: an embedded SQLite database (stdlib ``sqlite3``, WAL journal).

Why SQLite: it is in every Python, needs no server, and its transactions give exactly the
guarantee a resumable index needs. One row per video (``videos``), one per feature shard
(``shards``), and a few library-wide settings (``settings``: the encoder every row shares).

A video row says where the file is, what version of it was indexed (size, mtime, content key as
:func:`vtg.features.content_hash` computes it), how (duration, encoder, fps) and with what
outcome (``status`` ``ok`` with its shard rows, or ``error`` with the reason). ``path`` is the
file's absolute path as bytes (``os.fsencode``): file names need not be valid UTF-8, and a BLOB
keeps every name exactly. Rows are written only inside transactions that also register the shard
they point to, so a reader (or a rerun after SIGKILL) never sees a row without its features; a
path is UNIQUE, so every video appears once however often indexing is interrupted.

``feature_entry`` names the feature-cache entry (its folder/key, as bytes) whose sidecar refers
to the video's shard rows, so that moving the rows (compaction) moves the reference too: the
features are stored once, in the shard (see :mod:`vtg.feature_store`). Schema 1 manifests gain
the column (NULL: no entry to keep up to date) the first time they are opened.

WAL mode lets ``vtg search`` (and ``vtg serve``) read while an index runs; readers see the last
committed state.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from vtg.errors import DataError
from vtg.fileio import require_regular

SCHEMA_VERSION = 2

#: The setting naming the method whose feature settings indexed the library (the default method
#: of its searches).
METHOD_SETTING = "method"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shards (
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    rows INTEGER NOT NULL,
    shape TEXT NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS videos (
    id INTEGER PRIMARY KEY,
    path BLOB UNIQUE NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_key TEXT,
    duration REAL,
    encoder TEXT,
    fps REAL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    error TEXT,
    shard INTEGER REFERENCES shards(id),
    row_start INTEGER,
    frames INTEGER,
    indexed_at TEXT NOT NULL,
    feature_entry BLOB,
    CHECK ((status = 'ok') = (shard IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS videos_by_shard ON videos(shard);
"""


@dataclass(frozen=True)
class VideoRow:
    """One video of a library, as the manifest records it."""

    id: int
    path: Path
    key: str | None          # content key (vtg.features.content_hash) of the indexed version
    duration: float | None
    encoder: str | None
    status: str               # "ok" or "error"
    error: str | None
    fps: float | None = None
    frames: int = 0
    size: int = 0
    mtime_ns: int = 0
    shard: int | None = None
    row_start: int | None = None
    feature_entry: Path | None = None  # the feature-cache entry (folder/key) that refers to these rows


@dataclass(frozen=True)
class ShardRow:
    id: int
    name: str
    rows: int
    shape: tuple[int, ...]


_VIDEO_COLUMNS = ("id, path, content_key, duration, encoder, status, error, fps, frames, size, mtime_ns, shard, "
                  "row_start, feature_entry")


def _video(row) -> VideoRow:
    return VideoRow(id=row[0], path=Path(os.fsdecode(bytes(row[1]))), key=row[2], duration=row[3], encoder=row[4],
                    status=row[5], error=row[6], fps=row[7], frames=int(row[8] or 0), size=int(row[9]),
                    mtime_ns=int(row[10]), shard=row[11], row_start=row[12],
                    feature_entry=None if row[13] is None else Path(os.fsdecode(bytes(row[13]))))


def _check_files(path: Path, create: bool) -> None:
    """Refuse a manifest (or its WAL, shared-memory or rollback journal) that is not a regular
    file: SQLite would open a FIFO planted there and wait on it forever."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            require_regular(f"{path}{suffix}", missing_ok=create or bool(suffix))
        except OSError as exc:
            raise DataError(f"library manifest {path}{suffix} cannot be used: {exc.strerror or exc}; "
                            "remove it, or rebuild the library with `vtg index`") from None


def path_bytes(path: Path | str) -> bytes:
    return os.fsencode(os.fspath(path))


def _entry_bytes(entry: Path | str | None) -> bytes | None:
    return None if entry is None else path_bytes(entry)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Manifest:
    """The SQLite connection of one library, with the few queries the library needs."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        """Open the manifest at ``path``; ``create`` makes the tables (a new library). Opening an
        existing one writes nothing, so searches never wait for an index run's transactions."""
        self.path = path
        _check_files(path, create)
        self.db = sqlite3.connect(os.fspath(path), timeout=30.0, check_same_thread=False)
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        if create:
            self.db.execute("PRAGMA journal_mode=WAL")  # persistent: set once, with the tables
            self.db.executescript(_SCHEMA)
            with self.db:
                self.db.execute("INSERT OR IGNORE INTO settings VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        schema = self.setting("schema")
        if schema == "1":
            schema = self._add_feature_entries()
        if schema != str(SCHEMA_VERSION):
            raise DataError(f"library manifest {path} has schema {schema!r}; this vtg reads {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def _add_feature_entries(self) -> str:
        """Schema 1 -> 2: the ``feature_entry`` column (one transaction; another process may have
        done it meanwhile). Returns the schema now recorded."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self.setting("schema") == "1":
                self.db.execute("ALTER TABLE videos ADD COLUMN feature_entry BLOB")
                self.db.execute("UPDATE settings SET value = '2' WHERE key = 'schema'")
        return self.setting("schema") or ""

    # --- settings -----------------------------------------------------------------------
    def setting(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_settings(self, values: dict[str, str]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)", list(values.items()))

    # --- videos -------------------------------------------------------------------------
    def videos(self) -> list[VideoRow]:
        return [_video(r) for r in self.db.execute(f"SELECT {_VIDEO_COLUMNS} FROM videos ORDER BY id")]

    def video(self, video_id: int) -> VideoRow | None:
        row = self.db.execute(f"SELECT {_VIDEO_COLUMNS} FROM videos WHERE id = ?", (int(video_id),)).fetchone()
        return _video(row) if row else None

    def by_path(self) -> dict[bytes, VideoRow]:
        return {bytes(r[1]): _video(r) for r in self.db.execute(f"SELECT {_VIDEO_COLUMNS} FROM videos")}

    def snapshot(self) -> tuple[list[ShardRow], list[VideoRow]]:
        """Shards and indexed videos read in one transaction (a consistent view during an index)."""
        with self.db:
            self.db.execute("BEGIN")
            shards = self.shards()
            videos = [_video(r) for r in self.db.execute(
                f"SELECT {_VIDEO_COLUMNS} FROM videos WHERE status = 'ok' ORDER BY shard, row_start")]
        return shards, videos

    def touch(self, video_id: int, size: int, mtime_ns: int) -> None:
        """The file's stat changed but its content key did not: remember the new stat."""
        with self.db:
            self.db.execute("UPDATE videos SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, video_id))

    def record_error(self, path: Path, size: int, mtime_ns: int, key: str | None, error: str) -> None:
        """A video that could not be indexed: one row saying why (replacing an older version's)."""
        with self.db:
            self.db.execute(
                "INSERT INTO videos (path, size, mtime_ns, content_key, status, error, indexed_at) "
                "VALUES (?, ?, ?, ?, 'error', ?, ?) ON CONFLICT(path) DO UPDATE SET size = excluded.size, "
                "mtime_ns = excluded.mtime_ns, content_key = excluded.content_key, duration = NULL, "
                "encoder = NULL, fps = NULL, status = 'error', error = excluded.error, shard = NULL, "
                "row_start = NULL, frames = NULL, indexed_at = excluded.indexed_at, feature_entry = NULL",
                (path_bytes(path), size, mtime_ns, key, error, now()))

    def register_shard(self, name: str, rows: int, shape: tuple[int, ...], nbytes: int, entries: list[dict]) -> None:
        """One transaction: the shard, then every video whose features it holds (insert or
        replace the older version's row, keeping its id so links such as /videos/{id} stay valid)."""
        with self.db:
            cur = self.db.execute("INSERT INTO shards (name, rows, shape, bytes) VALUES (?, ?, ?, ?)",
                                  (name, rows, ",".join(map(str, shape)), nbytes))
            shard_id = cur.lastrowid
            stamp = now()
            self.db.executemany(
                "INSERT INTO videos (path, size, mtime_ns, content_key, duration, encoder, fps, status, error, "
                "shard, row_start, frames, indexed_at, feature_entry) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'ok', NULL, ?, ?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
                "content_key = excluded.content_key, duration = excluded.duration, encoder = excluded.encoder, "
                "fps = excluded.fps, status = 'ok', error = NULL, shard = excluded.shard, "
                "row_start = excluded.row_start, frames = excluded.frames, indexed_at = excluded.indexed_at, "
                "feature_entry = excluded.feature_entry",
                [(path_bytes(e["path"]), e["size"], e["mtime_ns"], e["key"], e["duration"], e["encoder"], e["fps"],
                  shard_id, e["row_start"], e["frames"], stamp, _entry_bytes(e.get("feature_entry")))
                 for e in entries])

    def drop(self, video_ids: list[int]) -> None:
        with self.db:
            self.db.executemany("DELETE FROM videos WHERE id = ?", [(int(i),) for i in video_ids])

    # --- shards -------------------------------------------------------------------------
    def shards(self) -> list[ShardRow]:
        return [ShardRow(r[0], r[1], int(r[2]), tuple(int(d) for d in r[3].split(",") if d))
                for r in self.db.execute("SELECT id, name, rows, shape FROM shards ORDER BY id")]

    def dead_shards(self) -> list[ShardRow]:
        """Shards no video points to any more (their videos were dropped or reindexed)."""
        return [ShardRow(r[0], r[1], int(r[2]), tuple(int(d) for d in r[3].split(",") if d))
                for r in self.db.execute("SELECT id, name, rows, shape FROM shards WHERE id NOT IN "
                                         "(SELECT shard FROM videos WHERE shard IS NOT NULL)")]

    def drop_shards(self, ids: list[int]) -> None:
        """Forget shards and the rows of every video stored in them (one transaction)."""
        with self.db:
            self.db.executemany("DELETE FROM videos WHERE shard = ?", [(int(i),) for i in ids])
            self.db.executemany("DELETE FROM shards WHERE id = ?", [(int(i),) for i in ids])

    def forget_shards(self, ids: list[int]) -> None:
        with self.db:
            self.db.executemany("DELETE FROM shards WHERE id = ?", [(int(i),) for i in ids])


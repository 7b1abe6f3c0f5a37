"""The batch output file as a crash-safe journal: whole lines appended, read back on resume.

Why it survives ``SIGKILL`` at any moment: each record is one ``os.write`` of a complete line
(ending in ``\\n``) to a file opened with ``O_APPEND``, followed by ``fsync`` (unless disabled).
A kill can only interrupt the last write, so at worst the file ends in a partial line; opening
the journal truncates everything after the last newline before anything is appended, so a torn
line never sits in the middle of the file and is simply redone. Written data lives in the kernel
as soon as ``write`` returns, so a killed process loses nothing it wrote; ``fsync`` additionally
protects against power loss.

An exclusive ``flock`` on the file stops two batches from appending to the same output at once
(which could duplicate a query).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from vtg.batch.inputs import qid_key
from vtg.errors import DataError, UsageError
from vtg.fileio import atomic_write_bytes


class Journal:
    """Append-only JSONL output with resume: ``open()``, ``append(record)``..., ``close()``."""

    def __init__(self, path: str | Path, *, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self.fd: int | None = None
        #: qid key -> "ok" | "error", for every record in the file.
        self.status: dict[str, str] = {}
        self.truncated_bytes = 0

    def __enter__(self) -> "Journal":
        return self if self.fd is not None else self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def open(self, *, drop_errors: bool = False) -> "Journal":
        """Lock the file, cut a torn last line, load what is done; optionally forget error records."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = self._open_locked()
        lines = self._read_whole_lines()
        if drop_errors and any(self._status(rec) == "error" for _, rec in lines):
            kept = b"".join(raw for raw, rec in lines if self._status(rec) != "error")
            atomic_write_bytes(self.path, kept)
            self.close()
            self.fd = self._open_locked()
            lines = self._read_whole_lines()
        for _, record in lines:
            self.status[qid_key(record.get("qid"))] = self._status(record)
        return self

    def _open_locked(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(f"another vtg batch is writing to {self.path}; wait for it or choose another -o") from None
        return fd

    def _read_whole_lines(self) -> list[tuple[bytes, dict[str, Any]]]:
        """Every complete line with its parsed record; a torn tail is truncated away first."""
        size = os.fstat(self.fd).st_size
        data = os.pread(self.fd, size, 0) if size else b""
        end = data.rfind(b"\n") + 1
        if end < len(data):
            os.ftruncate(self.fd, end)
            self.truncated_bytes = len(data) - end
            data = data[:end]
        out = []
        for number, raw in enumerate(data.splitlines(keepends=True), 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                raise DataError(f"{self.path} line {number} is not JSON: not a vtg batch output, or damaged; "
                                f"choose another -o") from None
            if not isinstance(record, dict):
                raise DataError(f"{self.path} line {number} is not a JSON object; choose another -o")
            out.append((raw, record))
        return out

    @staticmethod
    def _status(record: dict[str, Any]) -> str:
        return "error" if record.get("status") == "error" else "ok"

    def done(self, key: str) -> bool:
        return key in self.status

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one whole line, then flush it to disk."""
        if self.fd is None:
            raise RuntimeError("journal is not open")
        text = json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (invalid UTF-8 in the input, "\ud800" in a qid):
            data = (json.dumps(record, allow_nan=False) + "\n").encode("ascii")  # escape them, stay valid UTF-8
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        if self.fsync:
            os.fsync(self.fd)
        self.status[qid_key(record.get("qid"))] = self._status(record)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None

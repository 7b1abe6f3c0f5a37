"""The batch output file as a crash-safe journal: whole lines appended, read back on resume.

Why it survives ``SIGKILL`` at any moment: each record is one ``os.write`` of a complete line
(ending in ``\\n``) to a file opened with ``O_APPEND``, followed by ``fsync`` (unless disabled).
A kill can only interrupt the last write, so at worst the file ends in a partial line, which the
next run cuts before it appends (the interrupted query simply runs again). Written data lives in
the kernel as soon as ``write`` returns, so a killed process loses nothing it wrote; ``fsync``
additionally protects against power loss. An exclusive ``flock`` stops two batches from
appending to the same output at once (which could duplicate a query).

**Only vtg's own journal is ever touched.** :meth:`Journal.open` reads the whole existing file
*without changing it* and accepts it only when every complete line is a record vtg batch writes:

* current records start with the marker ``"vtg_batch": 1`` and carry ``status``, ``qid``,
  ``line``, the run's ``settings`` and (errors) ``error``/``error_kind``; results also pass the
  shared record validator (:mod:`vtg.predictions`);
* records of earlier vtg versions (no marker) are accepted only with exactly the fields those
  versions wrote (``Grounding.to_dict()`` + ``status`` + ``line``, or the six fields of an error
  record), and only when *every* line is such a record;
* an incomplete last line must be the beginning of a record (``{"vtg_batch": 1,`` or, after
  earlier-version lines, ``{"qid": ``); a last line that is a complete record without its
  newline (an editor removed it) is kept and given its newline.

Anything else - a text file without a trailing newline, a video, the input file, one foreign
line among thousands of records - is refused with one line naming the file, before a byte
changes. Blank lines and an empty file hold nothing and are accepted.

Error kinds (``error_kind``): ``input`` (the line itself is bad: malformed JSON, missing video,
empty query, unknown method...) stays final unless ``--retry-errors``; ``environment`` (missing
weights or package, device, out of memory, I/O) and ``internal`` (an unexpected exception) are
run again by default on resume, since their cause may have gone.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import os
import stat
from pathlib import Path
from typing import Any, Callable, Iterable

from vtg import jsonl
from vtg.batch.inputs import qid_key
from vtg.errors import (DataError, DependencyError, FFmpegError, LLMError, ModelError, UsageError, VideoError,
                        VtgError)
from vtg.fileio import atomic_write_bytes
from vtg.outputs import OutputError, WriteError, check_output, same_file
from vtg.predictions import check_prediction

MARKER = "vtg_batch"
FORMAT = 1
#: A torn line of the current format starts with this (the marker is always the first key).
LINE_PREFIX = b'{"' + MARKER.encode() + b'": ' + str(FORMAT).encode() + b","
LEGACY_PREFIX = b'{"qid": '
#: Fields of the records earlier vtg versions wrote (no marker, no settings).
LEGACY_OK_FIELDS = frozenset({"qid", "query", "vid", "video", "duration", "method", "pred_relevant_windows",
                              "pred_saliency_scores", "saliency_times", "saliency_scores", "meta",
                              "status", "line"})
LEGACY_ERROR_FIELDS = frozenset({"qid", "line", "video", "query", "status", "error"})
ERROR_KINDS = ("input", "environment", "internal")
#: Exception types whose error records are about the line itself (final unless --retry-errors).
INPUT_ERRORS = (DataError, UsageError, VideoError, FFmpegError)
#: Exception types caused by the machine or the installation (run again on resume).
ENVIRONMENT_ERRORS = (ModelError, DependencyError, LLMError, OSError, MemoryError, TimeoutError)
#: Their names, for records written before ``error_kind`` existed ("Type: reason").
INPUT_ERROR_NAMES = frozenset({"DataError", "UsageError", "EmptyQueryError", "UnknownNameError", "VideoError",
                               "VideoNotFoundError", "NotAVideoError", "CorruptVideoError",
                               "UnsupportedVideoError", "FFmpegError", "OutputError"})


class JournalError(DataError):
    """An existing ``-o`` that vtg cannot prove is its own batch output: refused, untouched."""


def error_kind(reason: str | BaseException) -> str:
    """``input``, ``environment`` or ``internal`` for an error record's cause. A plain string is
    a problem found while reading the line (malformed JSON, duplicate qid...): ``input``."""
    if isinstance(reason, str):
        return "input"
    if isinstance(reason, (WriteError, OutputError)):  # the cache folder, not the line
        return "environment"
    if isinstance(reason, INPUT_ERRORS):
        return "input"
    if isinstance(reason, ENVIRONMENT_ERRORS):
        return "environment"
    text = str(reason).lower()
    if isinstance(reason, RuntimeError) and any(w in text for w in ("out of memory", "cuda", "device")):
        return "environment"  # torch's OutOfMemoryError and device failures are RuntimeErrors
    return "input" if isinstance(reason, VtgError) else "internal"


def recorded_kind(record: dict[str, Any]) -> str:
    """The kind of an error record; records of earlier versions are classified by their
    ``"Type: reason"`` text (no type prefix: a line problem, ``input``)."""
    kind = record.get("error_kind")
    if kind in ERROR_KINDS:
        return kind
    head, sep, _ = str(record.get("error", "")).partition(":")
    if not sep or not head.isidentifier():
        return "input"
    return "input" if head in INPUT_ERROR_NAMES else "environment"


def _why_not_record(record: Any) -> str | None:
    """None when ``record`` is one vtg batch writes (now or earlier), else what is wrong."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    qid, line, status = record.get("qid"), record.get("line"), record.get("status")
    if isinstance(qid, bool) or not isinstance(qid, (str, int)):
        return "no string or integer qid"
    if isinstance(line, bool) or not isinstance(line, int):
        return "no input line number"
    if status not in ("ok", "error"):
        return "no status ok/error"
    if status == "error" and not isinstance(record.get("error"), str):
        return "an error record without its error"
    if MARKER in record:
        if record[MARKER] != FORMAT or isinstance(record[MARKER], bool):
            return f"unknown {MARKER} format {record[MARKER]!r}"
        if not isinstance(record.get("settings"), dict):
            return "no settings"
        if status == "error" and record.get("error_kind") not in ERROR_KINDS:
            return "no error_kind"
    elif set(record) != (LEGACY_ERROR_FIELDS if status == "error" else LEGACY_OK_FIELDS):
        return "fields vtg batch does not write"
    if status == "ok":
        try:
            check_prediction(record, "record")
        except DataError as exc:
            return str(exc).removeprefix("record: ")
    return None


class Journal:
    """Append-only JSONL output with resume: ``open()``, ``prepare()``, ``append(record)``..., ``close()``.

    ``inputs`` are files the output must not be (the batch input).
    """

    def __init__(self, path: str | Path, *, fsync: bool = True, inputs: Iterable[str | Path] = ()):
        self.path = Path(path)
        self.fsync = fsync
        self.inputs = [Path(p) for p in inputs]
        self.fd: int | None = None
        #: qid key -> "ok" | "error", for every record in the file.
        self.status: dict[str, str] = {}
        #: every complete record in the file (after :meth:`prepare`: those kept), in file order
        self.records: list[dict[str, Any]] = []
        self.truncated_bytes = 0
        #: where ``open(new_output=True)`` moved the previous output, if it did
        self.moved_to: Path | None = None
        self._raw: list[bytes] = []
        self._tail = b""
        self._tail_record = False

    def __enter__(self) -> "Journal":
        return self if self.fd is not None else self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- opening: look, never touch ------------------------------------------------------------

    def open(self, *, drop_errors: bool = False, new_output: bool = False, prepare: bool = True) -> "Journal":
        """Lock the file and read what it holds; refuse it, unchanged, unless it is vtg's.
        ``new_output`` moves a previous (vtg) output aside to ``NAME.~N~`` and starts an empty one.
        Then :meth:`prepare` (``drop_errors``: dropping every error record) unless ``prepare=False``,
        for a caller that first decides what to drop from :attr:`records`."""
        check_output(self.path, inputs=self.inputs, what="-o")
        self.fd = self._open_locked()
        try:
            self._load()
            if new_output and (self._raw or self._tail):
                self.moved_to = self._move_aside()
                self.fd = self._open_locked()
                self._load()
            if prepare:
                self.prepare(drop=(lambda record: record.get("status") == "error") if drop_errors else None)
        except BaseException:
            self.close()  # never keep the lock of a journal nobody will write
            raise
        return self

    def _open_locked(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW: the name became a symlink since the check
                raise OutputError(f"-o {self.path} is a symbolic link; name a new file") from None
            raise WriteError(f"cannot open {self.path} for writing: {exc.strerror or exc}") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or any(same_file(self.path, p) for p in self.inputs):
            os.close(fd)  # raced with a rename: check_output's reasons apply again
            check_output(self.path, inputs=self.inputs, what="-o")
            raise OutputError(f"-o {self.path} is not a regular file of its own; name a new file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(f"another vtg batch is writing to {self.path}; wait for it or choose another -o") from None
        return fd

    def _load(self) -> None:
        """Read and recognise every line; raises :class:`JournalError` (file untouched) unless the
        whole file is vtg's. The cyclic garbage collector is paused meanwhile: the records kept
        are millions of fresh containers (no cycles), and its passes over them made loading a
        large journal several times slower than parsing it."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._load_records()
        finally:
            if enabled:
                gc.enable()

    def _load_records(self) -> None:
        fd = self._open_fd()
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0) if size else b""
        end = data.rfind(b"\n") + 1
        self._tail, self._tail_record = data[end:], False
        self._raw, self.records, self.status = [], [], {}
        lines = data[:end].split(b"\n")[:-1] if end else []
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            record = self._parse(raw, number)
            why = "not JSON" if record is None else _why_not_record(record)
            if why:
                self._refuse(f"line {number} is not a vtg batch record ({why})")
            self._keep(raw + b"\n", record)
        if self._tail:
            self._check_tail(len(lines) + 1)

    @staticmethod
    def _parse(raw: bytes, number: int) -> Any:
        try:
            return jsonl.loads(raw, number)  # strict UTF-8: a record vtg wrote always is
        except jsonl.LineError:
            return None

    def _check_tail(self, number: int) -> None:
        record = self._parse(self._tail, number)
        if record is not None and _why_not_record(record) is None:
            self._tail_record = True  # a whole record that lost its newline: keep it
            self._keep(self._tail + b"\n", record)
            return
        head = self._tail[:len(LINE_PREFIX)]
        torn_current = LINE_PREFIX.startswith(head)  # the tail is, or begins with, the marker prefix
        torn_legacy = bool(self.records) and LEGACY_PREFIX.startswith(self._tail[:len(LEGACY_PREFIX)])
        if not (torn_current or torn_legacy) or not head.strip():
            self._refuse(f"its last line {number} has no newline and is not part of a vtg batch record")

    def _refuse(self, why: str) -> None:
        self.close()
        raise JournalError(f"-o {self.path} exists and is not a vtg batch output: {why}; vtg only appends to "
                           "its own output, and changed nothing: choose another -o")

    def _keep(self, raw: bytes, record: dict[str, Any]) -> None:
        self._raw.append(raw)
        self.records.append(record)
        self.status[qid_key(record.get("qid"))] = self._status(record)

    def _move_aside(self) -> Path:
        """Rename the (vtg) output to the first free ``NAME.~N~``; nothing is deleted."""
        n = 1
        while True:
            backup = self.path.with_name(f"{self.path.name}.~{n}~")
            if not os.path.lexists(backup):
                break
            n += 1
        try:
            os.rename(self.path, backup)
        except OSError as exc:
            raise WriteError(f"cannot move {self.path} aside to {backup}: {exc.strerror or exc}") from None
        self.close()
        return backup

    # --- preparing: the only changes to existing bytes -------------------------------------------

    def prepare(self, *, drop: Callable[[dict[str, Any]], bool] | None = None) -> "Journal":
        """Make the file appendable: cut a torn last line (or end a whole last record with its
        newline), and remove the records ``drop`` selects (atomically, by rewriting the file)."""
        dropped = [drop(r) for r in self.records] if drop else [False] * len(self.records)
        if any(dropped):
            kept = [(raw, r) for raw, r, d in zip(self._raw, self.records, dropped) if not d]
            atomic_write_bytes(self.path, b"".join(raw for raw, _ in kept))
            self.close()
            self.fd = self._open_locked()
            self._load()
            return self
        if self._tail_record:
            self._write(b"\n")
        elif self._tail:
            fd = self._open_fd()
            os.ftruncate(fd, os.fstat(fd).st_size - len(self._tail))
            self.truncated_bytes = len(self._tail)
        self._tail, self._tail_record = b"", False
        return self

    @staticmethod
    def _status(record: dict[str, Any]) -> str:
        return "error" if record.get("status") == "error" else "ok"

    def done(self, key: str) -> bool:
        return key in self.status

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one whole line, then flush it to disk."""
        if self.fd is None or self._tail:
            raise RuntimeError("journal is not open and prepared")
        self._write(jsonl.dumps(record).encode("utf-8"))  # lone surrogates come out escaped: valid UTF-8
        if self.fsync:
            os.fsync(self.fd)
        self.status[qid_key(record.get("qid"))] = self._status(record)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._open_fd(), view)
                view = view[written:]
        except OSError as exc:
            raise WriteError(f"cannot write to {self.path}: {exc.strerror or exc}") from None

    def _open_fd(self) -> int:
        if self.fd is None:
            raise RuntimeError("journal is not open")
        return self.fd

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None

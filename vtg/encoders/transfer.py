"""One hub file streamed into the Hugging Face cache, held to what the hub declared about it.

Why not ``hf_hub_download``: it trusts the server. Its size check runs after the body has
ended, so a CDN that answers a 115 KB file with an endless body fills the disk (3.1 GB in 150 s,
still going); it buffers 10 MB before each progress step, so a server that drips a byte a second
is never noticed; and it retries "until no progress" without an overall deadline. Here every
byte is counted as it arrives:

* the body may hold exactly the size the file list declared (and the HEAD request confirmed):
  the first byte past it is an error, and nothing past it is written;
* a ``Content-Length`` that disagrees with the declared size is refused before the body is read;
* the content must hash to the checksum the file list gave (sha256 for LFS files, the git blob
  id otherwise), so a truncated, padded or swapped body never lands in the cache;
* a stalled read ends after ``HF_HUB_DOWNLOAD_TIMEOUT`` seconds (default 10) and is resumed with
  a Range request at most :data:`RETRIES` times; the whole download has one deadline
  (:class:`Deadline`) checked after every chunk, so a drip feed ends too;
* the body goes to ``blobs/<id>.<pid>.<thread>.incomplete`` inside the cache and is removed on any failure;
  only a complete, verified blob is renamed into place and linked from the snapshot, in the
  layout huggingface_hub itself writes (``blobs/``, ``snapshots/<commit>/``, ``refs/main``), so
  transformers, open_clip and ``hf cache`` read it unchanged.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import quote, urlsplit

from vtg.envvars import positive_number
from vtg.errors import WeightsNotFoundError
from vtg.fileio import atomic_write_text

#: Transient failures (stall, dropped connection, short body) resumed with a Range request.
RETRIES = 3


class DownloadRefusedError(WeightsNotFoundError):
    """The hub declared or sent something vtg will not store (wrong size, checksum, odd names)."""


class DownloadTimeoutError(WeightsNotFoundError):
    """A download ran past its overall deadline."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a hub listing: its path in the repo, declared size and checksum."""

    name: str
    size: int
    blob_id: str  # git blob sha1, or the LFS sha256: also the blob's file name in the HF cache
    lfs: bool


class Deadline:
    """An overall deadline for one model's download (monotonic clock)."""

    def __init__(self, seconds: float, what: str, how_to_raise: str):
        self.seconds, self.what, self.how = seconds, what, how_to_raise
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; :class:`DownloadTimeoutError` once there are none."""
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise DownloadTimeoutError(f"downloading {self.what} took longer than its deadline of "
                                       f"{self.seconds:,.0f} s; {self.how}")
        return remaining


def read_timeout() -> float:
    """Seconds one read may wait for data: ``HF_HUB_DOWNLOAD_TIMEOUT`` (huggingface_hub's), else 10."""
    return positive_number("HF_HUB_DOWNLOAD_TIMEOUT", 10.0)


def storage_folder(cache_dir: str | Path, repo_id: str) -> Path:
    """``<cache>/models--org--name``, the folder huggingface_hub keeps a model repo in."""
    return Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))


def fetch_into_cache(repo_id: str, commit: str, remote: RemoteFile, cache_dir: str | Path, *,
                     endpoint: str, deadline: Deadline, progress: Callable[[int], Any]) -> Path:
    """Download ``remote`` of ``repo_id`` at ``commit`` into the HF cache; returns its snapshot path.

    A blob already complete in the cache (another revision shares it) is linked, not fetched."""
    storage = storage_folder(cache_dir, repo_id)
    blob = storage / "blobs" / remote.blob_id
    pointer = storage / "snapshots" / commit / remote.name
    if not (blob.is_file() and blob.stat().st_size == remote.size):
        blob.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(blob)
        # one partial file per writer: two processes fetching the same model never share one
        partial = blob.with_name(f"{blob.name}.{os.getpid()}.{threading.get_ident()}.incomplete")
        try:
            _stream(repo_id, commit, remote, partial, endpoint=endpoint, deadline=deadline, progress=progress)
            os.replace(partial, blob)
        finally:
            partial.unlink(missing_ok=True)
    else:
        progress(remote.size)
    _link(blob, pointer)
    refs = storage / "refs" / "main"
    refs.parent.mkdir(parents=True, exist_ok=True)
    if not refs.is_file() or refs.read_text().strip() != commit:
        atomic_write_text(refs, commit)  # readers never see it half written
    return pointer


def _stream(repo_id: str, commit: str, remote: RemoteFile, partial: Path, *, endpoint: str,
            deadline: Deadline, progress: Callable[[int], Any]) -> None:
    """The body of ``remote`` into ``partial``, counted, checked and hashed as it arrives."""
    url = f"{endpoint}/{repo_id}/resolve/{commit}/{quote(remote.name)}"
    location, headers = _locate(url, remote, endpoint, deadline)
    digest = hashlib.sha256() if remote.lfs else hashlib.sha1(b"blob %d\0" % remote.size)
    failures = 0
    with open(partial, "wb") as out:
        while True:
            before = out.tell()
            try:
                _receive(location, headers, remote, before, out, digest, deadline, progress)
                problem = f"the body ended after {out.tell():,} of {remote.size:,} bytes"
            except _Transient as exc:
                problem = str(exc)
            if out.tell() == remote.size:
                break
            failures = 0 if out.tell() > before else failures + 1
            if failures >= RETRIES:
                raise WeightsNotFoundError(f"downloading {remote.name} of {repo_id} failed {RETRIES} times "
                                           f"in a row: {problem}") from None
    if digest.hexdigest() != remote.blob_id:
        raise DownloadRefusedError(f"{remote.name} of {repo_id}: the content received does not match the "
                                   f"checksum the hub declared ({remote.blob_id[:12]}...); nothing was kept")


class _Transient(Exception):
    """A stall or dropped connection worth resuming."""


def _locate(url: str, remote: RemoteFile, endpoint: str, deadline: Deadline) -> tuple[str, dict]:
    """(where the body is, headers to send there): the hub's HEAD answer, its size checked."""
    from huggingface_hub import get_hf_file_metadata
    from huggingface_hub.utils import build_hf_headers

    meta = get_hf_file_metadata(url, timeout=min(read_timeout(), deadline.left()))
    if meta.size is not None and meta.size != remote.size:
        raise DownloadRefusedError(f"{remote.name}: the hub's file list declares {remote.size:,} bytes but its "
                                   f"download answer declares {meta.size:,}; refusing both")
    location = meta.location or url
    headers = build_hf_headers()
    if urlsplit(location).netloc != urlsplit(endpoint).netloc:
        headers.pop("authorization", None)  # a CDN never gets the user's token
    headers["Accept-Encoding"] = "identity"  # bytes as stored, so sizes and checksums mean what they say
    return location, headers


def _receive(location: str, headers: dict, remote: RemoteFile, start: int, out, digest, deadline: Deadline,
             progress: Callable[[int], Any]) -> None:
    """One GET from byte ``start``, appended to ``out``. Never writes past the declared size."""
    import httpx2
    from huggingface_hub.utils import get_session

    request_headers = dict(headers, **({"Range": f"bytes={start}-"} if start else {}))
    timeout = httpx2.Timeout(min(read_timeout(), deadline.left()))
    try:
        with get_session().stream("GET", location, headers=request_headers, timeout=timeout,
                                  follow_redirects=True) as response:
            _check_answer(response, remote, start)
            write_bounded(response.iter_raw(), out, digest, start=start, size=remote.size,
                          overflow=f"{remote.name}: the server sent more than the {remote.size:,} bytes the hub "
                                   "declared", progress=progress, deadline=deadline)
    except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
        deadline.left()
        raise _Transient(f"{type(exc).__name__}: {exc}") from None


def write_bounded(chunks: Iterable[bytes], out, digest, *, start: int, size: int, overflow: str,
                  progress: Callable[[int], Any], deadline: Deadline) -> int:
    """Append ``chunks`` to ``out`` (hashing them into ``digest``) from byte ``start``, never past
    the declared ``size``: the first chunk that would pass it stops the transfer with ``overflow``.
    The deadline is checked after every chunk, so a server that drips bytes also ends. Returns the
    bytes held afterwards. Shared by the hub's downloads and SlowFast's release download."""
    got = start
    for chunk in chunks:
        if got + len(chunk) > size:
            raise DownloadRefusedError(f"{overflow}; stopped there and kept nothing")
        out.write(chunk)
        digest.update(chunk)
        progress(len(chunk))
        got += len(chunk)
        deadline.left()
    return got


def _check_answer(response, remote: RemoteFile, start: int) -> None:
    """Status and Content-Length, before any byte of the body is read."""
    if response.status_code >= 400:
        raise WeightsNotFoundError(f"{remote.name}: the server answered HTTP {response.status_code} to the download")
    if start and response.status_code != 206:
        raise _Transient("the server ignored the resume (Range) request")
    length = response.headers.get("Content-Length")
    if length is not None:
        if not length.strip().isdigit() or int(length) != remote.size - start:
            raise DownloadRefusedError(f"{remote.name}: the server announces {length.strip()[:30]} bytes where the hub "
                                       f"declared {remote.size - start:,}; refused before reading")


def _remove_orphans(blob: Path) -> None:
    """Partial files of ``blob`` left by vtg processes that no longer run (SIGKILL, power loss):
    only vtg's own ``<id>.<pid>.<thread>.incomplete`` names, never huggingface_hub's."""
    for partial in blob.parent.glob(f"{blob.name}.*.*.incomplete"):
        pid = partial.name[len(blob.name) + 1:].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            partial.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _link(blob: Path, pointer: Path) -> None:
    """``snapshots/<commit>/<name>`` -> ``../../blobs/<id>`` (relative, as huggingface_hub links),
    made beside it and renamed over it (two writers never see a half-made link); a copy where the
    file system has no symlinks."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    temporary = pointer.with_name(f"{pointer.name}.{os.getpid()}.{threading.get_ident()}.link")
    try:
        try:
            os.symlink(os.path.relpath(blob, pointer.parent), temporary)
        except OSError:
            import shutil

            shutil.copyfile(blob, temporary)
        os.replace(temporary, pointer)
    finally:
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()

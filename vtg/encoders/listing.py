"""A model repo's file list from the hub, read as untrusted input, and the ceilings on downloads.

The list (``GET /api/models/{repo}/revision/main?blobs=true``) names every file with its size and
checksum; vtg decides what to fetch and how much disk and time to allow from it, so it is checked
before anything else happens: the body is read up to :data:`MAX_LISTING_BYTES`, must be the hub's
JSON, names must be relative paths inside the repo (no ``..``, no absolute or drive paths), sizes
whole non-negative numbers of bytes, checksums hex digests (they become file names in the cache).

Ceilings (raise them when a model really is that big):

* per file: :data:`DEFAULT_MAX_FILE_GB` GB (``VTG_MAX_FILE_GB``), the size past which the hub
  itself stops serving plain HTTP downloads;
* per model: :data:`DEFAULT_MAX_DOWNLOAD_GB` GB (``vtg --max-download-gb``, ``VTG_MAX_DOWNLOAD_GB``),
  and never more than the free space of the cache's disk;
* time: one deadline per model download, :data:`BASE_DEADLINE_S` s plus one second per
  :data:`MIN_RATE` bytes declared (``VTG_DOWNLOAD_DEADLINE`` seconds replaces it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from vtg.encoders.transfer import Deadline, DownloadRefusedError, RemoteFile
from vtg.errors import WeightsNotFoundError
from vtg.settings import DEFAULT_MAX_DOWNLOAD_GB, DEFAULT_MAX_FILE_GB, current_settings

GB = 1000**3
BASE_DEADLINE_S = 600.0
MIN_RATE = 1_000_000  # bytes per second a download must average past the base deadline
MAX_LISTING_BYTES = 16 << 20  # the list of a 10,000-file repo is ~3 MB
_HEX = {40: re.compile(r"[0-9a-f]{40}"), 64: re.compile(r"[0-9a-f]{64}")}


class RepoNotFoundError(WeightsNotFoundError):
    """The hub has no such repository (or it is private and no token was sent)."""


@dataclass(frozen=True)
class Listing:
    """A repo's commit and its files by name."""

    repo_id: str
    commit: str
    files: dict[str, RemoteFile]


def max_download_bytes() -> float:
    """The per-model download ceiling of the current session (``--max-download-gb``, ``$VTG_MAX_DOWNLOAD_GB``)."""
    return current_settings().max_download_gb * GB


def max_file_bytes() -> float:
    return current_settings().max_file_gb * GB


def deadline_seconds(total_bytes: int) -> float:
    """The overall deadline of a download of ``total_bytes``: ``VTG_DOWNLOAD_DEADLINE`` or the default."""
    return current_settings().download_deadline or BASE_DEADLINE_S + total_bytes / MIN_RATE


def check_download(repo_id: str, files: list[RemoteFile], free_bytes: int | None) -> int:
    """The total bytes of ``files``, refused over the per-file, per-model and free-disk ceilings."""
    per_file = max_file_bytes()
    for f in files:
        if f.size > per_file:
            raise DownloadRefusedError(f"{repo_id}: the hub declares {f.name} to be {f.size / GB:,.1f} GB, over the "
                                       f"per-file limit of {per_file / GB:,.1f} GB; set VTG_MAX_FILE_GB to allow it")
    total = sum(f.size for f in files)
    limit = max_download_bytes()
    if total > limit:
        raise DownloadRefusedError(f"{repo_id}: the hub declares {total / GB:,.1f} GB of model files, over the "
                                   f"download limit of {limit / GB:,.1f} GB; raise it with vtg --max-download-gb N "
                                   "(or VTG_MAX_DOWNLOAD_GB)")
    if free_bytes is not None and total > free_bytes:
        raise WeightsNotFoundError(f"{repo_id}: {total / GB:,.1f} GB to download but only {free_bytes / GB:,.1f} GB "
                                   "free on the cache's disk; free space or point HF_HUB_CACHE elsewhere")
    return total


def fetch_listing(repo_id: str, endpoint: str, timeout: float) -> Listing:
    """The repo's file list: one request, no retries, body bounded, every entry checked."""
    import httpx2
    from huggingface_hub.utils import build_hf_headers, get_session

    url = f"{endpoint}/api/models/{repo_id}/revision/main"
    with get_session().stream("GET", url, params={"blobs": "true"}, headers=build_hf_headers(),
                              timeout=httpx2.Timeout(timeout), follow_redirects=True) as response:
        body = _bounded_body(response, repo_id, Deadline(3 * timeout, f"the file list of {repo_id}",
                                                         "raise HF_HUB_ETAG_TIMEOUT (the deadline is 3 times it)"))
        if response.status_code >= 400:
            raise listing_http_error(repo_id, endpoint, response.status_code, response.headers, body)
    return parse_listing(repo_id, body)


def _bounded_body(response, repo_id: str, deadline: Deadline) -> bytes:
    """The body, up to :data:`MAX_LISTING_BYTES` and within ``deadline`` (a drip feed ends too)."""
    chunks, size = [], 0
    for chunk in response.iter_raw():
        deadline.left()
        size += len(chunk)
        if size > MAX_LISTING_BYTES:
            raise DownloadRefusedError(f"the hub's file list for {repo_id} is over {MAX_LISTING_BYTES >> 20} MiB; "
                                       "refusing it (is HF_ENDPOINT a Hugging Face hub?)")
        chunks.append(chunk)
    return b"".join(chunks)


def listing_http_error(repo_id: str, endpoint: str, status: int, headers, body: bytes) -> WeightsNotFoundError:
    """The one-line error of a failed listing request (the hub's own error message when it gave one)."""
    code = headers.get("X-Error-Code", "")
    if code == "GatedRepo":
        return WeightsNotFoundError(f"{repo_id!r} is gated on {endpoint}: accept its terms on the model page, then "
                                    "log in with `hf auth login` (or set HF_TOKEN) and retry")
    if status in (401, 404) or code == "RepoNotFound":
        return RepoNotFoundError(f"no model {repo_id!r} on {endpoint} (or it is private: log in with "
                                 "`hf auth login`); check the name with `vtg models`")
    if status >= 500 or status == 429:
        return WeightsNotFoundError(f"the Hugging Face hub at {endpoint} answered HTTP {status} for {repo_id!r}; "
                                    "try again later")
    return WeightsNotFoundError(f"{endpoint} answered HTTP {status} for {repo_id!r}: no such model there, or it is "
                                "not a Hugging Face hub (check HF_ENDPOINT and the model name)")


def parse_listing(repo_id: str, body: bytes) -> Listing:
    """Checked :class:`Listing` from the JSON body; :class:`DownloadRefusedError` naming what is wrong."""
    try:
        info = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        start = body[:40].decode("utf-8", "replace").strip().replace("\n", " ")
        raise DownloadRefusedError(f"the hub's file list for {repo_id} is not JSON (it starts {start!r}); "
                                   "is HF_ENDPOINT a Hugging Face hub?") from None
    siblings = info.get("siblings") if isinstance(info, dict) else None
    if not isinstance(siblings, list):
        raise DownloadRefusedError(f"the hub's answer for {repo_id} has no file list; is HF_ENDPOINT a Hugging Face hub?")
    commit = info.get("sha")
    if not isinstance(commit, str) or not _HEX[40].fullmatch(commit):
        raise DownloadRefusedError(f"the hub's answer for {repo_id} names no commit (sha {str(commit)[:50]!r})")
    files = {}
    for entry in siblings:
        remote = _remote_file(repo_id, entry)
        files[remote.name] = remote
    return Listing(repo_id, commit, files)


def _remote_file(repo_id: str, entry) -> RemoteFile:
    if not isinstance(entry, dict) or not isinstance(entry.get("rfilename"), str):
        raise DownloadRefusedError(f"the hub's file list for {repo_id} holds an entry without a file name")
    name = entry["rfilename"]
    problem = unsafe_name(name)
    if problem:
        raise DownloadRefusedError(f"the hub's file list for {repo_id} names {name[:200]!r}, {problem}; refusing the model")
    lfs = entry.get("lfs")
    size = lfs.get("size") if isinstance(lfs, dict) else entry.get("size")
    if isinstance(size, float) and size.is_integer():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise DownloadRefusedError(f"{repo_id}: the hub declares {name} to be {str(size)[:40]} bytes, which is not "
                                   "a size; refusing the model")
    blob_id = lfs.get("sha256") if isinstance(lfs, dict) else entry.get("blobId")
    width = 64 if isinstance(lfs, dict) else 40
    if not isinstance(blob_id, str) or not _HEX[width].fullmatch(blob_id):
        raise DownloadRefusedError(f"{repo_id}: the hub gives {name} no valid checksum ({str(blob_id)[:70]!r}); "
                                   "vtg stores only files it can verify")
    return RemoteFile(name, size, blob_id, isinstance(lfs, dict))


def unsafe_name(name: str) -> str | None:
    """Why ``name`` cannot be a file of a repo (None when it can): it must be a relative path
    that stays inside the snapshot folder on every operating system."""
    if not name or len(name) > 1000 or "\0" in name:
        return "which is empty, too long or holds a NUL"
    if name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "a path that leaves the repository (\"..\", \".\" or empty parts)"
    return None


"""Downloading model files from the Hugging Face hub: size first, one progress bar, one-line errors.

Everything the hub says is untrusted input: the file list is read bounded and checked
(:mod:`vtg.encoders.listing`: names, sizes, checksums, ceilings), and each file is streamed by
:mod:`vtg.encoders.transfer` into the standard HF cache layout, held to its declared size and
checksum under one deadline (huggingface_hub's client session: ``HF_ENDPOINT``, ``HF_TOKEN`` and
proxies are honoured). This module decides *which* files, says how much will come before it
starts, draws a single byte bar on stderr, and turns the client's many failure modes into one
:class:`~vtg.errors.WeightsNotFoundError` line.

Failing fast: the first request (the repo's file list, ``GET /api/models/{repo}/revision/main``)
runs without retries under a short timeout (``HF_HUB_ETAG_TIMEOUT``, default 10 s), so an
unreachable hub is one line within seconds, not huggingface_hub's minute of backoff retries.
The client's own retry warnings are silenced while vtg downloads (``--debug`` shows them).
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import socket
import sys
from pathlib import Path

from vtg.encoders import transfer
from vtg.encoders.listing import Listing, RepoNotFoundError, check_download, deadline_seconds, fetch_listing
from vtg.envvars import positive_number
from vtg.errors import WeightsNotFoundError
from vtg.net import check_resolvable
from vtg.settings import DEFAULT_ASK_ABOVE_BYTES, current_settings

DEFAULT_ENDPOINT = "https://huggingface.co"
#: Files a loader never reads: other frameworks' weights, exports, pictures.
IGNORED = ("*.msgpack", "*.h5", "*.ot", "*.onnx", "*.onnx_data", "*.tflite", "*.mlmodel", "*.gguf", "*.png",
           "*.jpg", "*.jpeg", "*.gif", ".gitattributes")
#: PyTorch pickles, skipped when the repo also has safetensors (never load a pickle when not needed).
PICKLES = ("*.bin", "*.pt", "*.pth", "*.ckpt")


def endpoint() -> str:
    """The hub to talk to: ``HF_ENDPOINT`` read now (not at import), else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def request_timeout() -> float:
    """Seconds allowed for a metadata request: ``HF_HUB_ETAG_TIMEOUT``, else 10."""
    return max(0.5, positive_number("HF_HUB_ETAG_TIMEOUT", 10.0))


def repo_files(repo_id: str) -> Listing:
    """The repo's commit and files (size, checksum), checked (:mod:`vtg.encoders.listing`): one
    request, no retries, under :func:`request_timeout`."""
    from huggingface_hub.utils import validate_repo_id

    with _client_errors(repo_id):
        validate_repo_id(repo_id)
        check_resolvable(endpoint(), request_timeout())  # the client's own lookup has no deadline
        return fetch_listing(repo_id, endpoint(), request_timeout())


def fetch_file(repo_id: str, filename: str, *, cache_dir: str | Path) -> str | None:
    """One small file (e.g. ``config.json``) into the HF cache, quietly; None when the repo lacks it."""
    listing = repo_files(repo_id)
    if filename not in listing.files:
        return None
    folder = download(repo_id, [filename], cache_dir=cache_dir, listing=listing, quiet=True)
    return str(Path(folder) / filename)


def loader_files(files) -> list[str]:
    """The files a transformers / open_clip loader reads: everything but other frameworks' weights,
    exports and pictures; PyTorch pickles only when the repo has no safetensors."""
    names = [f for f in files if not any(fnmatch.fnmatch(f, p) for p in IGNORED)]
    if any(f.endswith(".safetensors") for f in names):
        names = [f for f in names if not any(fnmatch.fnmatch(f, p) for p in PICKLES)]
    return sorted(names)


def download(repo_id: str, filenames: list[str] | None = None, *, cache_dir: str | Path,
             listing: Listing | None = None, quiet: bool = False) -> str:
    """Download ``filenames`` of ``repo_id`` (default: :func:`loader_files`) into the HF cache at
    ``cache_dir``; returns the snapshot folder. Prints the size, then one byte bar, on stderr.

    Sizes and checksums come from the file list and are enforced while streaming
    (:mod:`vtg.encoders.transfer`); the ceilings and the deadline are :mod:`vtg.encoders.listing`'s."""
    listing = listing or repo_files(repo_id)
    names = loader_files(listing.files) if filenames is None else list(filenames)
    missing = [n for n in names if n not in listing.files]
    if missing or not names:
        raise WeightsNotFoundError(f"{repo_id!r} on {endpoint()} has no {', '.join(missing) or 'model files'}")
    folder = transfer.storage_folder(cache_dir, repo_id) / "snapshots" / listing.commit
    todo = [listing.files[n] for n in names if not (folder / n).is_file()]  # of this commit: a new one links
    if not todo:                                                                # unchanged blobs, not refetched
        return str(folder)
    total = check_download(repo_id, todo, _free_bytes(cache_dir))
    if not quiet:
        confirm_download(repo_id, total)
    deadline = transfer.Deadline(deadline_seconds(total), f"{repo_id} ({human_size(total)})",
                                 "set VTG_DOWNLOAD_DEADLINE (seconds) to allow longer")
    if not quiet:
        print(f"vtg: downloading {repo_id} ({human_size(total)} in {len(todo)} file{'s' * (len(todo) != 1)}) "
              f"from {endpoint()} into {cache_dir}; it is cached for next time", file=sys.stderr, flush=True)
    from tqdm import tqdm

    bar = tqdm(total=total, unit="B", unit_scale=True, desc=repo_id, file=sys.stderr, mininterval=0.5,
               disable=quiet, **bar_width())
    try:
        with _client_errors(repo_id), _quiet_client():
            for remote in todo:
                transfer.fetch_into_cache(repo_id, listing.commit, remote, cache_dir, endpoint=endpoint(),
                                          deadline=deadline, progress=bar.update)
    finally:
        bar.close()
    return str(folder)


#: Downloads larger than this many bytes ask first on a terminal ($VTG_ASK_ABOVE_BYTES overrides).
ASK_ABOVE_BYTES = DEFAULT_ASK_ABOVE_BYTES


class DownloadDeclinedError(WeightsNotFoundError):
    """The user answered no to a large download."""


def confirm_download(repo_id: str, total: int, *, source: str | None = None) -> None:
    """Ask before a download over :data:`ASK_ABOVE_BYTES` when a person is at a terminal (stdin
    and stderr both TTYs): a first command should not silently start fetching many GB. Scripts
    (no TTY) and ``--yes`` go ahead, as whisper and transformers do; the size line says how much.
    ``source``: where a download that is not a hub model comes from (its URL)."""
    if total <= ask_above() or current_settings().assume_yes:  # --yes or $VTG_YES
        return
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return
    print(f"vtg: {repo_id} is {human_size(total)} to download from {source or endpoint()}. Download it now? [y/N] ",
          end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline().strip().lower()
    except (OSError, KeyboardInterrupt):
        answer = ""
    if answer not in ("y", "yes") and source:
        raise DownloadDeclinedError(f"did not download {repo_id} ({human_size(total)}) from {source}; add --yes")
    if answer not in ("y", "yes"):
        raise DownloadDeclinedError(
            f"did not download {repo_id} ({human_size(total)}); pick a smaller model (for TFVTG: --encoder "
            f"ViT-B-32/openai, about 600 MB), or run `vtg models download {repo_id}` later, or add --yes")


def ask_above() -> int:
    """The size above which :func:`confirm_download` asks: the session's ``$VTG_ASK_ABOVE_BYTES``, else 1 GB."""
    return current_settings().ask_above_bytes


def bar_width() -> dict:
    """tqdm's width options: follow the terminal, but a terminal that reports no or a tiny width
    (a zero-width pseudo terminal, some CI runners) gets a fixed 80 columns instead of a bar
    squeezed to nothing."""
    try:
        columns = os.get_terminal_size(sys.stderr.fileno()).columns
    except (AttributeError, ValueError, OSError):  # not a terminal (a file, a pipe, a test's buffer)
        return {"ncols": 80}
    return {"dynamic_ncols": True} if columns >= 40 else {"ncols": 80}


def _free_bytes(cache_dir: str | Path) -> int | None:
    """Free bytes on the disk that holds (or will hold) the cache; None when unknown."""
    import shutil

    path = Path(cache_dir)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


@contextlib.contextmanager
def _quiet_client():
    """Silence huggingface_hub's retry/resume warnings for the duration (kept with ``--debug``)."""
    if os.environ.get("VTG_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        yield
        return
    logger = logging.getLogger("huggingface_hub")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextlib.contextmanager
def _client_errors(repo_id: str):
    """huggingface_hub / httpx failures -> one WeightsNotFoundError line saying what to do."""
    try:
        yield
    except WeightsNotFoundError:
        raise
    except Exception as exc:
        from huggingface_hub import errors as hf_errors

        kind = RepoNotFoundError if isinstance(exc, hf_errors.RepositoryNotFoundError) \
            and not isinstance(exc, hf_errors.GatedRepoError) else WeightsNotFoundError
        raise kind(describe_failure(repo_id, exc)) from None


def describe_failure(repo_id: str, exc: BaseException) -> str:
    from huggingface_hub import errors as hf_errors

    where = endpoint()
    name = type(exc).__name__
    if isinstance(exc, hf_errors.GatedRepoError):
        return (f"{repo_id!r} is gated on {where}: accept its terms on the model page, then log in with "
                "`hf auth login` (or set HF_TOKEN) and retry")
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return (f"no model {repo_id!r} on {where} (or it is private: log in with `hf auth login`); "
                "check the name with `vtg models`")
    if isinstance(exc, hf_errors.RevisionNotFoundError | hf_errors.EntryNotFoundError):
        return f"{repo_id!r} on {where} lacks a file vtg needs: {_first_line(exc)}"
    if name == "OfflineModeIsEnabled":
        return offline_message(repo_id)
    if name == "HFValidationError":
        return f"{repo_id!r} is not a valid Hugging Face model id ({_first_line(exc)})"
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", 0) or 0
        if status >= 500 or status == 429:
            return f"the Hugging Face hub at {where} answered HTTP {status} for {repo_id!r}; try again later"
        return (f"{where} answered HTTP {status} for {repo_id!r}: no such model there, or it is not a "
                "Hugging Face hub (check HF_ENDPOINT and the model name)")
    if _is_network_error(exc):
        return (f"cannot reach the Hugging Face hub at {where} to download {repo_id!r} ({name}: "
                f"{_first_line(exc) or 'no answer'}); check the network, proxy or HF_ENDPOINT, or use a "
                "cached or local model (`vtg models` lists what is cached)")
    if isinstance(exc, OSError):
        return f"downloading {repo_id!r} failed: {name}: {_first_line(exc)}"
    raise exc


def offline_message(repo_id: str) -> str:
    return (f"{repo_id!r} is not cached and offline mode is on (--offline or HF_HUB_OFFLINE=1); "
            f"run once with network access, or `vtg models download {repo_id}` on a connected machine")


def _is_network_error(exc: BaseException) -> bool:
    import httpx2

    return isinstance(exc, (httpx2.TransportError, ConnectionError, TimeoutError, socket.gaierror))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""

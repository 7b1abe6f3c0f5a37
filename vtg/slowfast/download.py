"""PySlowFast's SlowFast R50 release fetched on first use, trusted on first use, checked every use.

The release (:data:`~vtg.slowfast.weights.RELEASE_URL`) publishes no checksum, so vtg cannot hold
the bytes to one the way it holds hub files (:mod:`vtg.encoders.transfer`). What it does instead:

* the body is streamed under a temporary name beside the target, counted as it arrives: a missing
  ``Content-Length`` or one above :data:`~vtg.slowfast.weights.MAX_BYTES` is refused before the
  body is read, the first byte past the declared length stops it, a short body is an error; every
  read has ``HF_HUB_DOWNLOAD_TIMEOUT`` seconds and the whole download one deadline;
* before it is renamed into place, the file is read by the restricted unpickler (nothing in it
  runs) and every parameter of the SlowFast R50 network must be in it with its shape;
* its sha256 is written beside it (``SLOWFAST_8x8_R50.pkl.sha256``) and checked on every later
  load, so a file changed after vtg downloaded it is noticed (trust on first use: the first
  download itself is only as trustworthy as the server and the structure check).

When :data:`RELEASE_SHA256` is set, the download must hash to it instead (and the sidecar records it).
Any failure removes the partial file; nothing is left in place.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from vtg.encoders.hub import bar_width, confirm_download, human_size
from vtg.encoders.listing import deadline_seconds
from vtg.encoders.transfer import Deadline, DownloadRefusedError, read_timeout, write_bounded
from vtg.encoders.weights import offline_mode
from vtg.errors import CheckpointError, WeightsNotFoundError
from vtg.fileio import atomic_write_text
from . import weights as sfw
from .weights import check_recorded, sidecar

#: The release's sha256, if a maintainer who can reach the release fills it in: then the first
#: download must hash to it (enforced instead of trust on first use). None: no published checksum.
RELEASE_SHA256: str | None = None

WHAT = "SlowFast R50 Kinetics-400 weights"


def ensure_release(target: Path | None = None, *, url: str | None = None,
                   arch: tuple[int, tuple[int, ...]] | None = None) -> Path:
    """The release at ``target`` (default :func:`~vtg.slowfast.weights.default_weights`), downloaded
    from ``url`` (default :data:`~vtg.slowfast.weights.RELEASE_URL`) when absent and downloads are on.
    ``arch`` = (width, blocks per stage) the file must fit (default the R50's)."""
    target = Path(target) if target is not None else sfw.default_weights()
    url = url or sfw.RELEASE_URL
    if target.is_file():
        return target
    if offline_mode():
        raise WeightsNotFoundError(f"{WHAT} are not at {target} and offline mode is on (--offline or "
                                   f"HF_HUB_OFFLINE=1): download {url} to {target} (or pass its path with "
                                   "-O slowfast_weights=PATH), or run once without --offline")
    download_release(url, target, arch=arch)
    return target


def download_release(url: str, target: Path, *, arch: tuple[int, tuple[int, ...]] | None = None) -> Path:
    """Stream ``url`` into ``target``: verified (see the module docstring) before it is renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.incomplete")
    try:
        digest = _stream(url, partial, target)
        expected = RELEASE_SHA256
        if expected and digest != expected:
            raise CheckpointError(f"the file downloaded from {url} has sha256 {digest[:12]}..., not the "
                                  f"release's {expected[:12]}...; nothing was kept")
        verify_structure(partial, arch)

        atomic_write_text(sidecar(target), digest + "\n")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def verify_structure(path: Path, arch: tuple[int, tuple[int, ...]] | None = None) -> None:
    """Every parameter of the SlowFast network of ``arch`` is in the Caffe2 file, with its shape
    (read without running anything in it); raises :class:`CheckpointError` otherwise."""
    from .network import R50_DEPTHS, SlowFastR50

    width, depths = arch or (64, R50_DEPTHS)
    sfw.state_from_caffe2(sfw.read_caffe2(path), SlowFastR50(width, depths).state_dict())


def _stream(url: str, partial: Path, target: Path) -> str:
    """The body of ``url`` into ``partial``, bounded by its declared length; returns its sha256."""
    import httpx2
    from tqdm import tqdm

    digest = hashlib.sha256()
    got, total = 0, 0
    try:
        with httpx2.Client(timeout=httpx2.Timeout(read_timeout()), follow_redirects=True) as client, \
                client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
            total = _declared_size(response, url)
            confirm_download(WHAT, total, source=url)
            deadline = Deadline(deadline_seconds(total), f"{WHAT} ({human_size(total)})",
                                "set VTG_DOWNLOAD_DEADLINE (seconds) to allow longer")
            print(f"vtg: downloading {WHAT} ({human_size(total)}) from {url} into {target}; it is kept for next time",
                  file=sys.stderr, flush=True)
            with open(partial, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc="SlowFast R50",
                                                  file=sys.stderr, mininterval=0.5, **bar_width()) as bar:
                def received(n: int) -> None:  # counted here too: a broken body's message says how far it got
                    nonlocal got
                    got += n
                    bar.update(n)

                write_bounded(response.iter_raw(), out, digest, start=0, size=total,
                              overflow=f"{url}: the server sent more than the {total:,} bytes it declared",
                              progress=received, deadline=deadline)
    except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        if total and isinstance(exc, httpx2.RemoteProtocolError):
            problem = f"the body ended after {got:,} of {total:,} bytes"
        raise WeightsNotFoundError(f"downloading {url} failed: {problem}; "
                                   f"try again, or download it yourself to {target}") from None
    if got != total:
        raise WeightsNotFoundError(f"downloading {url} failed: the body ended after {got:,} of {total:,} "
                                   f"bytes; try again, or download it yourself to {target}")
    return digest.hexdigest()


def _declared_size(response, url: str) -> int:
    """The status and ``Content-Length``, checked before any byte of the body is read."""
    if response.status_code >= 400:
        raise WeightsNotFoundError(f"{url}: the server answered HTTP {response.status_code} to the download")
    length = (response.headers.get("Content-Length") or "").strip()
    if not length.isdigit():
        raise DownloadRefusedError(f"{url}: the server declares no size (Content-Length {length[:30]!r}); "
                                   "vtg does not stream a body of unknown size")
    if not 0 < int(length) <= sfw.MAX_BYTES:
        raise DownloadRefusedError(f"{url}: the server declares {int(length):,} bytes, not a SlowFast R50 "
                                   f"checkpoint (at most {sfw.MAX_BYTES:,}); refused before reading")
    return int(length)


def offline_remedy() -> str:
    """What a model that needs the release says when it is missing and downloads are off."""
    return (f"; offline (--offline or HF_HUB_OFFLINE=1), vtg does not download {sfw.RELEASE_URL}: put it at "
            f"{sfw.default_weights()} or run once without --offline")

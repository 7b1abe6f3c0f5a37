"""Frame features of a whole video, computed once and cached on disk.

"Index once, query many": decoding and encoding dominate the cost of grounding a query, and both
depend only on the video, the encoder and the sampling. :func:`video_features` keys a cache entry
on exactly those: the file's identity (a hash of its size and its first, middle and last MiB —
cheap on hour-long files — plus its modification time in nanoseconds, so a file edited in the
middle without changing size is a miss; renaming keeps the key), the encoder's canonical spec and
weights fingerprint, ``fps`` and ``max_frames``. A second call on the same video returns in
milliseconds without opening the video or loading the model. With ``verify`` (``--verify`` on
``vtg ground / index / batch``) an entry is used only when it records the SHA-256 of the whole
file and that hash still matches; entries computed under ``verify`` record it.

Entries are validated when loaded — finite features, finite times that are >= 0 and never
decrease, a finite positive duration, shapes consistent with the sidecar — and anything else is
recomputed (with a warning), never returned and never a permanent error. A cache folder that
cannot be created or written is an error before any decoding; a write that fails after the work
(a full disk) is a warning, and the result is still returned.

Entries live in ``$VTG_CACHE_DIR/features/`` (default ``~/.cache/vtg``): ``<key>.npz`` (``times``,
``features``) and ``<key>.json`` (what was cached and how). Both are written atomically, the JSON
last, so an entry is either complete or absent; an unreadable or inconsistent entry is ignored and
recomputed. Frames are streamed batch by batch through :func:`vtg.video.iter_frames` and only the
[T, D] features are kept, so memory does not grow with the video's length beyond the features.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vtg.errors import UsageError, VtgError

log = logging.getLogger(__name__)

CACHE_VERSION = 2
_VERIFY = {"on": False}


class CacheError(VtgError):
    """The feature cache folder cannot be created or written."""
_CHUNK = 1 << 20
#: Decoded frames held at once are capped at this many bytes (a 4K batch of 64 would be 1.6 GB).
DECODE_BYTES = 256 << 20


@dataclass(frozen=True)
class Features:
    """Per-frame features of one video. ``times`` float64 [T] (seconds, the sampled frames' own
    timestamps); ``features`` float32 [T, D] (BLIP-2: [T, 32, D]); ``duration`` of the video (s);
    ``encoder`` canonical spec; ``fps`` sampling rate asked for (None = every frame).
    ``cached`` tells whether this came from the cache; ``path`` is the cache entry's .npz."""

    times: np.ndarray
    features: np.ndarray
    duration: float
    encoder: str
    fps: float | None
    max_frames: int | None = None
    cached: bool = False
    path: str | None = None

    def __len__(self) -> int:
        return len(self.times)


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The vtg cache folder: ``cache_dir``, else ``$VTG_CACHE_DIR``, else ``~/.cache/vtg``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("VTG_CACHE_DIR")
    return Path(env).expanduser() if env else Path("~/.cache/vtg").expanduser()


def features_dir(cache_dir: str | Path | None = None) -> Path:
    return cache_root(cache_dir) / "features"


def content_hash(path: str | Path) -> str:
    """sha256 of the file size and its first, middle and last MiB (the whole file if small)."""
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256(f"vtg-content-v1:{size}:".encode())
    with open(path, "rb") as fh:
        if size <= 3 * _CHUNK:
            h.update(fh.read())
        else:
            for offset in (0, size // 2 - _CHUNK // 2, size - _CHUNK):
                fh.seek(offset)
                h.update(fh.read(_CHUNK))
    return h.hexdigest()


def full_hash(path: str | Path) -> str:
    """sha256 of the whole file (``--verify``), read in 1-MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def file_identity(path: str | Path) -> str:
    """What the cache key knows of a file: :func:`content_hash`, its size and modification time."""
    st = Path(path).stat()
    return f"{content_hash(path)}:{st.st_size}:{st.st_mtime_ns}"


def set_verify(enabled: bool) -> None:
    """Turn full-hash verification of cache entries on or off for this process (``--verify``)."""
    _VERIFY["on"] = bool(enabled)


@contextlib.contextmanager
def verifying(enabled: bool = True) -> Iterator[None]:
    """Within the block, :func:`video_features` checks entries against a full content hash."""
    saved = _VERIFY["on"]
    _VERIFY["on"] = bool(enabled) or saved
    try:
        yield
    finally:
        _VERIFY["on"] = saved


def cache_key(content: str, encoder_spec: str, fingerprint: str, fps: float | None, max_frames: int | None) -> str:
    parts = {"v": CACHE_VERSION, "content": content, "encoder": encoder_spec, "weights": fingerprint,
             "fps": None if fps is None else repr(float(fps)), "max_frames": max_frames}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def video_features(video: str | Path, encoder, fps: float | None, *, max_frames: int | None = None,
                   progress: bool = False, cache_dir: str | Path | None = None, device: str = "auto",
                   backend: str = "pyav", refresh: bool = False, verify: bool | None = None) -> Features:
    """Features of ``video`` sampled at ``fps`` with ``encoder`` (an Encoder or a spec string).

    Cached per (file identity, encoder, fps, max_frames); ``refresh`` recomputes and overwrites;
    ``verify`` (default: inside :func:`verifying`) also checks the whole file's SHA-256.
    ``device`` is used only when ``encoder`` is a spec that has to be loaded.
    """
    from vtg.api import check_video_path
    from vtg.encoders import Encoder, load_encoder

    path = check_video_path(video)
    _check_sampling(fps, max_frames)
    verify = _VERIFY["on"] if verify is None else bool(verify)
    spec, fingerprint = _encoder_identity(encoder)
    key = cache_key(file_identity(path), spec, fingerprint, fps, max_frames)
    folder = features_dir(cache_dir)
    digest = full_hash(path) if verify else None
    if not refresh:
        hit = _load(folder, key, digest)
        if hit is not None:
            return hit
    check_writable(folder)
    enc = encoder if isinstance(encoder, Encoder) else load_encoder(encoder, device=device)
    start = time.perf_counter()
    result = compute_features(path, enc, fps, max_frames=max_frames, progress=progress, backend=backend)
    try:
        npz = _store(folder, key, result, video=str(path), fingerprint=fingerprint,
                     seconds=time.perf_counter() - start, digest=digest)
    except OSError as exc:  # a full disk after the work: keep the result, say why it is not cached
        log.warning("could not save features of %s in the cache %s (%s); they will be recomputed next time",
                    path, folder, exc.strerror or exc)
        npz = None
    return Features(result.times, result.features, result.duration, result.encoder, fps, max_frames,
                    cached=False, path=str(npz) if npz is not None else None)


def check_writable(folder: Path) -> None:
    """Create ``folder`` and prove a file can be written in it, before any expensive work."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CacheError(f"the feature cache folder {folder} cannot be written ({exc.strerror or exc}); "
                         "set VTG_CACHE_DIR to a writable folder") from None


def compute_features(path: Path, encoder, fps: float | None, *, max_frames: int | None = None,
                     progress: bool = False, backend: str = "pyav", workers: int | None = None) -> Features:
    """Decode and encode without the cache, as a pipeline of stages (:mod:`vtg.pipeline`);
    ``workers`` parallel decoders for long videos (default: the usable cores)."""
    from vtg.pipeline import encoded_batches
    from vtg.video import probe

    path = Path(path)
    info = probe(path, backend=backend)
    bar = _bar(progress, _expected_count(info, fps, max_frames), path.name)
    times, feats = [], []
    try:
        for batch_times, batch_feats in encoded_batches(path, encoder, fps, max_frames=max_frames, backend=backend,
                                                         workers=workers, info=info):
            feats.append(batch_feats)
            times.append(np.asarray(batch_times, np.float64))
            if bar is not None:
                bar.update(len(batch_times))
    finally:
        if bar is not None:
            bar.close()
    empty = np.zeros((0, *encoder._image_feature_shape()), np.float32)
    return Features(np.concatenate(times) if times else np.zeros(0, np.float64),
                    np.concatenate(feats) if feats else empty, float(info.duration), encoder.spec, fps, max_frames)


def decode_batch_size(encoder_batch: int, width: int, height: int) -> int:
    """Frames per decoded batch: the encoder's batch, fewer for very large frames."""
    frame_bytes = max(1, width * height * 3)
    return max(1, min(int(encoder_batch), DECODE_BYTES // frame_bytes))


def _check_sampling(fps, max_frames) -> None:
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise UsageError(f"fps must be a positive number, got {fps!r}")
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
        raise UsageError(f"max_frames must be a positive integer, got {max_frames!r}")


def _encoder_identity(encoder) -> tuple[str, str]:
    """(canonical spec, weights fingerprint) without loading the model when given a spec."""
    from vtg.encoders import Encoder
    from vtg.encoders.specs import parse_spec
    from vtg.encoders.weights import spec_fingerprint

    if isinstance(encoder, Encoder):
        return encoder.spec, encoder.fingerprint
    parsed = parse_spec(encoder)
    return parsed.canonical, spec_fingerprint(parsed)


def _expected_count(info, fps, max_frames) -> int | None:
    n = info.num_frames if fps is None else int(math.ceil(info.duration * fps - 1e-9))
    if n is not None and max_frames is not None:
        n = min(n, max_frames)
    return n


def _bar(enabled: bool, total: int | None, name: str):
    if not enabled:
        return None
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=f"encoding {name}", unit="frame", file=sys.stderr, leave=False)


def _load(folder: Path, key: str, digest: str | None = None) -> Features | None:
    """A complete, consistent cache entry, or None (missing, damaged or — when ``digest`` is given —
    unverified entries are recomputed)."""
    meta_path, npz_path = folder / f"{key}.json", folder / f"{key}.npz"
    try:
        if not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text())
        if digest is not None and meta.get("sha256") != digest:
            log.info("feature cache entry %s does not record this file's SHA-256; recomputing", npz_path)
            return None
        with np.load(npz_path, allow_pickle=False) as data:
            times = np.asarray(data["times"], np.float64)
            feats = np.asarray(data["features"], np.float32)
        if meta.get("key") != key or list(feats.shape) != meta.get("shape"):
            raise ValueError("entry does not match its sidecar")
        duration = float(meta["duration"])
        problem = entry_problem(times, feats, duration)
        if problem:
            raise ValueError(problem)
        return Features(times, feats, duration, meta["encoder"], meta["fps"], meta["max_frames"],
                        cached=True, path=str(npz_path))
    except Exception as exc:  # any damage (also to the sidecar's fields) means: ignore and recompute
        log.warning("ignoring damaged feature cache entry %s: %s", npz_path, exc)
        return None


def entry_problem(times: np.ndarray, feats: np.ndarray, duration: float) -> str | None:
    """What makes cached arrays unusable, or None: they must describe real sampled frames."""
    if times.ndim != 1 or feats.ndim < 2 or len(feats) != len(times):
        return f"shapes disagree (times {times.shape}, features {feats.shape})"
    if not (math.isfinite(duration) and duration > 0):
        return f"duration {duration!r} is not a positive number"
    if not np.isfinite(times).all() or (len(times) and times.min() < 0) or np.any(np.diff(times) < 0):
        return "frame times are not finite, non-negative and non-decreasing"
    if not np.isfinite(feats).all():
        return "features hold NaN or infinite values"
    return None


def _store(folder: Path, key: str, feats: Features, *, video: str, fingerprint: str, seconds: float,
           digest: str | None = None) -> Path:
    from vtg.fileio import atomic_write_bytes, atomic_write_text

    buf = io.BytesIO()
    np.savez(buf, times=feats.times, features=feats.features)
    npz_path = folder / f"{key}.npz"
    atomic_write_bytes(npz_path, buf.getvalue())
    del buf
    meta = {"version": CACHE_VERSION, "key": key, "video": video, "encoder": feats.encoder, "weights": fingerprint,
            "fps": feats.fps, "max_frames": feats.max_frames, "duration": feats.duration,
            "count": int(len(feats.times)), "shape": list(feats.features.shape),
            "seconds": round(seconds, 3), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if digest is not None:
        meta["sha256"] = digest
    atomic_write_text(folder / f"{key}.json", json.dumps(meta, indent=1))
    return npz_path


def list_cached(cache_dir: str | Path | None = None) -> list[dict]:
    """Sidecars of the cached feature entries (for ``vtg models`` and housekeeping)."""
    out = []
    for meta_path in sorted(features_dir(cache_dir).glob("*.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        npz = meta_path.with_suffix(".npz")
        meta["bytes"] = npz.stat().st_size if npz.is_file() else 0
        out.append(meta)
    return out

"""Frame features of a whole video, computed once and cached on disk.

"Index once, query many": decoding and encoding dominate the cost of grounding a query, and both
depend only on the video, the encoder and the sampling. :func:`video_features` keys a cache entry
on exactly those: a hash of the file's content (size plus its first, middle and last MiB — cheap on
hour-long files, and unchanged by renaming or copying), the encoder's canonical spec and weights
fingerprint, ``fps`` and ``max_frames``. A second call on the same video returns in milliseconds
without opening the video or loading the model.

Entries live in ``$VTG_CACHE_DIR/features/`` (default ``~/.cache/vtg``): ``<key>.npz`` (``times``,
``features``) and ``<key>.json`` (what was cached and how). Both are written atomically, the JSON
last, so an entry is either complete or absent; an unreadable or inconsistent entry is ignored and
recomputed. Frames are streamed batch by batch through :func:`vtg.video.iter_frames` and only the
[T, D] features are kept, so memory does not grow with the video's length beyond the features.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vtg.errors import UsageError

log = logging.getLogger(__name__)

CACHE_VERSION = 1
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


def cache_key(content: str, encoder_spec: str, fingerprint: str, fps: float | None, max_frames: int | None) -> str:
    parts = {"v": CACHE_VERSION, "content": content, "encoder": encoder_spec, "weights": fingerprint,
             "fps": None if fps is None else repr(float(fps)), "max_frames": max_frames}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def video_features(video: str | Path, encoder, fps: float | None, *, max_frames: int | None = None,
                   progress: bool = False, cache_dir: str | Path | None = None, device: str = "auto",
                   backend: str = "pyav", refresh: bool = False) -> Features:
    """Features of ``video`` sampled at ``fps`` with ``encoder`` (an Encoder or a spec string).

    Cached per (content, encoder, fps, max_frames); ``refresh`` recomputes and overwrites.
    ``device`` is used only when ``encoder`` is a spec that has to be loaded.
    """
    from vtg.api import check_video_path
    from vtg.encoders import Encoder, load_encoder

    path = check_video_path(video)
    _check_sampling(fps, max_frames)
    spec, fingerprint = _encoder_identity(encoder)
    key = cache_key(content_hash(path), spec, fingerprint, fps, max_frames)
    folder = features_dir(cache_dir)
    if not refresh:
        hit = _load(folder, key)
        if hit is not None:
            return hit
    enc = encoder if isinstance(encoder, Encoder) else load_encoder(encoder, device=device)
    start = time.perf_counter()
    result = compute_features(path, enc, fps, max_frames=max_frames, progress=progress, backend=backend)
    npz = _store(folder, key, result, video=str(path), fingerprint=fingerprint,
                 seconds=time.perf_counter() - start)
    return Features(result.times, result.features, result.duration, result.encoder, fps, max_frames,
                    cached=False, path=str(npz))


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


def _load(folder: Path, key: str) -> Features | None:
    """A complete, consistent cache entry, or None (missing or damaged entries are recomputed)."""
    meta_path, npz_path = folder / f"{key}.json", folder / f"{key}.npz"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        with np.load(npz_path, allow_pickle=False) as data:
            times = np.asarray(data["times"], np.float64)
            feats = np.asarray(data["features"], np.float32)
        if meta.get("key") != key or times.ndim != 1 or len(feats) != len(times) \
                or list(feats.shape) != meta.get("shape") or not np.isfinite(feats).all():
            raise ValueError("entry does not match its sidecar")
        return Features(times, feats, float(meta["duration"]), meta["encoder"], meta["fps"], meta["max_frames"],
                        cached=True, path=str(npz_path))
    except Exception as exc:  # any damage (also to the sidecar's fields) means: ignore and recompute
        log.warning("ignoring damaged feature cache entry %s: %s", npz_path, exc)
        return None


def _store(folder: Path, key: str, feats: Features, *, video: str, fingerprint: str, seconds: float) -> Path:
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

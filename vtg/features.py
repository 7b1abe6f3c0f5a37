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

Entries live in ``$VTG_CACHE_DIR/features/`` (default ``~/.cache/vtg``) in the form of
:mod:`vtg.feature_store`: float16 features streamed to ``<key>.npy`` batch by batch as the
indexing pipeline (:mod:`vtg.pipeline`) produces them, float64 times in ``<key>.times.npy`` and the
``<key>.json`` sidecar written last, so an entry is either complete or absent; hits are
memory-mapped. Writing holds one batch and the times, so memory does not grow with the video's
length; an unreadable or inconsistent entry is ignored and recomputed. A video indexed into a
library has its features stored once, in the library's shard: its entry keeps only the sidecar,
which names the shard rows that a hit memory-maps (:func:`vtg.feature_store.link_to_shard`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vtg.device import device_kind, precision_name
from vtg.encoders import Encoder
from vtg.encoders.fetch import local_fingerprint
from vtg.encoders.specs import parse_spec
from vtg.errors import UsageError, VtgError
from vtg.feature_store import DTYPE, EntryWriter, entry_bytes, finite_once, open_entry, paths
from vtg.fileio import atomic_write_text, is_file, load_array, read_regular_text
from vtg.filestamp import StampedMemo
from vtg.outputs import OutputError
from vtg.settings import changed, current_settings
from vtg.video.backends import indexing_decoder
from vtg.video.sampling import expected_frames
from vtg.video.source import VideoSource

log = logging.getLogger(__name__)

CACHE_VERSION = 3  # 3: float16 .npy streamed + memory-mapped (1-2: float32 .npz, recomputed)


class CacheError(VtgError):
    """The feature cache folder cannot be created or written."""
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Features:
    """Per-frame features of one video. ``times`` float64 [T] (seconds, the sampled frames' own
    timestamps); ``features`` [T, D] (BLIP-2: [T, 32, D]): float16 memory-mapped from the cache
    (:func:`video_features`), float32 from :func:`compute_features`; ``duration`` of the video (s);
    ``encoder`` canonical spec; ``fps`` sampling rate asked for (None = every frame).
    ``cached`` tells whether this came from the cache; ``path`` is the features ``.npy`` mapped (the
    entry's own, or the library shard it is stored in); ``entry`` the cache entry (folder/key)
    holding them, None when they could not be saved."""

    times: np.ndarray
    features: np.ndarray
    duration: float
    encoder: str
    fps: float | None
    max_frames: int | None = None
    cached: bool = False
    path: str | None = None
    entry: str | None = None

    def __len__(self) -> int:
        return len(self.times)


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The vtg cache folder: ``cache_dir``, else the current session's (``$VTG_CACHE_DIR``, else ``~/.cache/vtg``)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return current_settings().cache_dir


def features_dir(cache_dir: str | Path | None = None) -> Path:
    return cache_root(cache_dir) / "features"


def content_hash(path: str | os.PathLike[str]) -> str:
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


def full_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of the whole file (``--verify``), read in 1-MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


#: File identities of this process per file stamp: a loop of queries hashes each video once.
IDENTITIES = StampedMemo()


def file_identity(path: str | os.PathLike[str]) -> str:
    """What the cache key knows of a file: :func:`content_hash`, its size and modification time
    (remembered per file stamp, :mod:`vtg.filestamp`, so an edited file is hashed again)."""
    def compute() -> str:
        st = Path(path).stat()
        return f"{content_hash(path)}:{st.st_size}:{st.st_mtime_ns}"

    remembered = getattr(path, "remembered", None)  # a VideoSource: hashed at most once per query
    if remembered is not None:
        return remembered("identity", lambda: IDENTITIES.get(os.fspath(path), "identity", compute))
    return IDENTITIES.get(os.fspath(path), "identity", compute)


def verify_enabled() -> bool:
    """Whether :func:`video_features` checks full content hashes by default: the current
    session's ``--verify`` (:func:`vtg.settings.current_settings`)."""
    return current_settings().verify


@contextlib.contextmanager
def verifying(enabled: bool = True) -> Iterator[None]:
    """Within the block (this thread/task), :func:`video_features` checks entries against a full content hash."""
    with changed(verify=bool(enabled) or verify_enabled()):
        yield


def cache_key(content: str, encoder_spec: str, fingerprint: str, fps: float | None, max_frames: int | None) -> str:
    parts = {"v": CACHE_VERSION, "content": content, "encoder": encoder_spec, "weights": fingerprint,
             "fps": None if fps is None else repr(float(fps)), "max_frames": max_frames}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def video_key(path: str | os.PathLike[str], encoder_spec: str, fingerprint: str, fps: float | None,
              max_frames: int | None) -> str:
    """The cache key of ``path``'s features: :func:`file_identity` + encoder + sampling (the one
    place that builds it, so every caller asking "is it cached?" agrees with :func:`video_features`)."""
    return cache_key(file_identity(path), encoder_spec, fingerprint, fps, max_frames)


def video_features(video: str | os.PathLike[str], encoder, fps: float | None, *, max_frames: int | None = None,
                   progress: bool = False, cache_dir: str | Path | None = None, device: str = "auto",
                   backend: str | None = None, refresh: bool = False, verify: bool | None = None) -> Features:
    """Features of ``video`` sampled at ``fps`` with ``encoder`` (an Encoder or a spec string).

    Cached per (file identity, encoder, fps, max_frames); ``refresh`` recomputes and overwrites;
    ``verify`` (default: inside :func:`verifying`) also checks the whole file's SHA-256.
    ``backend`` decodes (default: :func:`vtg.video.backends.indexing_decoder`, ``vtg --decoder``).
    ``device`` is used only when ``encoder`` is a spec that has to be loaded, which happens only on
    a cache miss: a hit needs neither the model nor the decoder. ``video`` may be a
    :class:`vtg.video.VideoSource`, whose existence check and probe are reused.
    """
    from vtg.encoders import Encoder, load_encoder

    path = VideoSource.of(video)  # a source passed in was checked already: no second check
    _check_sampling(fps, max_frames)
    verify = verify_enabled() if verify is None else bool(verify)
    spec, fingerprint = _encoder_identity(encoder)
    folder = features_dir(cache_dir)
    digest = full_hash(path) if verify else None
    if not refresh and fingerprint is not None:  # weights not on this machine: nothing can be cached
        hit = _load(folder, video_key(path, spec, fingerprint, fps, max_frames), digest)
        if hit is not None:
            return hit
    check_writable(folder)
    enc = encoder if isinstance(encoder, Encoder) else load_encoder(encoder, device=device)  # fetches on first use
    fingerprint = enc.fingerprint
    key = video_key(path, spec, fingerprint, fps, max_frames)
    if backend is None:
        backend = indexing_decoder()
    return _compute_into_cache(path, enc, fps, max_frames, progress, backend, folder, key,
                               dict(video=str(path), weights=fingerprint, sha256=digest))


def _compute_into_cache(path, enc, fps, max_frames, progress, backend, folder: Path, key: str,
                        facts: dict) -> Features:
    """Stream the pipeline's batches into a new cache entry; return the stored (memory-mapped)
    arrays. A write that fails (a full disk) is a warning: the features still come back."""
    start = time.perf_counter()
    info = path.info(backend)
    writer, kept = _writer(folder, key, path), []
    try:
        for times, feats in _encoded(path, enc, fps, max_frames, progress, backend, None, info):
            if writer is not None:
                try:
                    writer.add(times, feats)
                    continue
                except OSError as exc:
                    kept, writer = _give_up(writer, exc, path, folder), None
            kept.append((np.asarray(times, np.float64), np.asarray(feats, np.float16)))
        tail = enc.image_feature_shape()
        if writer is not None:
            try:
                writer.commit(tail)
            except OSError as exc:
                kept, writer = _give_up(writer, exc, path, folder), None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:  # committed: the sidecar makes it an entry, and it is read back as one
        try:
            _write_sidecar(folder, key, enc.spec, fps, max_frames, float(info.duration), writer.count, tail,
                           time.perf_counter() - start, {**facts, "computed": computed_on(enc)})
            loaded = _load(folder, key, facts.get("sha256"))
        except (OSError, OutputError) as exc:  # OutputError: something not vtg's sits at the sidecar's name
            _warn_unsaved(exc, path, folder)
            loaded = None
        if loaded is not None:
            return dataclasses.replace(loaded, cached=False)
        kept = [(writer.all_times(), load_array(writer.final, np.float16, mmap=False))]
        _drop_unfinished(folder, key)
    times = np.concatenate([t for t, _ in kept]) if kept else np.zeros(0, np.float64)
    feats = np.concatenate([f for _, f in kept]) if kept else np.zeros((0, *enc.image_feature_shape()), np.float16)
    return Features(times, feats, float(info.duration), enc.spec, fps, max_frames, cached=False, path=None)


def _writer(folder: Path, key: str, path: Path):
    try:
        return EntryWriter(folder, key)
    except OSError as exc:
        _warn_unsaved(exc, path, folder)
        return None


def _give_up(writer, exc: OSError, path: Path, folder: Path) -> list:
    """Stop writing an entry; what was streamed so far comes back into memory."""
    _warn_unsaved(exc, path, folder)
    try:
        kept = [(writer.all_times(), writer.written())] if writer.count else []
    finally:
        writer.abort()
    return kept


def _drop_unfinished(folder: Path, key: str) -> None:
    """Arrays whose sidecar could not be written are no entry: remove them, unless an earlier
    sidecar of the same key still stands (its entry is complete: same key, same arrays)."""
    feats_path, times_path, meta_path = paths(folder, key)
    if is_file(meta_path):
        return
    for leftover in (feats_path, times_path):
        try:
            leftover.unlink(missing_ok=True)
        except OSError:
            pass


def _warn_unsaved(exc: Exception, path: Path, folder: Path) -> None:
    log.warning("could not save features of %s in the cache %s (%s); they will be recomputed next time",
                path, folder, getattr(exc, "strerror", None) or exc)


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


def compute_features(path: str | os.PathLike[str], encoder, fps: float | None, *, max_frames: int | None = None,
                     progress: bool = False, backend: str | None = None, workers: int | None = None) -> Features:
    """Decode and encode without the cache, as a pipeline of stages (:mod:`vtg.pipeline`);
    ``workers`` parallel decoders for long videos (default: one per usable core, at most 16); ``backend``
    as in :func:`video_features`."""
    source = VideoSource.of(path)
    backend = backend or indexing_decoder()
    info = source.info(backend)
    times, feats = [], []
    for batch_times, batch_feats in _encoded(source, encoder, fps, max_frames, progress, backend, workers, info):
        feats.append(batch_feats)
        times.append(np.asarray(batch_times, np.float64))
    empty = np.zeros((0, *encoder.image_feature_shape()), np.float32)
    return Features(np.concatenate(times) if times else np.zeros(0, np.float64),
                    np.concatenate(feats) if feats else empty, float(info.duration), encoder.spec, fps, max_frames)


def _encoded(path, encoder, fps, max_frames, progress: bool, backend: str, workers, info):
    """The pipeline's (times, features) batches, with the progress bar."""
    from vtg.pipeline import encoded_batches

    bar = _bar(progress, expected_frames(info.duration, fps, max_frames, info.num_frames), path.name)
    try:
        for times, feats in encoded_batches(path, encoder, fps, max_frames=max_frames, backend=backend,
                                            workers=workers):
            yield times, feats
            if bar is not None:
                bar.update(len(times))
    finally:
        if bar is not None:
            bar.close()


def _check_sampling(fps, max_frames) -> None:
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise UsageError(f"fps must be a positive number, got {fps!r}")
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
        raise UsageError(f"max_frames must be a positive integer, got {max_frames!r}")


def _encoder_identity(encoder) -> tuple[str, str | None]:
    """(canonical spec, weights fingerprint) without loading the model when given a spec; the
    fingerprint is None when the weights are not on this machine (never downloaded here)."""
    if isinstance(encoder, Encoder):
        return encoder.spec, encoder.fingerprint
    parsed = parse_spec(encoder)
    return parsed.canonical, local_fingerprint(parsed)


def features_cached(video: str | os.PathLike[str], encoder: str, fps: float | None, max_frames: int | None,
                    cache_dir: str | Path | None = None) -> bool:
    """Whether the cache holds a complete entry for this (video, encoder, sampling) now: what a
    query's plan reports. Loads nothing and downloads nothing (missing weights: not cached)."""
    spec, fingerprint = _encoder_identity(encoder)
    if fingerprint is None:
        return False
    return is_file(features_dir(cache_dir) / f"{video_key(video, spec, fingerprint, fps, max_frames)}.json")


def _bar(enabled: bool, total: int | None, name: str):
    if not enabled:
        return None
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=f"encoding {name}", unit="frame", file=sys.stderr, leave=False)


def _load(folder: Path, key: str, digest: str | None = None) -> Features | None:
    """A complete, consistent cache entry, or None (missing, damaged or — when ``digest`` is given —
    unverified entries are recomputed). Features come back memory-mapped (float16), from the
    entry's own file or from the library shard it is stored in (:mod:`vtg.feature_store`)."""
    feats_path, _, meta_path = paths(folder, key)
    for attempt in (0, 1):
        try:
            if not os.path.lexists(meta_path):
                return None
            return _read_entry(folder, key, digest, read_regular_text(meta_path))  # a FIFO is refused
        except FileNotFoundError as exc:
            if attempt == 0:  # an index run may have just moved the entry into a shard: read it again
                continue
            log.warning("ignoring feature cache entry %s: %s is gone (a library shard removed since?)",
                        meta_path, exc.filename)
        except Exception as exc:  # any damage (also to the sidecar's fields) means: ignore and recompute
            log.warning("ignoring damaged feature cache entry %s: %s", feats_path,
                        getattr(exc, "strerror", None) or exc)
        return None
    return None


def _read_entry(folder: Path, key: str, digest: str | None, text: str) -> Features | None:
    """The entry whose sidecar reads ``text``; raises on anything inconsistent (see :func:`_load`)."""
    meta = json.loads(text)
    if digest is not None and meta.get("sha256") != digest:
        log.info("feature cache entry %s does not record this file's SHA-256; recomputing", folder / key)
        return None
    if meta.get("key") != key or meta.get("version") != CACHE_VERSION:
        raise ValueError("entry does not match its sidecar")
    times, feats, mapped, span = open_entry(folder, key, meta)
    duration = float(meta["duration"])
    problem = entry_problem(times, feats, duration, check_features=False)
    if problem is None and not finite_once(mapped, feats, span):
        problem = "features hold NaN or infinite values"
    if problem:
        raise ValueError(problem)
    return Features(times, feats, duration, meta["encoder"], meta["fps"], meta["max_frames"],
                    cached=True, path=str(mapped), entry=str(folder / key))


def entry_problem(times: np.ndarray, feats: np.ndarray, duration: float, check_features: bool = True) -> str | None:
    """What makes cached arrays unusable, or None: they must describe real sampled frames.
    ``check_features`` False leaves the (large) features' finiteness to the caller."""
    if times.ndim != 1 or feats.ndim < 2 or len(feats) != len(times):
        return f"shapes disagree (times {times.shape}, features {feats.shape})"
    if not (math.isfinite(duration) and duration > 0):
        return f"duration {duration!r} is not a positive number"
    if not np.isfinite(times).all() or (len(times) and times.min() < 0) or np.any(np.diff(times) < 0):
        return "frame times are not finite, non-negative and non-decreasing"
    if check_features and not np.isfinite(feats).all():
        return "features hold NaN or infinite values"
    return None


def computed_on(enc) -> dict:
    """Where and in what precision ``enc`` computes (``{"device": "cpu", "precision": "bf16"}``): the
    plan line's time estimate takes only earlier runs made the same way, since bf16 on a CPU with
    bf16 units encodes 3.5x faster than fp32 and a GPU far faster again. Not part of the cache
    key: the features agree to float16 storage precision either way."""
    return {"device": device_kind(enc.device), "precision": precision_name(enc.dtype)}


def _write_sidecar(folder: Path, key: str, encoder: str, fps, max_frames, duration: float, count: int,
                   tail: tuple[int, ...], seconds: float, facts: dict) -> dict:
    """The entry's JSON, written last (atomically): from now on the entry exists."""
    meta = {"version": CACHE_VERSION, "key": key, "video": facts["video"], "encoder": encoder,
            "weights": facts["weights"], "fps": fps, "max_frames": max_frames, "duration": duration,
            "count": int(count), "shape": [int(count), *[int(d) for d in tail]], "dtype": np.dtype(DTYPE).name,
            "seconds": round(seconds, 3), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if facts.get("sha256") is not None:
        meta["sha256"] = facts["sha256"]
    if facts.get("computed") is not None:
        meta["computed"] = facts["computed"]
    atomic_write_text(folder / f"{key}.json", json.dumps(meta, indent=1))
    return meta


def list_cached(cache_dir: str | Path | None = None) -> list[dict]:
    """Sidecars of the cached feature entries (for ``vtg models`` and housekeeping)."""
    out = []
    for meta_path in sorted(features_dir(cache_dir).glob("*.json")):
        try:
            meta = json.loads(read_regular_text(meta_path))
        except OSError as exc:  # not a regular file, unreadable: say so, and list the others
            log.warning("skipping feature cache sidecar %s: %s", meta_path, exc.strerror or exc)
            continue
        except ValueError:
            continue
        meta["bytes"] = entry_bytes(meta_path.parent, meta_path.stem)
        out.append(meta)
    return out

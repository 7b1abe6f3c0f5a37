"""SlowFast features of a video: one 2304-d vector per 2-s clip (:mod:`.sampling`, :mod:`.network`).

Frames are decoded once at 30/s at the network's input size and grouped into clips as they
stream; a batch of clips at a time goes through the network, so memory does not grow with the
video. Results are cached in vtg's cache folder per (video content, weights), next to the CLIP
feature cache: a second query on the same video does not run SlowFast again.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vtg.features import cache_root, file_identity
from . import SLOWFAST_DIM
from .download import ensure_release
from .sampling import CLIP_FRAMES, SIZE, TARGET_FPS, centre_crop, network_inputs, padded_clips
from .weights import load_network

BATCH_CLIPS = 8


def extract(video: "str | os.PathLike[str]", net, *, device: str = "cpu", batch_clips: int = BATCH_CLIPS) -> np.ndarray:
    """(clips, 2304) float32 features of ``video`` with ``net`` (a :class:`SlowFastR50` in eval mode)."""
    import torch

    from vtg.video import VideoSource, iter_frames

    source = VideoSource.of(video)
    info = source.info()
    out: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    held = 0

    def run(clips: np.ndarray) -> None:
        slow, fast = network_inputs(clips, info.fps)
        with torch.inference_mode():
            out.append(net(slow.to(device), fast.to(device)).float().cpu().numpy())

    for batch in iter_frames(source, fps=TARGET_FPS, size=SIZE):
        pending.append(centre_crop(np.asarray(batch.frames)))
        held += len(pending[-1])
        if held >= CLIP_FRAMES * batch_clips * 2:  # keep whole clips, run them, hold the rest
            frames = np.concatenate(pending)
            whole = len(frames) // CLIP_FRAMES * CLIP_FRAMES
            run(frames[:whole].reshape(-1, CLIP_FRAMES, *frames.shape[1:]))
            pending, held = [frames[whole:]], len(frames) - whole
    frames = np.concatenate(pending) if pending else np.zeros((0, SIZE, SIZE, 3), np.uint8)
    done = sum(len(o) for o in out)
    if len(frames):
        tail = padded_clips(frames, max(0.0, float(info.duration) - done * 2.0))
        for i in range(0, len(tail), batch_clips):
            run(tail[i:i + batch_clips])
    feats = np.concatenate(out) if out else np.zeros((0, SLOWFAST_DIM), np.float32)
    return feats[: max(1, int(np.ceil(float(info.duration) / 2.0)))]


def cache_dir() -> Path:
    return cache_root() / "slowfast"


def cached_features(video: "str | os.PathLike[str]", weights: str | Path | None, *, device: str = "cpu") -> np.ndarray:
    """:func:`extract` through a cache keyed by the video's content and the weights file's: the
    network loads only on a miss. Entries are plain ``.npy`` written atomically, read without pickles."""
    import hashlib
    import io
    import json

    from vtg.fileio import atomic_write_bytes, load_array

    if not weights or not Path(weights).expanduser().is_file():
        load_network(weights)  # the one-line error saying where to get them
    weights = Path(str(weights)).expanduser()
    parts = {"v": 1, "video": file_identity(video), "weights": file_identity(weights)}
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    path = cache_dir() / f"{key}.npy"
    if path.is_file():
        try:
            return np.asarray(load_array(path, np.float32, mmap=False))
        except (OSError, ValueError):
            pass  # a damaged entry: computed again and replaced
    net = load_network(weights, device)
    feats = extract(video, net, device=device).astype(np.float32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, feats, allow_pickle=False)
        atomic_write_bytes(path, buf.getvalue())
    except OSError:
        pass  # a read-only cache: the features are still returned
    return feats


def clip_slowfast(video: "str | os.PathLike[str]", precomputed: str | None, weights: str | None, device: str = "cpu"):
    """What a SlowFast+CLIP model's ``video_input`` gets: the user's precomputed features file when
    given (``-O slowfast=FILE``), else features computed here with ``weights`` (cached)."""
    if precomputed:
        return precomputed
    if not weights:
        weights = str(ensure_release())  # the default location; downloaded there on first use
    return cached_features(video, weights, device=device)

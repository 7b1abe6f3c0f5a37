"""The indexing pipeline: decode -> preprocess -> encode as concurrent stages with bounded queues.

Run one after the other, decoding and encoding each leave the other's hardware idle: on a CPU the
decoder's cores wait while the model runs, on a GPU the model waits for a serial decoder. Here
each stage runs in its own thread (:mod:`vtg.stages`), connected by queues ``depth`` batches
deep, so the slowest stage sets the pace and memory holds a fixed number of batches whatever
the length of the video:

1. decode (thread): :func:`vtg.video.iter_frames` with the encoder's input size
   (:meth:`~vtg.encoders.Encoder.decode_size`): frames are shrunk inside FFmpeg's colour
   conversion, and long videos are decoded as parallel segments (:mod:`vtg.video.segments`);
2. preprocess (thread): :meth:`~vtg.encoders.Encoder.prepare_images`, batched tensor work on the
   encoder's device (the upload to a GPU happens here, from pinned memory);
3. encode (caller's thread): :meth:`~vtg.encoders.Encoder.encode_pixels`; on CUDA the features
   are copied back asynchronously into pinned buffers and handed out two batches later, so no
   batch waits on a synchronous device-to-host copy.

Encoders without a pixel path (:attr:`~vtg.encoders.Encoder.supports_pixels` False) get whole
frame batches through ``encode_images`` instead, still overlapped with decoding.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Iterator

import numpy as np

from vtg import stages

#: Batches waiting between two stages.
DEPTH = 2


def encoded_batches(path: Path, encoder, fps: float | None, *, max_frames: int | None = None,
                    backend: str = "pyav", workers: int | None = None, info=None,
                    depth: int = DEPTH) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(times [n], features [n, ...])`` per batch of sampled frames, in time order."""
    from vtg.features import decode_batch_size
    from vtg.video import iter_frames, probe

    info = info if info is not None else probe(path, backend=backend)
    width, height = encoder.decode_size(info.width, info.height)
    batch = decode_batch_size(encoder.batch_size, width, height)
    frames = iter_frames(path, fps, max_frames=max_frames, batch_size=batch, backend=backend, workers=workers,
                         frame_size=encoder.decode_size, info=info)
    decoded = stages.threaded(_pinned(frames, encoder.device), depth, "vtg-decode")
    if not encoder.supports_pixels:
        for fb in decoded:
            yield fb.times, encoder.encode_images(fb.frames)
        return
    prepared = stages.mapped(lambda fb: (fb.times, encoder.prepare_images(fb.frames)), decoded, depth,
                             "vtg-preprocess")
    try:
        yield from _to_host((times, encoder.encode_pixels(pixels)) for times, pixels in prepared)
    finally:
        prepared.close()


def _pinned(batches, device: str):
    """On CUDA, frame batches as page-locked tensors (the upload then runs asynchronously)."""
    if not str(device).startswith("cuda"):
        yield from batches
        return
    import torch

    from vtg.video import FrameBatch

    for fb in batches:
        yield FrameBatch(fb.times, torch.from_numpy(fb.frames).pin_memory())


def _to_host(batches) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Device features -> float32 numpy. CPU: free. CUDA: asynchronous copies into pinned memory,
    each waited for only when two newer batches are queued behind it."""
    import torch

    waiting: deque = deque()
    for times, feats in batches:
        if feats.device.type != "cuda":
            yield times, feats.float().numpy()
            continue
        host = torch.empty(feats.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(feats.float(), non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        waiting.append((times, host, done))
        if len(waiting) > 2:
            yield _ready(waiting.popleft())
    while waiting:
        yield _ready(waiting.popleft())


def _ready(entry) -> tuple[np.ndarray, np.ndarray]:
    times, host, done = entry
    done.synchronize()
    return times, host.numpy()

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
from typing import Iterator

import numpy as np

from vtg import stages
from vtg.video import FrameBatch
from vtg.video.source import VideoSource

#: Batches waiting between two stages.
DEPTH = 2
#: Decoded frames held at once are capped at this many bytes (a 4K batch of 64 would be 1.6 GB).
DECODE_BYTES = 256 << 20


def encoded_batches(video, encoder, fps: float | None, *, max_frames: int | None = None,
                    backend: str = "pyav", workers: int | None = None,
                    depth: int = DEPTH) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(times [n], features [n, ...])`` per batch of sampled frames of ``video`` (a path or a
    :class:`~vtg.video.source.VideoSource`, probed once), in time order."""
    from vtg.video import iter_frames

    path = VideoSource.of(video)
    info = path.info(backend)
    width, height = encoder.decode_size(info.width, info.height)
    cuda = str(encoder.device).startswith("cuda") and encoder.supports_pixels
    per_pass = cuda_batch_size(encoder, width, height) if cuda else encoder.batch_size
    batch = decode_batch_size(per_pass, width, height)
    frames = iter_frames(path, fps, max_frames=max_frames, batch_size=batch, backend=backend, workers=workers,
                         frame_size=encoder.decode_size)
    decoded = stages.threaded(_pinned(frames) if cuda else frames, depth, "vtg-decode")
    if not encoder.supports_pixels:
        try:
            for fb in decoded:
                yield fb.times, encoder.encode_images(fb.frames)
        finally:
            decoded.close()
        return
    prepare = _CudaUpload(encoder) if cuda else (lambda fb: (fb.times, encoder.prepare_images(fb.frames), None))
    prepared = stages.mapped(prepare, decoded, depth, "vtg-preprocess")
    try:
        yield from _to_host((times, _encode(encoder, pixels, ready)) for times, pixels, ready in prepared)
    finally:
        prepared.close()


def _pinned(batches):
    """Frame batches as page-locked host tensors, so the upload to the GPU runs asynchronously
    (frames already on the GPU, from the torchcodec backend, pass through)."""
    import torch

    for fb in batches:
        frames = fb.frames if isinstance(fb.frames, torch.Tensor) else torch.from_numpy(fb.frames)
        yield FrameBatch(fb.times, frames if frames.is_cuda else frames.pin_memory())


class _CudaUpload:
    """The preprocess stage on CUDA: upload and preprocess on a side stream, so they overlap the
    encoder's kernels on the default stream; an event tells the encoder when the pixels are ready."""

    def __init__(self, encoder):
        import torch

        self.encoder = encoder
        self.stream = torch.cuda.Stream(device=encoder.device)

    def __call__(self, fb):
        import torch

        with torch.cuda.stream(self.stream):
            pixels = self.encoder.prepare_images(fb.frames)
            ready = torch.cuda.Event()
            ready.record(self.stream)
        return fb.times, pixels, ready


def _encode(encoder, pixels, ready):
    if ready is not None:  # wait (on the GPU, not the host) for the side stream's upload
        import torch

        current = torch.cuda.current_stream(pixels.device)
        current.wait_event(ready)
        pixels.record_stream(current)
    return encoder.encode_pixels(pixels)


#: Share of the free GPU memory the encoder's batches may fill (the rest: queued frames, allocator slack).
CUDA_MEMORY_SHARE = 0.6
CUDA_MAX_BATCH = 1024


def decode_batch_size(encoder_batch: int, width: int, height: int) -> int:
    """Frames per decoded batch: the encoder's batch, fewer for very large frames."""
    frame_bytes = max(1, width * height * 3)
    return max(1, min(int(encoder_batch), DECODE_BYTES // frame_bytes))


def cuda_batch_size(encoder, width: int, height: int) -> int:
    """Frames per forward pass on CUDA, from free memory: one trial batch measures the peak memory
    a frame costs (activations at the model's precision), and the batch fills ``CUDA_MEMORY_SHARE``
    of what is free. Remembered on the encoder."""
    import torch

    cached = getattr(encoder, "_cuda_batch", None)
    if cached:
        return cached
    trial = 8
    frames = torch.zeros((trial, height, width, 3), dtype=torch.uint8)
    torch.cuda.synchronize(encoder.device)
    base = torch.cuda.memory_allocated(encoder.device)
    torch.cuda.reset_peak_memory_stats(encoder.device)
    encoder.encode_pixels(encoder.prepare_images(frames))
    torch.cuda.synchronize(encoder.device)
    per_frame = max(1, (torch.cuda.max_memory_allocated(encoder.device) - base) // trial)
    free, _total = torch.cuda.mem_get_info(encoder.device)
    size = int(min(CUDA_MAX_BATCH, max(trial, CUDA_MEMORY_SHARE * free // per_frame)))
    encoder._cuda_batch = size - size % 8 if size >= 16 else size
    return encoder._cuda_batch


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

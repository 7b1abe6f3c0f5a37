"""The optional torchcodec backend (``pip install 'vtg[torchcodec]'``): NVDEC decoding on CUDA.

On a GPU the encoder outruns any CPU decoder (a ViT-B/32 in fp16 encodes thousands of frames a
second), so decoding has to move to the GPU's own video engine too. torchcodec's CUDA decoder
does that and hands back frames already in GPU memory, which then go to the encoder's batched
preprocessing (:mod:`vtg.encoders.preprocess`) without a trip through the host. Without CUDA it
decodes on the CPU, which is only useful for testing this backend.

Frame exactness: the frames to keep are chosen here with the shared rule
(:func:`vtg.video.sampling.select_indices`) over the presentation times of all frames, read from
the container's packets with PyAV (no decoding), and fetched by index with torchcodec's exact seek
mode; the presentation times torchcodec reports for the fetched frames must agree with those (to
1 ms), else the file is refused with UnsupportedVideoError pointing to the pyav backend. Like the
decord backend, MP4 edit lists that hide or shift frames are refused (:mod:`vtg.video.editlist`),
since a frame index then means different frames to different readers.

Frames come out as torch uint8 tensors [H, W, 3] on the decoding device, upright (rotation
applied here when the decoder does not) and resized to the requested size on the device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from vtg.errors import CorruptVideoError, DependencyError, UnsupportedVideoError
from vtg.video import pyav_backend
from vtg.video.decord_backend import check_edit_list
from vtg.video.files import open_container, video_stream
from vtg.video.info import VideoInfo
from vtg.video.sampling import select_indices

_CHUNK = 32  # frames fetched per get_frames_at call
_PTS_TOLERANCE = 1e-3  # seconds between our packet times and torchcodec's frame times


def _torchcodec():
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception as err:  # ImportError, or its FFmpeg libraries failing to load (RuntimeError/OSError)
        raise DependencyError("torchcodec backend", "torchcodec", extra="torchcodec") from err
    return VideoDecoder


def probe(path: Path) -> VideoInfo:
    """PyAV's probe, after checking torchcodec is importable and the file has no hiding edit list."""
    _torchcodec()
    try:
        check_edit_list(path)
    except UnsupportedVideoError as err:
        raise UnsupportedVideoError(str(err).replace("decord", "torchcodec")) from None
    return pyav_backend.probe(path)


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def frame_times(path: Path, info: VideoInfo) -> np.ndarray:
    """Presentation times of every frame, seconds from the stream's start, from packets alone."""
    with open_container(path) as container:
        stream = video_stream(container, path)
        origin = stream.start_time
        pts = [p.pts for p in container.demux(stream) if p.pts is not None and not p.is_discard]
        if not pts:
            raise CorruptVideoError(f"{path}: no video packets with timestamps")
        ordered = np.unique(np.asarray(pts, np.int64))
        base = origin if origin is not None else int(ordered[0])
        return (ordered - base).astype(np.float64) * float(stream.time_base)


def decode(path: Path, info: VideoInfo, targets: np.ndarray | None, out_size: tuple[int, int] | None,
           workers: int = 1) -> Iterator[tuple[float, object]]:
    """Yield ``(time, frame tensor)`` for each target (or every frame), fetched in chunks."""
    VideoDecoder = _torchcodec()
    try:
        decoder = VideoDecoder(str(Path(path).absolute()), device=device(), seek_mode="exact",
                               dimension_order="NHWC", num_ffmpeg_threads=0)
    except Exception as err:
        raise UnsupportedVideoError(f"{path}: torchcodec cannot read this file ({err}); use backend='pyav'") from err
    times = frame_times(path, info)
    counted = getattr(decoder.metadata, "num_frames", None)
    if counted is not None and int(counted) != len(times):
        raise UnsupportedVideoError(f"{path}: torchcodec counts {counted} frames, the container {len(times)}; "
                                    "use backend='pyav'")
    indices = np.arange(len(times)) if targets is None else select_indices(times, targets)
    start = float(info.start_time)
    for lo in range(0, len(indices), _CHUNK):
        chunk = indices[lo:lo + _CHUNK]
        try:
            batch = decoder.get_frames_at(indices=chunk.tolist())
        except Exception as err:
            raise CorruptVideoError(f"{path}: torchcodec failed near {times[chunk[0]]:.2f}s ({err})") from err
        got = np.asarray(batch.pts_seconds.cpu(), np.float64) - start
        if np.abs(got - times[chunk]).max() > _PTS_TOLERANCE:
            raise UnsupportedVideoError(f"{path}: torchcodec's frame times disagree with the container's; "
                                        "use backend='pyav'")
        frames = upright(batch.data, info, out_size)
        for index, frame in zip(chunk, frames):
            yield float(times[index]), frame


def upright(frames, info: VideoInfo, out_size: tuple[int, int] | None):
    """[N, H, W, 3] uint8 tensor -> rotated to display orientation and resized, on its device."""
    import torch
    from torchvision.transforms import functional as TF

    width, height = info.width, info.height
    if info.rotation and tuple(frames.shape[1:3]) != (height, width):  # the decoder left it coded
        frames = torch.rot90(frames, k=-(info.rotation // 90), dims=(1, 2))
    if out_size is not None and tuple(frames.shape[1:3]) != (out_size[1], out_size[0]):
        chw = frames.permute(0, 3, 1, 2)
        chw = TF.resize(chw, [out_size[1], out_size[0]], antialias=True)
        frames = chw.permute(0, 2, 3, 1)
    return frames.contiguous()

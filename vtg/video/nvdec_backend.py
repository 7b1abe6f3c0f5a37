"""NVDEC decoding through PyAV's bundled FFmpeg (``vtg --decoder nvdec``): the GPU's video engine.

On a GPU the encoder outruns a CPU decoder (a ViT-B/32 in fp16 encodes thousands of frames a
second), so decoding moves to the GPU's own video engine (NVDEC), which leaves the CPU free for
demuxing and colour conversion. It needs no extra package: PyAV's wheels carry an FFmpeg built
with CUDA hardware decoding, which loads the driver's ``libcuda`` / ``libnvcuvid`` when asked.

Everything but the decoding itself is the pyav backend's: the same probe, the same demuxing and
timestamps, the same frame choice (:func:`vtg.video.sampling.select_stream`), the same parallel
segments for long videos (one NVDEC session each), the same conversion to RGB at the model's
input size. FFmpeg's hardware decoders are bit-exact for H.264/HEVC, so the frames are those of
the pyav backend (checked against it on the barcode fixtures, ``gpu``-marked tests). Each
decoded picture is copied back to host memory before conversion; the copy of a 1080p NV12
picture is ~3 MB, far below what the bus moves per frame at NVDEC's rate.

Nothing falls back silently: when NVDEC cannot decode a file (no NVIDIA GPU or driver, a codec or
profile the engine lacks), probing fails with a DependencyError that says so and names the
default decoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from vtg.errors import DependencyError, VtgError
from vtg.video import pyav_backend
from vtg.video.files import video_stream
from vtg.video.info import VideoInfo


def accel():
    """PyAV's settings for decoding on CUDA, software fallback off (a silent CPU decode would be
    mistaken for the GPU's). Each decoder (one per parallel segment) would otherwise create a CUDA
    context of its own (a fraction of a second and some memory each); ``primary_ctx`` makes them
    share the device's primary context, the one PyTorch uses too."""
    from av.codec.hwaccel import HWAccel

    return HWAccel("cuda", allow_software_fallback=False, options={"primary_ctx": "1"})


class NvdecUnavailableError(DependencyError):
    """NVDEC cannot decode this file here (no GPU, no driver, or a codec the engine lacks): a
    DependencyError, so a batch reruns such records on resume (with another ``--decoder``)."""

    def __init__(self, path: Path, why: str):
        VtgError.__init__(self, 
            f"{path}: NVDEC (GPU) decoding is not available here ({why}); it needs an NVIDIA GPU with its "
            "driver and a codec the GPU's video engine decodes (H.264, HEVC, VP9, AV1...); "
            "use --decoder pyav (the default) to decode on the CPU")


def check(path: Path) -> None:
    """Decode the first frame on the GPU, or raise NvdecUnavailableError saying why not."""
    import av

    try:  # not files.open_container: its errors blame the file, here the device is at fault
        container = av.open(str(Path(path).absolute()), metadata_errors="replace", hwaccel=accel())
    except av.error.FFmpegError as err:  # the CUDA device could not be created
        raise NvdecUnavailableError(path, f"no CUDA device: {err}") from err
    with container:
        stream = video_stream(container, path)
        if not stream.codec_context.is_hwaccel:
            raise NvdecUnavailableError(path, f"FFmpeg has no CUDA decoder for {stream.codec_context.name}")
        try:
            for _frame in container.decode(stream):
                return
        except av.error.FFmpegError as err:
            raise NvdecUnavailableError(path, f"the GPU refused this stream: {err}") from err


def probe(path: Path) -> VideoInfo:
    """The pyav backend's probe, after checking NVDEC decodes this file."""
    info = pyav_backend.probe(path)
    check(path)
    return info


def decode(path: Path, info: VideoInfo, targets: np.ndarray | None, out_size: tuple[int, int] | None,
           workers: int = 1) -> Iterator[tuple[float, np.ndarray]]:
    """As :func:`vtg.video.pyav_backend.decode`, each decoder a session on the GPU's video engine."""
    yield from pyav_backend.decode(path, info, targets, out_size, workers, accel=accel)


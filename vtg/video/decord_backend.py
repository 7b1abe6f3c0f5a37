"""The optional decord backend (``pip install 'vtg[decord]'``).

decord ignores MP4 edit lists: on a clip cut with ``ffmpeg -ss T -i in.mp4 -c copy out.mp4`` it
returns the key-frame lead-in that the edit list hides, negative or shifted timestamps, and (with
seeking) frames several seconds off. This backend therefore reads the edit list itself
(:mod:`vtg.video.editlist`) and refuses, with UnsupportedVideoError pointing to the pyav backend,
any file whose edit list hides coded frames or that it cannot account for. The common edit that
only removes the B-frame composition delay (every ffmpeg-muxed H.264 file with B-frames) hides
nothing and is accepted: decord reads those correctly. Refusing rather than correcting: decord's
frame indices and its seek results disagree with each other on such files (measured), so no simple
offset fixes them. Metadata (rotation, audio, frame-rate variability) comes from PyAV's probe.
decord 0.6 applies the display matrix itself and takes ``width``/``height`` in display
orientation, so its frames come out upright at the requested size (tested against PyAV).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from vtg.errors import CorruptVideoError, DependencyError, UnsupportedVideoError
from vtg.video import pyav_backend
from vtg.video.editlist import video_edit_list
from vtg.video.files import looks_like_mp4
from vtg.video.info import VideoInfo
from vtg.video.sampling import select_indices

_CHUNK = 32  # frames fetched from decord per get_batch call


def _decord():
    try:
        import decord
    except ImportError as err:
        raise DependencyError("decord backend", "decord", extra="decord") from err
    return decord


def check_edit_list(path: Path) -> None:
    """UnsupportedVideoError when an MP4 edit list would make decord return wrong frames."""
    if not looks_like_mp4(path):
        return
    edits = video_edit_list(path)
    if edits is None or not edits.shifts_or_cuts:
        return
    hidden = edits.hidden_samples
    what = f"hides {hidden} coded frames" if hidden else "shifts or cuts the media"
    raise UnsupportedVideoError(
        f"{path} has an MP4 edit list that {what} ({edits.describe()}), typical of clips cut with "
        "'ffmpeg -ss ... -c copy'; decord ignores edit lists and would return wrong frames and times: "
        "use backend='pyav' (the default), or re-encode the clip")


def probe(path: Path) -> VideoInfo:
    """PyAV's probe, after checking decord can read this file correctly."""
    _decord()
    check_edit_list(path)
    return pyav_backend.probe(path)


def _reader(path: Path, info: VideoInfo, out_size: tuple[int, int] | None):
    decord = _decord()
    width, height = out_size or (info.width, info.height)  # display orientation: decord rotates
    try:
        return decord.VideoReader(str(Path(path).absolute()), ctx=decord.cpu(0), width=width, height=height, num_threads=0)
    except Exception as err:  # decord's DECORDError; PyAV's probe already read the file, so it is decord
        raise UnsupportedVideoError(f"{path}: decord cannot read this file ({err}); use backend='pyav'") from err


def _frame_times(reader, path: Path) -> np.ndarray:
    """Frame start times from decord, from the first frame; refuses anything not increasing."""
    stamps = np.asarray(reader.get_frame_timestamp(np.arange(len(reader))), np.float64)[:, 0]
    if stamps.size == 0:
        raise CorruptVideoError(f"{path}: decord finds no frames")
    if stamps[0] < -1e-3 or np.any(np.diff(stamps) <= 0):
        raise UnsupportedVideoError(
            f"{path}: decord reports negative or non-increasing timestamps for this file; use backend='pyav'")
    return stamps - stamps[0]


def decode(path: Path, info: VideoInfo, targets: np.ndarray | None,
           out_size: tuple[int, int] | None, workers: int = 1) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(time, rgb)`` for each target (or every frame), in chunks of decord batch reads.

    ``workers`` is accepted for the backend interface; decord sizes its own thread pool."""
    reader = _reader(path, info, out_size)
    reader_w, reader_h = out_size or (info.width, info.height)
    times = _frame_times(reader, path)
    indices = np.arange(len(times)) if targets is None else select_indices(times, targets)
    for start in range(0, len(indices), _CHUNK):
        chunk = indices[start:start + _CHUNK]
        try:
            frames = reader.get_batch(chunk.tolist()).asnumpy()
        except Exception as err:
            raise CorruptVideoError(f"{path}: decord failed near {times[chunk[0]]:.2f}s ({err})") from err
        if frames.shape[1:3] != (reader_h, reader_w):
            raise UnsupportedVideoError(
                f"{path}: decord returned {frames.shape[2]}x{frames.shape[1]} frames, expected "
                f"{reader_w}x{reader_h}; use backend='pyav'")
        for index, frame in zip(chunk, frames):
            yield float(times[index]), frame

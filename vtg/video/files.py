"""Opening video files with PyAV and turning its failures into vtg's video errors.

Why a module of its own: every backend (and ``probe``) must give the same clear error for the
same bad input — a missing path, an empty or text file, an image, an audio-only file, a damaged
MP4 — instead of a raw ``av.error`` traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from vtg.errors import CorruptVideoError, NotAVideoError, VideoError, VideoNotFoundError

# First box types of an ISO BMFF (MP4/MOV) file: a file that starts like this but cannot be
# opened is a damaged video, not "something else".
_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"styp"}
# PyAV opens still images through these demuxers; they are not videos.
_IMAGE_FORMATS = ("image2", "_pipe")


def existing_file(path, what: str = "video") -> Path:
    """The path as a Path, after checking it names an existing regular file.

    ``what`` names the input in the message ("image" for a query image). Names the file system
    refuses (too long, a NUL byte) read as "not found" rather than raising OSError.
    """
    p = Path(path).expanduser()
    try:
        exists = p.exists()
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
        raise VideoNotFoundError(f"{what} not found: {p} ({getattr(exc, 'strerror', None) or exc})") from None
    if not exists:
        if p.is_symlink():
            raise VideoNotFoundError(f"{what} not found: {p} is a broken symbolic link (or a symlink loop)")
        raise VideoNotFoundError(f"{what} not found: {p}")
    if not p.is_file():
        kind = "a directory" if p.is_dir() else "a pipe, socket or device, not a regular file"
        raise VideoNotFoundError(f"not a file: {p} is {kind}")
    return p


def check_path(path) -> Path:
    """The path as a Path, after checking it names a non-empty, readable regular file."""
    return readable_video(existing_file(path))


def readable_video(p: Path) -> Path:
    """``p`` (known to be a regular file) after checking it is non-empty and readable."""
    if p.stat().st_size == 0:
        raise NotAVideoError(f"{p} is an empty file (0 bytes), not a video")
    if not os.access(p, os.R_OK):
        raise VideoError(f"permission denied: cannot read {p}")
    return p


def looks_like_mp4(path: Path) -> bool:
    """True when the file begins with an ISO BMFF box header (MP4, MOV, M4A, 3GP)."""
    with open(path, "rb") as f:
        head = f.read(8)
    return len(head) == 8 and head[4:8] in _ISO_BOXES


def open_container(path: Path, hwaccel=None):
    """``av.open`` with vtg's errors: NotAVideoError for what is no video, CorruptVideoError else.

    ``hwaccel``: PyAV's ``HWAccel`` settings, to decode on a GPU (:mod:`vtg.video.nvdec_backend`)."""
    import av

    extra = {"hwaccel": hwaccel} if hwaccel is not None else {}
    try:
        # absolute: a relative name such as "concat:x.mp4" or "http:a.mp4" is a file, not a protocol
        return av.open(str(Path(path).absolute()), metadata_errors="replace", **extra)
    except av.error.FileNotFoundError as err:
        raise VideoNotFoundError(f"video not found: {path}") from err
    except av.error.InvalidDataError as err:
        if looks_like_mp4(path):
            raise CorruptVideoError(
                f"{path} is a damaged or truncated MP4/MOV file (its index could not be read); "
                "re-download or re-encode it") from err
        raise NotAVideoError(f"{path} is not a video file ffmpeg can read") from err
    except (av.error.FFmpegError, OSError) as err:
        raise CorruptVideoError(f"cannot open {path}: {err}") from err


def video_stream(container, path: Path):
    """The first real video stream, or NotAVideoError naming what the file holds instead."""
    import av

    fmt = container.format.name
    if fmt.startswith(_IMAGE_FORMATS[0]) or fmt.endswith(_IMAGE_FORMATS[1]):
        raise NotAVideoError(f"{path} is a still image ({fmt}), not a video; use it as an image query")
    attached = av.stream.Disposition.attached_pic
    for stream in container.streams.video:
        if not (stream.disposition & attached):  # cover art in an MP3/M4A is not a video
            return stream
    kinds = sorted({s.type for s in container.streams})
    if "audio" in kinds:
        raise NotAVideoError(f"{path} has no video stream (audio only)")
    raise NotAVideoError(f"{path} has no video stream (streams: {', '.join(kinds) or 'none'})")

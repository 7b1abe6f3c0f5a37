"""ffmpeg command lines for cutting clips, built with ffmpeg-python and run without a shell.

The binary is the system ``ffmpeg`` when on PATH, else the one imageio-ffmpeg ships, so export
works after a plain ``pip install``. Commands are argument lists (``subprocess.run(list)``):
file names never pass through a shell, and input/output paths are absolute so a name can never
be read as an option (``-x``) or a protocol (``concat:``). A failed run raises
:class:`~vtg.errors.FFmpegError` carrying ffmpeg's stderr.

Frame-accurate cut (the default): the input is opened with ``-ss`` placed half-way between the
frame before the first wanted frame and that frame (ffmpeg decodes from the previous keyframe and
drops everything earlier), ``trim=end_frame=N`` keeps exactly the N wanted frames, and the audio
is trimmed to the same span; then libx264 + AAC re-encode. ``copy=True`` instead copies the
streams from the keyframe at or before the start: fast, but the clip starts early.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Sequence

from vtg.errors import DependencyError, FFmpegError
from vtg.export.frames import FrameWindow, SourceInfo

VIDEO_ARGS = {"vcodec": "libx264", "preset": "veryfast", "crf": 18, "pix_fmt": "yuv420p"}
AUDIO_ARGS = {"acodec": "aac", "audio_bitrate": "160k"}
QUIET = ("-hide_banner", "-nostdin", "-loglevel", "error")


@functools.lru_cache(maxsize=1)
def ffmpeg_binary() -> str:
    """System ffmpeg if present, else imageio-ffmpeg's bundled binary."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        raise DependencyError("vtg export (no ffmpeg on PATH)", "imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(stream: Any, what: str) -> None:
    """Compile an ffmpeg-python graph to an argument list and run it; failures carry stderr."""
    args = stream.global_args(*QUIET).overwrite_output().compile(cmd=ffmpeg_binary())
    run_args(args, what)


def run_args(args: Sequence[str], what: str) -> None:
    try:
        proc = subprocess.run(list(args), stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as exc:
        raise FFmpegError(f"cannot run ffmpeg for {what}", str(exc)) from None
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace")
        raise FFmpegError(f"ffmpeg failed ({proc.returncode}) on {what}", stderr)


def segment_streams(src: SourceInfo, window: FrameWindow) -> list[Any]:
    """Video (and audio) streams of one frame-accurate segment, timestamps starting at 0."""
    import ffmpeg

    lead = window.first - window.seek
    inp = ffmpeg.input(str(src.path.resolve()), ss=f"{max(0.0, window.seek + src.offset):.6f}", t=f"{lead + window.duration + 1.0:.6f}")
    video = inp.video.filter("trim", end_frame=window.frames).filter("setpts", "PTS-STARTPTS")
    if src.width % 2 or src.height % 2:  # yuv420p needs even sizes
        video = video.filter("scale", "trunc(iw/2)*2", "trunc(ih/2)*2")
    if not src.has_audio:
        return [video]
    audio = (inp.audio.filter("atrim", start=f"{lead:.6f}", end=f"{lead + window.duration:.6f}")
             .filter("asetpts", "PTS-STARTPTS"))
    return [video, audio]


def cut_exact(src: SourceInfo, window: FrameWindow, dst: Path) -> None:
    import ffmpeg

    streams = segment_streams(src, window)
    run_ffmpeg(ffmpeg.output(*streams, str(dst.resolve()), movflags="+faststart", **output_args(src)),
               f"{src.path.name} -> {dst.name}")


def reel_exact(src: SourceInfo, windows: list[FrameWindow], dst: Path) -> None:
    """All windows re-encoded into one video with the concat filter, in the given order."""
    import ffmpeg

    parts = [s for w in windows for s in segment_streams(src, w)]
    joined = ffmpeg.concat(*parts, v=1, a=1 if src.has_audio else 0).node
    streams = [joined[0], joined[1]] if src.has_audio else [joined[0]]
    run_ffmpeg(ffmpeg.output(*streams, str(dst.resolve()), movflags="+faststart", **output_args(src)),
               f"{src.path.name} -> {dst.name}")


def output_args(src: SourceInfo) -> dict[str, Any]:
    return {**VIDEO_ARGS, **(AUDIO_ARGS if src.has_audio else {})}


def cut_copy(src: SourceInfo, start: float, end: float, dst: Path) -> None:
    """Stream copy from the keyframe at or before ``start``: fast, not frame-accurate."""
    import ffmpeg

    inp = ffmpeg.input(str(src.path.resolve()), ss=f"{max(0.0, start + src.offset):.6f}", t=f"{max(end - start, 0.001):.6f}")
    run_ffmpeg(inp.output(str(dst.resolve()), c="copy", avoid_negative_ts="make_zero", movflags="+faststart"),
               f"{src.path.name} -> {dst.name}")


def concat_copy(parts: list[Path], dst: Path) -> None:
    """Join stream-copied parts with the concat demuxer (same codec parameters, no re-encode)."""
    listing = dst.with_name(f".{dst.stem}.ffconcat")
    # Names relative to the listing (the parts lie beside it): the output folder's own path may hold
    # a newline, which would end a line of the listing; the parts' sanitised names cannot.
    for p in parts:
        if p.parent.resolve() != listing.parent.resolve() or "\n" in p.name or "\r" in p.name:
            raise FFmpegError(f"cannot list {p} for the concat demuxer")
    lines = ["ffconcat version 1.0"] + ["file './" + p.name.replace("'", "'\\''") + "'" for p in parts]
    if os.path.lexists(listing):  # our own leftover, or a planted link: never written through
        os.unlink(listing)
    with open(listing, "x", encoding="utf-8") as fh:  # O_EXCL: fails rather than follow a link
        fh.write("\n".join(lines) + "\n")
    try:
        run_args([ffmpeg_binary(), *QUIET, "-y", "-f", "concat", "-safe", "0", "-i", str(listing.resolve()),
                  "-c", "copy", "-movflags", "+faststart", str(dst.resolve())], f"reel {dst.name}")
    finally:
        listing.unlink(missing_ok=True)

"""``vtg overlay VIDEO -o numbered.mp4``: NumPro frame numbers for any Video-LLM.

Samples VIDEO (1 fps by default, NumPro's training-free rate), draws each sampled frame's index
in red in the bottom-right corner, and writes the numbered frames as a video (one output frame
per sampled frame) or, with ``--frames-dir``, as images plus ``frames.json`` giving every
number's true time in seconds, so an external model's "From Frame x to Frame y" maps back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vtg.cli.options import fps_flag, ranged
from vtg.envvars import ENV_VARS
from vtg.errors import UsageError
from vtg.fileio import atomic_write_text
from vtg.options import FrameCount, Fps, check_of
from vtg.video.limits import limits


def register(app: typer.Typer) -> None:
    app.command("overlay")(overlay_command)


def overlay_command(
    video: Path = typer.Argument(..., help="Video file."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Numbered video to write (.mp4)."),
    frames_dir: Optional[Path] = typer.Option(None, "--frames-dir", help="Write numbered frames as PNG files here instead (or as well)."),
    fps: float = fps_flag(1.0, help="Frames sampled per second (NumPro: 1)."),
    max_frames: Optional[int] = ranged(None, "--max-frames", check=check_of(FrameCount), help="Sample at most this many frames (the rate drops to fit)."),
    size: Optional[int] = ranged(None, "--size", low=16, high=16384, help="Resize so the shorter side is this many pixels (font scales along)."),
    times: Optional[Path] = typer.Option(None, "--times", help="Also write a JSON list of each numbered frame's time in seconds."),
    out_fps: Optional[float] = ranged(None, "--out-fps", kind=float, check=check_of(Fps), help="Playback rate of the output video (default: the sampling rate)."),
    frame_limit: Optional[float] = ranged(None, "--frame-limit", kind=float, check=ENV_VARS["VTG_MAX_FRAMES"].check, help="Refuse to sample more frames than this (default 200000 or $VTG_MAX_FRAMES; same as `vtg --frame-limit`)."),
) -> None:
    """Number the sampled frames of VIDEO (NumPro) for feeding to any Video-LLM."""
    if output is None and frames_dir is None:
        raise UsageError("say where to write: -o numbered.mp4 and/or --frames-dir DIR")
    if fps <= 0:
        raise UsageError("--fps must be positive")
    if output is not None and output.suffix.lower() not in (".mp4", ".mkv", ".mov"):
        raise UsageError(f"-o {output}: write an .mp4 (or .mkv/.mov) video; use --frames-dir for images")
    from vtg.outputs import check_output, check_output_dir

    if output is not None:  # before decoding anything: `-o VIDEO` leaves VIDEO untouched
        check_output(output, inputs=[video], what="-o")
    if times is not None:
        check_output(times, inputs=[video, output], what="--times")
    if frames_dir is not None:
        check_output_dir(frames_dir, inputs=[video], what="--frames-dir")

    with limits(frames=frame_limit):  # this command's --frame-limit, within the run's session
        _write(video, output, frames_dir, times, fps, max_frames, size, out_fps)


def _write(video: Path, output: Path | None, frames_dir: Path | None, times: Path | None, fps: float,
           max_frames: int | None, size: int | None, out_fps: float | None) -> None:
    from vtg.overlays.video import write_numbered_frames, write_numbered_video

    written: list[float] = []
    if output is not None:
        written = write_numbered_video(video, output, fps, max_frames=max_frames, size=size, out_fps=out_fps)
        typer.echo(f"wrote {len(written)} numbered frames to {output}")
    if frames_dir is not None:
        written = write_numbered_frames(video, frames_dir, fps, max_frames=max_frames, size=size)
        typer.echo(f"wrote {len(written)} numbered frames to {frames_dir}/ (index: frames.json)")
    if times is not None:
        atomic_write_text(times, json.dumps([round(t, 4) for t in written]))

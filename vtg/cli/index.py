"""``vtg index VIDEO...``: fill the feature cache ahead of queries.

Encoder and sampling default to what ``--method`` would use (its config's ``encoder``, ``fps`` and
``max_frames``), so a later ``vtg ground`` with that method finds the features cached. Each video
is reported on one line (computed or already cached, frames, feature shape, seconds, cache file);
a video that cannot be read is reported and the rest still run (exit code 1); an encoder or usage
error stops the run at once, since it would fail every video the same way.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from vtg import jsonl, planning
from vtg.cli.options import FLAG_CHECKS, fps_flag, ranged
from vtg.cli.search import index_library_command
from vtg.errors import UsageError, VideoError, VtgError
from vtg.options import FrameCount, check_of
from vtg.registry import load_method
from vtg.settings import changed
from vtg.video.source import VideoSource


def register(app: typer.Typer) -> None:
    app.command("index")(index_command)


def index_command(
    videos: List[Path] = typer.Argument(..., help="Video files to index (folders, with --library)."),
    method: str = typer.Option("tfvtg", "--method", "-m", help="Take encoder and fps defaults from this method."),
    encoder: Optional[str] = typer.Option(None, "--encoder", "-e", help="Encoder spec (see `vtg models`)."),
    fps: Optional[float] = fps_flag(),
    max_frames: Optional[int] = ranged(None, "--max-frames", check=check_of(FrameCount), help="Sample at most this many frames."),
    device: str = typer.Option("auto", "--device", help="auto, cuda or cpu.", callback=FLAG_CHECKS["device"]),
    refresh: bool = typer.Option(False, "--refresh", help="Recompute even when cached."),
    verify: bool = typer.Option(False, "--verify", help="Use cached features only when the whole video file's SHA-256 matches (reads the whole file)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per video."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
    library: Optional[str] = typer.Option(None, "--library", "-L", help="Index the videos under these folders into a searchable library (see `vtg search`)."),
    offline: bool = typer.Option(False, "--offline", help="Never download: a model that is not cached is an error (as HF_HUB_OFFLINE=1)."),
) -> None:
    """Decode and encode VIDEO... once so later queries skip both.

    A model used for the first time is downloaded unless --offline; a plan line goes to stderr."""
    with changed(verify=verify or None, offline=offline or None):  # this command's part of the session
        _index_all(videos, method, encoder, fps, max_frames, device, refresh, as_json, progress, library)


def _index_all(videos, method, encoder, fps, max_frames, device, refresh, as_json, progress, library) -> None:
    from vtg.cli import preflight
    from vtg.features import video_features

    show = sys.stderr.isatty() if progress is None else progress
    if library is not None:
        return index_library_command(videos, library, method=method, encoder=encoder, fps=fps, max_frames=max_frames,
                                     device=device, refresh=refresh, as_json=as_json, progress=show)
    failed = 0
    runner = load_method(method) if encoder is None or fps is None else None  # one object for every video
    for video in videos:
        start = time.perf_counter()
        try:
            source = VideoSource.of(video)  # checked once, probed and hashed at most once for the whole video
            settings = _settings(runner, source, encoder, fps, max_frames)
            if settings.get("encoder") is None:
                raise UsageError(f"method {method!r} does not use a frame encoder; pass --encoder and --fps")
            if settings.get("fps") is None:
                raise UsageError(f"method {method!r} chooses its frame rate per video; pass --fps "
                                 f"(encoder: {settings['encoder']})")
            plan = planning.feature_plan(method, source, settings)
            preflight.print_downloads(plan, verbose=show)
            planning.fetch_models(plan)  # before torch: download on first use, or fail at once offline
            preflight.print_work(plan, device, verbose=show)
            feats = video_features(source, settings["encoder"], settings.get("fps"), max_frames=settings.get("max_frames"),
                                   progress=show, device=device, refresh=refresh)
        except VideoError as exc:  # this video is bad; model and usage errors stop the run
            failed += 1
            typer.echo(f"{video}: error: {exc}", err=True)
            continue
        _report(video, feats, time.perf_counter() - start, as_json)
    if failed:
        raise VtgError(f"{failed} of {len(videos)} videos could not be indexed (see above)")


def _settings(runner, video, encoder, fps, max_frames) -> dict:
    """The method's feature settings on ``video`` (when a flag leaves one open), flags winning."""
    settings: dict = {"encoder": None, "fps": None, "max_frames": None}
    if runner is not None:
        settings.update(runner.feature_settings(video))
    given = {"encoder": encoder, "fps": fps, "max_frames": max_frames}
    settings.update({k: v for k, v in given.items() if v is not None})
    return settings


def _report(video: Path, feats, seconds: float, as_json: bool) -> None:
    status = "cached" if feats.cached else "computed"
    if as_json:
        typer.echo(jsonl.dumps({"video": str(video), "status": status, "frames": len(feats),
                                "shape": list(feats.features.shape), "duration": feats.duration, "fps": feats.fps,
                                "encoder": feats.encoder, "seconds": round(seconds, 3), "path": feats.path},
                               ascii_only=True), nl=False)
        return
    shape = "x".join(str(d) for d in feats.features.shape[1:])
    typer.echo(f"{video}: {status} {len(feats)} frames [{shape}] at {feats.fps} fps, {feats.duration:.1f} s video, "
               f"{feats.encoder}, {seconds:.2f} s -> {feats.path}")

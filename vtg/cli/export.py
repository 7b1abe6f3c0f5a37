"""``vtg export RESULTS --out-dir clips/``: cut the found moments into clips (or a reel) with ffmpeg."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vtg.cli.options import ranged
from vtg.options import MAX_TOP, Seconds, check_of


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)


def export_command(
    results: Path = typer.Argument(..., help="A `vtg ground --json` result, or a predictions JSONL (e.g. from `vtg batch`)."),
    out_dir: Path = typer.Option(Path("clips"), "--out-dir", "-d", help="Folder for the clips (created if missing)."),
    top_k: int = ranged(1, "--top-k", "-k", high=MAX_TOP, help="Moments per query to export."),
    pad: float = ranged(0.0, "--pad", kind=float, check=check_of(Seconds), help="Seconds added before and after each moment."),
    copy: bool = typer.Option(False, "--copy", help="Stream copy: fast, but starts at the keyframe before the moment (inexact)."),
    reel: bool = typer.Option(False, "--reel", help="One highlight video per query: its moments in time order, overlaps merged."),
    template: Optional[str] = typer.Option(None, "--name", help="File name template; fields {vid} {qid} {rank} {start} {end} {score} {method} {query}. Default: vid_qid_rank_start-end.mp4, times with one decimal (vid_qid_reel.mp4 with --reel)."),
    video_dir: Optional[Path] = typer.Option(None, "--video-dir", help="Find the videos here (by file name or vid) instead of the paths in RESULTS."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON line per written file instead of its path."),
) -> None:
    """Write the top-k moments of each query in RESULTS as video clips (frame-accurate re-encode)."""
    from vtg.export import export_clips

    clips = export_clips(results, out_dir, top_k=top_k, pad=pad, copy=copy, reel=reel, template=template,
                         video_dir=video_dir)
    for clip in clips:
        typer.echo(json.dumps(clip.as_dict()) if as_json else clip.path)
    if not clips:
        typer.echo("vtg export: no moments to export", err=True)

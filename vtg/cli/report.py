"""``vtg report PREDICTIONS --video-dir DIR --out-dir reports/``: HTML pages per video."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from vtg.cli.options import ranged
from vtg.options import MAX_TOP


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)


def report_command(
    predictions: Path = typer.Argument(..., help="Grounding JSONL (vtg batch) or a `vtg ground --json` result."),
    video_dir: Optional[Path] = typer.Option(None, "--video-dir", help="Where the videos are (default: the paths recorded in the predictions)."),
    out_dir: Path = typer.Option(Path("reports"), "--out-dir", help="Folder for the pages (one per video, plus index.html)."),
    ground_truth: Optional[Path] = typer.Option(None, "--ground-truth", help="Annotation file; its windows are drawn under each curve."),
    embed: bool = typer.Option(False, "--embed-video", help="Inline videos up to 20 MiB as base64 so each page is a single file."),
    top_k: int = ranged(3, "--top-k", "-k", low=0, high=MAX_TOP, help="How many top moments to draw on each curve (#1 shaded, the others in lanes above); the lists show all."),
) -> None:
    """Write a self-contained HTML page per video: player, saliency curves, clickable moments."""
    from vtg.outputs import check_output_dir
    from vtg.report import write_reports

    check_output_dir(out_dir, inputs=[predictions, ground_truth], what="--out-dir")
    done = write_reports(predictions, out_dir, video_dir=video_dir, ground_truth=ground_truth, embed=embed, top_k=top_k)
    for vid in done["missing_videos"]:
        print(f"vtg: warning: no video file found for {vid}", file=sys.stderr)
    typer.echo(f"wrote {len(done['pages'])} page(s) and {out_dir / 'index.html'}")

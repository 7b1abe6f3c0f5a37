"""``vtg batch INPUT.jsonl -o OUT.jsonl``: many queries, resumable, local or on a Ray cluster."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from vtg.cli.options import check_method_options, fps_flag, method_flag, method_options, parse_key_values, ranged
from vtg.options import MAX_TOP
from vtg.settings import changed


def register(app: typer.Typer) -> None:
    app.command("batch")(batch_command)


def batch_command(
    input_path: Path = typer.Argument(..., metavar="INPUT.jsonl", help="One JSON object per line: video (or vid), query (or image), optional qid, method, options. QVHighlights / Charades-STA / ActivityNet annotation files work as they are."),
    output: Path = typer.Option(..., "--output", "-o", help="Output JSONL; rerunning with the same file and settings resumes. Only vtg's own batch output is ever appended to."),
    video_dir: Optional[Path] = typer.Option(None, "--video-dir", help="Folder holding the videos: annotation vids map to files here; relative paths resolve here."),
    method: str = typer.Option("tfvtg", "--method", "-m", help="Method for lines that name none."),
    encoder: Optional[str] = typer.Option(None, "--encoder", "-e", help="Feature encoder (a method option)."),
    fps: Optional[float] = fps_flag(help="Frames sampled per second (a method option)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Method preset (a method option)."),
    device: Optional[str] = method_flag("device", help="auto, cuda or cpu (a method option)."),
    option: Optional[List[str]] = typer.Option(None, "--option", "-O", help="Any method option as key=value (repeatable); a line's own options win."),
    top_k: Optional[int] = ranged(None, "--top-k", "-k", high=MAX_TOP, help="Keep this many moments per query (default: all the method returns)."),
    workers: int = ranged(1, "--workers", "-j", high=1024, help="Local: threads decoding/encoding the next videos ahead. Ray: number of actors."),
    engine: str = typer.Option("local", "--engine", help="local, or ray (needs vtg[ray])."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Join this Ray cluster (e.g. auto or ray://head:10001); default: start a local one."),
    ray_gpus: Optional[float] = ranged(None, "--ray-gpus", kind=float, low=0, high=1024, help="GPUs per Ray actor (default: 1 when the cluster has GPUs, else 0)."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="Also run again the lines whose error records say the input was bad (errors from the environment - missing weights, device, out of memory - are always run again)."),
    new_output: bool = typer.Option(False, "--new-output", help="Start a new OUTPUT: an existing one (vtg's own) is renamed to OUTPUT.~N~, never deleted. Needed when the settings changed."),
    fsync: bool = typer.Option(True, "--fsync/--no-fsync", help="fsync after every record (safe against power loss; --no-fsync is still safe against crashes)."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
    verify: bool = typer.Option(False, "--verify", help="Use cached features only when the whole video file's SHA-256 matches (reads the whole file)."),
) -> None:
    """Ground every line of INPUT.jsonl into OUTPUT; exits non-zero when any line failed."""
    from vtg.batch import run_batch

    warn_oversubscribed(workers, engine)
    options = method_options(encoder=encoder, fps=fps, preset=preset, device=device)
    options.update(parse_key_values(option))
    check_method_options(method, options, known_only=True)  # out of range: one error now, not one per line
    show_progress = sys.stderr.isatty() if progress is None else progress
    with changed(verify=verify or None):  # the run's session, which the workers receive
        summary = run_batch(input_path, output, engine=engine, method=method, options=options, video_dir=video_dir,
                            workers=workers, top_k=top_k, retry_errors=retry_errors, fsync=fsync,
                            progress=show_progress, ray_address=ray_address, ray_num_gpus=ray_gpus,
                            new_output=new_output)
    for note in summary.notes():
        print(f"vtg: note: {note}", file=sys.stderr)
    print(f"vtg batch: {summary.text()} -> {output}", file=sys.stderr)
    if summary.failed:
        from vtg.batch.runner import BatchFailedError

        raise BatchFailedError(f"{summary.failed} of {summary.lines} lines failed; their error records are in {output} "
                               "(--retry-errors runs bad-input errors again)")


def warn_oversubscribed(workers: int, engine: str) -> None:
    """Local workers beyond the usable CPU cores compete for them (each decodes and encodes), and
    the batch gets slower, not faster: say so, with the number that fits."""
    import os

    if engine != "local" or workers <= 1:
        return
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    if workers > cores:
        print(f"vtg: warning: --workers {workers} is more than the {cores} CPU core{'s' * (cores != 1)} this "
              f"process may use; the workers compete for them and the batch runs slower; --workers {cores} or "
              "fewer fits", file=sys.stderr)

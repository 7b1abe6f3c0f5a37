"""``vtg ground VIDEO [QUERY]``: ground one query in one video and print or save the result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

import vtg
from vtg import planning
from vtg.api import check_video_path, resolve_method
from vtg.cli.options import emit, format_flag, method_flag, method_options, parse_key_values, pick_format, ranged
from vtg.errors import UsageError, VideoNotFoundError
from vtg.options import MAX_TOP
from vtg.settings import changed
from vtg.types import Query
from vtg.video.source import VideoSource


def register(app: typer.Typer) -> None:
    app.command("ground")(ground_command)


def ground_command(
    video: Path = typer.Argument(..., help="Video file."),
    query: Optional[str] = typer.Argument(None, help="What to find, e.g. \"person opens the door\"."),
    image: Optional[Path] = typer.Option(None, "--image", help="Query by an example image instead of text."),
    method: str = typer.Option("tfvtg", "--method", "-m", help="Grounding method (see `vtg methods`)."),
    encoder: Optional[str] = method_flag("encoder"),
    model: Optional[str] = method_flag("model"),
    fps: Optional[float] = method_flag("fps"),
    preset: Optional[str] = method_flag("preset"),
    llm: Optional[str] = method_flag("llm"),
    llm_url: Optional[str] = method_flag("llm_url"),
    device: Optional[str] = method_flag("device"),
    top_k: int = ranged(5, "--top-k", "-k", high=MAX_TOP, help="How many moments to keep."),
    option: Optional[List[str]] = method_flag("option"),
    as_json: bool = method_flag("as_json"),
    fmt: Optional[str] = format_flag(),
    output: Optional[Path] = method_flag("output"),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write a self-contained HTML page: player, saliency curve, clickable moments."),
    offline: bool = typer.Option(False, "--offline", help="Never download: a model that is not cached is an error (as HF_HUB_OFFLINE=1)."),
    verify: bool = typer.Option(False, "--verify", help="Use cached features only when the whole video file's SHA-256 matches (reads the whole file)."),
) -> None:
    """Find when QUERY happens in VIDEO: ranked moments and a saliency curve.

    A model used for the first time is downloaded (size and progress on stderr) unless --offline;
    one over 1 GB asks first on a terminal (--yes skips the question).
    Before long work the plan (models to download, frames, model, device, estimated time) goes to stderr."""
    from vtg.cli import preflight
    from vtg.outputs import check_output

    check_not_swapped(video, query)
    for target, what in ((output, "-o"), (html, "--html")):  # before loading or downloading a model
        if target is not None:
            check_output(target, inputs=[video, image], what=what)
    if output is not None and html is not None and Path(output).absolute() == Path(html).absolute():
        raise UsageError(f"-o and --html both name {output}; give two files")
    options = method_options(encoder=encoder, model=model, fps=fps, preset=preset, llm=llm,
                             llm_url=llm_url, device=device)
    options.update(parse_key_values(option))
    fmt = pick_format(fmt, as_json, output)
    show_progress = sys.stderr.isatty() if progress is None else progress
    with changed(verify=verify or None, offline=offline or None):  # this command's part of the session

        q = Query.of(query, image)  # bad input fails before any download, in vtg.ground's order
        source = VideoSource.of(video)  # checked, probed and hashed once: the plan and ground share it
        if image is not None:
            check_video_path(image, what="image")
        runner = resolve_method(method, options)  # the one method object of this query
        runner.check_query(q)
        plan = runner.plan(source, q)  # before torch: what will run, what is missing
        preflight.print_downloads(plan, verbose=show_progress)
        planning.fetch_models(plan)  # the download step (or, offline, a one-line error)
        preflight.print_work(plan, options.get("device"), verbose=show_progress)
        result = vtg.ground(source, q, method=runner, top_k=top_k, progress=show_progress)
    emit([result], fmt, output, inputs=[video, image])
    if html is not None:
        from vtg.report import write_report

        written = write_report([result], video, html, inputs=[video, image])
        typer.echo(f"wrote {written}", err=True)  # stderr: stdout holds the result (a table or JSON)


def check_not_swapped(video: Path, query: str | None) -> None:
    """``vtg ground "person sits" video.mp4``: the "video" does not exist but the query names a
    file, so say so instead of a bare "video not found: person sits"."""
    try:
        swapped = bool(query) and not video.exists() and Path(str(query)).is_file()
    except (OSError, ValueError):  # a query too long or odd to be a path is a query
        return
    if swapped:
        raise VideoNotFoundError(f"video not found: {video}; did you swap VIDEO and QUERY? ({query} is a file; "
                                 "the order is: vtg ground VIDEO QUERY)")

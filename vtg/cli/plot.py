"""``vtg plot RESULT --output curve.png``: draw a grounding result's saliency curve."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from vtg.cli.options import ranged
from vtg.errors import UsageError
from vtg.options import MAX_TOP


def register(app: typer.Typer) -> None:
    app.command("plot")(plot_command)


def parse_window(text: str) -> tuple[float, float]:
    """``"24.3-30.4"`` or ``"24.3,30.4"`` -> ``(24.3, 30.4)``."""
    for sep in (",", "-", ":"):
        a, found, b = text.partition(sep)
        if found:
            try:
                start, end = float(a), float(b)
            except ValueError:
                break
            if end >= start:
                return start, end
            break
    raise UsageError(f"window {text!r} must look like START-END in seconds, e.g. 24.3-30.4")


def plot_command(
    result: Path = typer.Argument(..., help="A result of `vtg ground --json`, or a JSONL of results (vtg batch)."),
    output: Path = typer.Option(..., "--output", "-o", help="Picture to write (.png, .svg, .pdf)."),
    qid: Optional[str] = typer.Option(None, "--qid", help="Which record of a JSONL file (default: the first)."),
    top_k: int = ranged(3, "--top-k", "-k", low=0, high=MAX_TOP, help="How many top moments to draw (#1 shaded, the others in lanes above the curve)."),
    gt: Optional[List[str]] = typer.Option(None, "--gt", help="A ground-truth window START-END in seconds (repeatable)."),
    ground_truth: Optional[Path] = typer.Option(None, "--ground-truth", help="Annotation file; the windows of the record's qid are drawn."),
) -> None:
    """Plot the saliency curve over time with the top moments shaded and ground truth marked."""
    from vtg.outputs import check_output
    from vtg.plot import picture_format, plot_grounding
    from vtg.report.data import find_ground_truth, pick_record

    check_output(output, inputs=[result, ground_truth], what="-o")
    picture_format(output)  # an unknown suffix fails before reading or drawing
    record = pick_record(result, qid)
    windows = [parse_window(w) for w in gt or []]
    if ground_truth is not None:
        windows += find_ground_truth(ground_truth, record)
    path = plot_grounding(record, output, top_k=top_k, ground_truth=windows)
    typer.echo(f"wrote {path}")

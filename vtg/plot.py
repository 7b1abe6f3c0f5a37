"""Saliency-curve pictures with matplotlib: the drawing of :mod:`vtg.drawing` (the one the HTML
report shows too) rendered on matplotlib axes, saved as png, svg, pdf, ...

matplotlib is imported lazily with the Agg backend, so ``import vtg`` stays light and plotting
works on headless machines (CI, servers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from vtg.drawing import (CURVE_COLOUR, DEFAULT_MOMENTS, SHADE_OPACITY, TOP_COLOUR, TRUTH_COLOUR, TRUTH_HEIGHT,
                         LANE_HEIGHT, SaliencyDrawing, moment_colour, saliency_drawing, seconds_label, tick_step)
from vtg.errors import UsageError
from vtg.outputs import staged
from vtg.types import Grounding

__all__ = ["DEFAULT_MOMENTS", "TOP_COLOUR", "draw_grounding", "moment_colour", "picture_format", "plot_grounding",
           "render", "seconds_label", "tick_step"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def picture_format(output: str | Path) -> str:
    """The image format ``output``'s suffix asks for (png without a suffix); a suffix matplotlib
    cannot write is a :class:`~vtg.errors.UsageError` listing the ones it can, before any drawing."""
    fmt = Path(output).suffix.lstrip(".").lower() or "png"
    plt = _pyplot()
    supported = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    if fmt not in supported:
        raise UsageError(f"-o {output}: cannot write .{fmt} pictures; use one of "
                         + ", ".join(f".{s}" for s in sorted(supported)))
    return fmt


def plot_grounding(result: Grounding, output: str | Path, *, top_k: int = DEFAULT_MOMENTS,
                   ground_truth: Sequence[Sequence[float]] = (), title: str | None = None,
                   dpi: int = 120) -> Path:
    """Draw ``result``'s saliency curve, its ``top_k`` moments and ground-truth windows.

    Overlapping moments must not hide the answer: each moment gets a lane of its own in a band
    reserved above the curve (rank order, top down), and only #1 is also shaded over the curve,
    in a colour no other rank uses, drawn last with solid edges and its rank written on it. The
    format follows ``output``'s suffix (png, svg, pdf, ...). Returns the output path.
    """
    plt = _pyplot()
    output = Path(output)
    fmt = picture_format(output)
    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=dpi)
    try:
        draw_grounding(ax, result, top_k=top_k, ground_truth=ground_truth, title=title)
        fig.tight_layout()

        with staged(output, what="picture") as tmp:  # never a half-written picture under its name
            fig.savefig(tmp, format=fmt)
    finally:
        plt.close(fig)
    return output


def draw_grounding(ax: Any, result: Grounding, *, top_k: int = DEFAULT_MOMENTS,
                   ground_truth: Sequence[Sequence[float]] = (), title: str | None = None) -> None:
    """Draw the picture of :func:`plot_grounding` on the matplotlib axes ``ax``."""
    render(ax, saliency_drawing(result, top_k=top_k, ground_truth=ground_truth, title=title))


def render(ax: Any, d: SaliencyDrawing) -> None:
    """``d`` on matplotlib axes: x in seconds, y in scores, with the lanes above the curve as axes
    fractions (``d.fraction``), so the lanes keep their place however the scores run."""
    from matplotlib.ticker import FixedLocator

    if len(d.scores):
        ax.plot(d.times, d.scores, color=CURVE_COLOUR, linewidth=1.6, label="saliency", zorder=5)
    # the curve's area is the bottom part of the axes; the lanes sit above it
    ax.set_ylim(d.low, d.low + (d.high - d.low) * d.height / (d.height - d.lanes_height))
    below = d.fraction(d.lanes_height)
    for bar in reversed(d.bars):  # #1 last: on top of everything else
        _draw_bar(ax, d, bar, below)
    for i, (start, stop) in enumerate(d.truth):
        ax.axvspan(start, stop, ymin=0.0, ymax=TRUTH_HEIGHT / d.height, color=TRUTH_COLOUR, zorder=4,
                   label="ground truth" if i == 0 else None)
        for edge in (start, stop):
            ax.axvline(edge, ymax=below, color=TRUTH_COLOUR, linestyle="--", linewidth=1.0, zorder=4)
    ax.set_xlim(0.0, d.duration)
    ax.xaxis.set_major_locator(FixedLocator([t.at for t in d.xticks]))
    ax.set_xticklabels([t.label for t in d.xticks])
    ax.set_yticks([t.at for t in d.yticks], [t.label for t in d.yticks])
    ax.set_xlabel(d.xlabel)
    ax.set_ylabel(d.ylabel)
    ax.set_title(d.title, fontsize=10)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: _legend_key(labels[i]))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], title="moment (score)" if d.bars else None,
              title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _draw_bar(ax: Any, d: SaliencyDrawing, bar: Any, below: float) -> None:
    """One moment: a labelled bar in its lane; #1 is also shaded over the curve, with solid edges,
    up to ``below`` (the bottom of the lanes, a fraction of the height)."""
    top, bottom = d.fraction(bar.top), d.fraction(bar.top + LANE_HEIGHT)
    first = bar.rank == 1
    ax.axvspan(bar.start, bar.end, ymin=bottom, ymax=top, facecolor=bar.colour, edgecolor="white",
               linewidth=0.8, alpha=0.95, zorder=6 if first else 3, label=bar.label)
    left = min(max(bar.start, 0.0), d.duration)
    ax.text(left, 0, f" #{bar.rank}", transform=ax.get_xaxis_transform(), va="center", ha="left",
            fontsize=7, fontweight="bold", color="white", clip_on=True,
            zorder=7 if first else 3.5).set_y((top + bottom) / 2)
    if first:
        ax.axvspan(bar.start, bar.end, ymin=0.0, ymax=below, facecolor=bar.colour, alpha=SHADE_OPACITY, linewidth=0,
                   zorder=2)
        for edge in (bar.start, bar.end):
            ax.axvline(edge, ymin=0.0, ymax=below, color=bar.colour, linewidth=1.6, zorder=4)


def _legend_key(label: str) -> tuple:
    """Legend order: saliency, the moments by rank, ground truth."""
    if label.startswith("#"):
        return (1, int(label[1:].split()[0]))
    return (0, 0) if label == "saliency" else (2, 0)

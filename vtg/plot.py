"""Saliency-curve pictures: the curve over time, the top moments shaded, ground truth marked.

matplotlib is imported lazily with the Agg backend, so ``import vtg`` stays light and plotting
works on headless machines (CI, servers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vtg.timefmt import clock as clock_text
from vtg.timefmt import span
from vtg.types import Grounding

#: How many top moments pictures draw unless asked for more (``--top-k``).
DEFAULT_MOMENTS = 3
#: The #1 moment's colour: it alone is shaded over the curve, drawn above every other moment.
TOP_COLOUR = "#d62728"
#: Ranks 2, 3, ... (cycled): bars in lanes of their own above the curve, never over #1.
OTHER_COLOURS = ("#f3a712", "#2ca02c", "#8f5ea2", "#17bebb", "#8c564b", "#7f7f7f")
#: Height of one moment lane, as a fraction of the plot's height.
LANE = 0.055


def moment_colour(rank: int) -> str:
    """The colour of the moment ranked ``rank`` (1-based), shared by pictures and report pages."""
    return TOP_COLOUR if rank == 1 else OTHER_COLOURS[(rank - 2) % len(OTHER_COLOURS)]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def seconds_label(seconds: float, _pos=None, *, clock: bool | None = None) -> str:
    """Tick labels in seconds, switching to m:ss for long videos. ``clock`` forces m:ss (or plain
    seconds) so one axis never mixes ``90`` with ``2:00``; by default it is chosen per value."""
    if seconds >= 120 if clock is None else clock:
        return clock_text(seconds, 0)
    return f"{seconds:g}"


def tick_step(duration: float) -> float | None:
    """Whole-minute tick spacing for long videos (at most ~10 ticks), instead of matplotlib's
    decimal steps, which put ticks at 8:20, 16:40, ... on an hour; None under two minutes."""
    if duration < 120:
        return None
    return next((step for step in (30, 60, 120, 300, 600, 900, 1200, 1800, 3600) if duration / step <= 10),
                3600 * max(1, round(duration / 36000)))


def picture_format(output: str | Path) -> str:
    """The image format ``output``'s suffix asks for (png without a suffix); a suffix matplotlib
    cannot write is a :class:`~vtg.errors.UsageError` listing the ones it can, before any drawing."""
    from vtg.errors import UsageError

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
        from vtg.outputs import staged

        with staged(output, what="picture") as tmp:  # never a half-written picture under its name
            fig.savefig(tmp, format=fmt)
    finally:
        plt.close(fig)
    return output


def draw_grounding(ax, result: Grounding, *, top_k: int = DEFAULT_MOMENTS,
                   ground_truth: Sequence[Sequence[float]] = (), title: str | None = None) -> None:
    """Draw the picture of :func:`plot_grounding` on the matplotlib axes ``ax``."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    sal = result.saliency
    moments = list(result.moments[:max(top_k, 0)])
    end = result.duration or (float(sal.times[-1]) if len(sal) else 1.0)
    if len(sal):
        ax.plot(sal.times, sal.scores, color="#1f4e79", linewidth=1.6, label="saliency", zorder=5)
    room = LANE * len(moments) + (0.03 if moments else 0.0)  # the lanes' share of the height
    _set_ylim(ax, sal.scores if len(sal) else (), room)
    for rank in range(len(moments), 0, -1):  # #1 last: on top of everything else
        _draw_moment(ax, moments[rank - 1], rank, end, result.duration, 1.0 - room)
    for i, (start, stop) in enumerate(ground_truth):
        ax.axvspan(start, stop, ymin=0.0, ymax=0.06, color="black", zorder=4,
                   label="ground truth" if i == 0 else None)
        for edge in (start, stop):
            ax.axvline(edge, ymax=1.0 - room, color="black", linestyle="--", linewidth=1.0, zorder=4)
    ax.set_xlim(0.0, max(end, 1e-3))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, pos: seconds_label(v, pos, clock=end >= 120)))
    if tick_step(end):
        ax.xaxis.set_major_locator(MultipleLocator(tick_step(end)))
    ax.set_xlabel("time (s)" if end < 120 else "time (m:ss)" if end < 3600 else "time (h:mm:ss)")
    ax.set_ylabel("saliency")
    ax.set_title(title or f"{result.query!r} in {result.vid} ({result.method})", fontsize=10)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: _legend_key(labels[i]))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], title="moment (score)" if moments else None,
              title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _set_ylim(ax, scores, room: float) -> None:
    """Y limits leaving the top ``room`` (a fraction of the height) free for the moment lanes."""
    import numpy as np

    values = np.asarray(scores, dtype=np.float64)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    pad = (hi - lo) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad
    ax.set_ylim(lo, hi + (hi - lo) * room / (1.0 - room))
    ax.set_yticks([t for t in ax.get_yticks() if lo <= t <= hi])  # no saliency ticks beside the lanes
    ax.set_ylim(lo, hi + (hi - lo) * room / (1.0 - room))


def _draw_moment(ax, m, rank: int, end: float, duration: float, below: float) -> None:
    """One moment: a labelled bar in lane ``rank`` (top down); #1 is also shaded over the curve,
    with solid edges, up to ``below`` (the bottom of the lanes, a fraction of the height)."""
    colour = moment_colour(rank)
    label = f"#{rank} {span(m.start, m.end, duration)} ({m.score:.2f})"
    top = 1.0 - LANE * (rank - 1) - 0.01
    ax.axvspan(m.start, m.end, ymin=top - LANE * 0.8, ymax=top, facecolor=colour, edgecolor="white",
               linewidth=0.8, alpha=0.95, zorder=6 if rank == 1 else 3, label=label)
    left = min(max(m.start, 0.0), end)
    ax.text(left, 0, f" #{rank}", transform=ax.get_xaxis_transform(), va="center", ha="left",
            fontsize=7, fontweight="bold", color="white", clip_on=True,
            zorder=7 if rank == 1 else 3.5).set_y(top - LANE * 0.4)
    if rank == 1:
        ax.axvspan(m.start, m.end, ymin=0.0, ymax=below, facecolor=colour, alpha=0.16, linewidth=0, zorder=2)
        for edge in (m.start, m.end):
            ax.axvline(edge, ymin=0.0, ymax=below, color=colour, linewidth=1.6, zorder=4)


def _legend_key(label: str) -> tuple:
    """Legend order: saliency, the moments by rank, ground truth."""
    if label.startswith("#"):
        return (1, int(label[1:].split()[0]))
    return (0, 0) if label == "saliency" else (2, 0)

"""Saliency-curve pictures: the curve over time, the top moments shaded, ground truth marked.

matplotlib is imported lazily with the Agg backend, so ``import vtg`` stays light and plotting
works on headless machines (CI, servers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vtg.types import Grounding

MOMENT_COLOURS = ("#e4572e", "#f3a712", "#76b041", "#17bebb", "#8f5ea2")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def seconds_label(seconds: float, _pos=None, *, clock: bool | None = None) -> str:
    """Tick labels in seconds, switching to m:ss for long videos. ``clock`` forces m:ss (or plain
    seconds) so one axis never mixes ``90`` with ``2:00``; by default it is chosen per value."""
    if seconds >= 120 if clock is None else clock:
        h, rest = divmod(int(round(seconds)), 3600)
        m, s = divmod(rest, 60)
        return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
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


def plot_grounding(result: Grounding, output: str | Path, *, top_k: int = 3,
                   ground_truth: Sequence[Sequence[float]] = (), title: str | None = None,
                   dpi: int = 120) -> Path:
    """Draw ``result``'s saliency curve, shade its ``top_k`` moments, outline ground-truth windows.

    The format follows ``output``'s suffix (png, svg, pdf, ...). Returns the output path.
    """
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    output = Path(output)
    fmt = picture_format(output)
    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=dpi)
    try:
        sal = result.saliency
        if len(sal):
            ax.plot(sal.times, sal.scores, color="#1f4e79", linewidth=1.6, label="saliency")
        for rank, m in enumerate(result.moments[:top_k], 1):
            colour = MOMENT_COLOURS[(rank - 1) % len(MOMENT_COLOURS)]
            span = (f"{m.start:.1f}-{m.end:.1f} s" if result.duration < 120  # the axis' own units
                    else f"{seconds_label(m.start, clock=True)}-{seconds_label(m.end, clock=True)}")
            ax.axvspan(m.start, m.end, color=colour, alpha=0.25, label=f"#{rank} {span} ({m.score:.2f})")
        for i, (start, end) in enumerate(ground_truth):
            ax.axvspan(start, end, ymin=0.0, ymax=0.06, color="black",
                       label="ground truth" if i == 0 else None)
            for edge in (start, end):
                ax.axvline(edge, color="black", linestyle="--", linewidth=1.0)
        end = result.duration or (float(sal.times[-1]) if len(sal) else 1.0)
        ax.set_xlim(0.0, max(end, 1e-3))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, pos: seconds_label(v, pos, clock=end >= 120)))
        if tick_step(end):
            ax.xaxis.set_major_locator(MultipleLocator(tick_step(end)))
        ax.set_xlabel("time (s)" if end < 120 else "time (m:ss)" if end < 3600 else "time (h:mm:ss)")
        ax.set_ylabel("saliency")
        ax.set_title(title or f"{result.query!r} in {result.vid} ({result.method})", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        fig.tight_layout()
        from vtg.outputs import staged

        with staged(output, what="picture") as tmp:  # never a half-written picture under its name
            fig.savefig(tmp, format=fmt)
    finally:
        plt.close(fig)
    return output

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


def seconds_label(seconds: float, _pos=None) -> str:
    """Tick labels in seconds, switching to m:ss for long videos."""
    if seconds >= 120:
        m, s = divmod(int(round(seconds)), 60)
        return f"{m}:{s:02d}"
    return f"{seconds:g}"


def plot_grounding(result: Grounding, output: str | Path, *, top_k: int = 3,
                   ground_truth: Sequence[Sequence[float]] = (), title: str | None = None,
                   dpi: int = 120) -> Path:
    """Draw ``result``'s saliency curve, shade its ``top_k`` moments, outline ground-truth windows.

    The format follows ``output``'s suffix (png, svg, pdf, ...). Returns the output path.
    """
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    output = Path(output)
    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=dpi)
    try:
        sal = result.saliency
        if len(sal):
            ax.plot(sal.times, sal.scores, color="#1f4e79", linewidth=1.6, label="saliency")
        for rank, m in enumerate(result.moments[:top_k], 1):
            colour = MOMENT_COLOURS[(rank - 1) % len(MOMENT_COLOURS)]
            ax.axvspan(m.start, m.end, color=colour, alpha=0.25,
                       label=f"#{rank} {m.start:.1f}-{m.end:.1f} s ({m.score:.2f})")
        for i, (start, end) in enumerate(ground_truth):
            ax.axvspan(start, end, ymin=0.0, ymax=0.06, color="black",
                       label="ground truth" if i == 0 else None)
            for edge in (start, end):
                ax.axvline(edge, color="black", linestyle="--", linewidth=1.0)
        end = result.duration or (float(sal.times[-1]) if len(sal) else 1.0)
        ax.set_xlim(0.0, max(end, 1e-3))
        ax.xaxis.set_major_formatter(FuncFormatter(seconds_label))
        ax.set_xlabel("time (s)" if end < 120 else "time (m:ss)")
        ax.set_ylabel("saliency")
        ax.set_title(title or f"{result.query!r} in {result.vid} ({result.method})", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        fig.tight_layout()
        output.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(output)
    finally:
        plt.close(fig)
    return output

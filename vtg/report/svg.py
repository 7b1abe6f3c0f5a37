"""The saliency curve as inline SVG, drawn directly (no plotting library, no scripts).

Coordinates are in a fixed viewBox; the page scales it with CSS. Each moment band and the
curve carry ``data-*`` attributes in seconds so the page's script can seek on click.
"""

from __future__ import annotations

import html
import math

from vtg.types import Grounding

WIDTH, HEIGHT = 800.0, 170.0
LEFT, RIGHT, TOP, BOTTOM = 44.0, 10.0, 10.0, 28.0
MOMENT_COLOURS = ("#e4572e", "#f3a712", "#76b041", "#17bebb", "#8f5ea2")


def nice_step(span: float, target: int = 8) -> float:
    """A 1/2/5 x 10^k tick step giving about ``target`` ticks over ``span`` seconds."""
    if span <= 0:
        return 1.0
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def tick_label(t: float, clock: bool | None = None) -> str:
    """``12s`` on short videos; m:ss (h:mm:ss past an hour) on videos of two minutes or more,
    for every tick of the axis (``clock``), as in ``vtg plot``."""
    from vtg.plot import seconds_label

    if t >= 120 if clock is None else clock:
        return seconds_label(t, clock=True)
    return f"{t:g}s"


class Scale:
    """Maps seconds and scores to viewBox coordinates."""

    def __init__(self, duration: float, lo: float, hi: float):
        self.duration = max(duration, 1e-6)
        self.lo, self.hi = lo, (hi if hi > lo else lo + 1.0)

    def x(self, t: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * min(max(t / self.duration, 0.0), 1.0)

    def y(self, s: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - (s - self.lo) / (self.hi - self.lo))


def _axis(scale: Scale) -> list[str]:
    base = HEIGHT - BOTTOM
    parts = [f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>']
    from vtg.plot import tick_step

    step = tick_step(scale.duration) or nice_step(scale.duration)  # whole minutes on long videos
    n = int(scale.duration / step + 1e-9)
    for i in range(n + 1):
        t = i * step
        x = scale.x(t)
        parts.append(f'<line class="tick" x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}"/>'
                     f'<text class="label" x="{x:.1f}" y="{base + 16}" text-anchor="middle">'
                     f'{tick_label(round(t, 6), clock=scale.duration >= 120)}</text>')
    parts.append(f'<text class="label" x="4" y="{TOP + 8}">saliency</text>')
    return parts


def saliency_svg(result: Grounding, ground_truth=(), *, top_k: int | None = None,
                 svg_id: str = "curve") -> str:
    """SVG markup: curve, shaded moments (rank colours), ground truth bars, a playhead line."""
    duration = result.duration or (float(result.saliency.times[-1]) if len(result.saliency) else 1.0)
    scores = result.saliency.scores
    scale = Scale(duration, float(scores.min()) if scores.size else 0.0,
                  float(scores.max()) if scores.size else 1.0)
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<svg id="{html.escape(svg_id)}" class="saliency" viewBox="0 0 {WIDTH:g} {HEIGHT:g}" '
             f'data-duration="{duration:.3f}" data-left="{LEFT}" data-right="{WIDTH - RIGHT}" '
             f'role="img" aria-label="saliency curve" xmlns="http://www.w3.org/2000/svg">']
    moments = result.moments if top_k is None else result.moments[:top_k]
    for rank, m in enumerate(moments, 1):
        x0, x1 = scale.x(m.start), scale.x(m.end)
        colour = MOMENT_COLOURS[(rank - 1) % len(MOMENT_COLOURS)]
        parts.append(f'<rect class="band" data-start="{m.start:.3f}" x="{x0:.1f}" y="{TOP}" '
                     f'width="{max(x1 - x0, 1.0):.1f}" height="{plot_h:.1f}" fill="{colour}" '
                     f'fill-opacity="0.25"><title>#{rank} {m.start:.1f}-{m.end:.1f} s</title></rect>')
    for start, end in ground_truth:
        x0, x1 = scale.x(start), scale.x(end)
        parts.append(f'<rect class="gt" x="{x0:.1f}" y="{HEIGHT - BOTTOM - 5:.1f}" '
                     f'width="{max(x1 - x0, 1.0):.1f}" height="5"><title>ground truth '
                     f'{start:.1f}-{end:.1f} s</title></rect>')
    if scores.size:
        pts = " ".join(f"{scale.x(t):.1f},{scale.y(s):.1f}" for t, s in zip(result.saliency.times, scores))
        parts.append(f'<polyline class="curve" points="{pts}"/>')
    parts.extend(_axis(scale))
    parts.append(f'<line class="playhead" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}"/>')
    parts.append("</svg>")
    return "".join(parts)

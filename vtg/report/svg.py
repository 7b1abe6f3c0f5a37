"""The saliency curve as inline SVG: the drawing of :mod:`vtg.drawing` (the one ``vtg plot``
renders with matplotlib) written as SVG markup directly (no plotting library, no scripts).

One layout unit is one pixel of a fixed-width viewBox; the page scales it with CSS. Moment bars
carry ``data-*`` attributes in seconds, and the ``data-left``/``data-right``/``data-duration`` of
the ``<svg>`` let the page's script map clicks to times and move the playhead.
"""

from __future__ import annotations

import html

from vtg.drawing import (CURVE_COLOUR, DEFAULT_MOMENTS, LANE_HEIGHT, SHADE_OPACITY, TRUTH_HEIGHT, Bar,
                         SaliencyDrawing, nice_step, saliency_drawing)
from vtg.types import Grounding

__all__ = ["LEFT", "RIGHT", "WIDTH", "nice_step", "render", "saliency_svg"]

WIDTH = 800.0
LEFT, RIGHT, TOP, BOTTOM = 50.0, 22.0, 10.0, 40.0  # BOTTOM: tick labels and the axis name


class Scale:
    """Maps seconds and drawing units to viewBox coordinates."""

    def __init__(self, d: SaliencyDrawing):
        self.d = d
        self.base = TOP + d.height  # the time axis

    def x(self, t: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * min(max(t / self.d.duration, 0.0), 1.0)

    def y(self, units: float) -> float:
        return TOP + units


def saliency_svg(result: Grounding, ground_truth=(), *, top_k: int | None = DEFAULT_MOMENTS,
                 svg_id: str = "curve") -> str:
    """SVG markup: curve, the top ``top_k`` moments (None: all) in lanes with #1 shaded, ground
    truth, axes, a playhead line."""
    return render(saliency_drawing(result, top_k=top_k, ground_truth=ground_truth), svg_id=svg_id)


def render(d: SaliencyDrawing, *, svg_id: str = "curve") -> str:
    """``d`` as one ``<svg>`` element; drawing order follows the drawing (#1's shade under the
    curve, lanes bottom-up so #1 is on top)."""
    s = Scale(d)
    height = s.base + BOTTOM
    curve_top = s.y(d.lanes_height)
    parts = [f'<svg id="{html.escape(svg_id)}" class="saliency" viewBox="0 0 {WIDTH:g} {height:g}" '
             f'data-duration="{d.duration:.3f}" data-left="{LEFT}" data-right="{WIDTH - RIGHT}" '
             f'role="img" aria-label="{html.escape(d.title)}" xmlns="http://www.w3.org/2000/svg">']
    if d.shade is not None:  # #1 shaded over the curve's area, under the curve
        x0, x1 = s.x(d.shade.start), s.x(d.shade.end)
        parts.append(f'<rect class="top-shade" x="{x0:.1f}" y="{curve_top:.1f}" width="{max(x1 - x0, 1.0):.1f}" '
                     f'height="{s.base - curve_top:.1f}" fill="{d.shade.colour}" fill-opacity="{SHADE_OPACITY:g}"/>')
        for x in (x0, x1):
            parts.append(f'<line class="top-edge" x1="{x:.1f}" y1="{curve_top:.1f}" x2="{x:.1f}" '
                         f'y2="{s.base:.1f}" stroke="{d.shade.colour}" stroke-width="1.5"/>')
    for start, end in d.truth:
        x0, x1 = s.x(start), s.x(end)
        parts.append(f'<rect class="gt" x="{x0:.1f}" y="{s.base - TRUTH_HEIGHT:.1f}" width="{max(x1 - x0, 1.0):.1f}" '
                     f'height="{TRUTH_HEIGHT:g}"><title>ground truth {start:g}-{end:g} s</title></rect>')
        for x in (x0, x1):
            parts.append(f'<line class="gt-edge" x1="{x:.1f}" y1="{curve_top:.1f}" x2="{x:.1f}" y2="{s.base:.1f}"/>')
    if d.scores.size:
        pts = " ".join(f"{s.x(t):.1f},{s.y(d.y(v)):.1f}" for t, v in zip(d.times, d.scores))
        parts.append(f'<polyline class="curve" points="{pts}" stroke="{CURVE_COLOUR}"/>')
    for bar in reversed(d.bars):  # #1 last: on top
        parts.append(_lane(bar, s))
    parts.extend(_axes(d, s))
    parts.append(f'<line class="playhead" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{s.base:g}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _axes(d: SaliencyDrawing, s: Scale) -> list[str]:
    """The time axis with the drawing's ticks and name; the score axis with its lowest and highest
    score (a bare curve says nothing about whether its peak is 0.3 or 30) and its name upwards."""
    base, curve_top = s.base, s.y(d.lanes_height)
    parts = [f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>']
    for tick in d.xticks:
        x = s.x(tick.at)
        parts.append(f'<line class="tick" x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}"/>'
                     f'<text class="label" x="{x:.1f}" y="{base + 16}" text-anchor="middle">'
                     f'{html.escape(tick.label)}</text>')
    parts.append(f'<text class="label xname" x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{base + 32}" '
                 f'text-anchor="middle">{html.escape(d.xlabel)}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{curve_top:.1f}" x2="{LEFT}" y2="{base}"/>')
    for tick in d.yticks:
        y = s.y(d.y(tick.at))
        parts.append(f'<text class="label ylabel" x="{LEFT - 4:g}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{html.escape(tick.label)}</text>')
    middle = (curve_top + base) / 2
    parts.append(f'<text class="label yname" transform="rotate(-90)" x="{-middle:.1f}" y="10" '
                 f'text-anchor="middle">{html.escape(d.ylabel)}</text>')
    return parts


def _lane(bar: Bar, s: Scale) -> str:
    """Moment ``bar.rank``'s bar in its own lane (lane 1 at the top), labelled ``#rank``."""
    x0, x1 = s.x(bar.start), s.x(bar.end)
    y = s.y(bar.top)
    return (f'<g class="band" data-rank="{bar.rank}" data-start="{bar.start:.3f}" data-end="{bar.end:.3f}">'
            f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 1.0):.1f}" height="{LANE_HEIGHT:g}" '
            f'fill="{bar.colour}"/><text class="rank" x="{x0 + 2:.1f}" y="{y + LANE_HEIGHT - 1.5:.1f}">'
            f'#{bar.rank}</text><title>{html.escape(bar.label)}</title></g>')

"""The saliency curve as inline SVG, drawn directly (no plotting library, no scripts).

Coordinates are in a fixed viewBox; the page scales it with CSS. Moments are drawn as in
``vtg plot`` (:mod:`vtg.plot`): each of the top ``top_k`` gets a lane of its own above the curve,
and only #1 is also shaded over the curve, last, in its own colour, so overlapping moments never
hide the answer. Moment bars carry ``data-*`` attributes in seconds.
"""

from __future__ import annotations

import html
import math

from vtg.plot import DEFAULT_MOMENTS, TOP_COLOUR, moment_colour, seconds_label, tick_step
from vtg.timefmt import span
from vtg.types import Grounding

WIDTH, HEIGHT = 800.0, 170.0  # HEIGHT: without moment lanes; each lane adds its height
LEFT, RIGHT, TOP, BOTTOM = 50.0, 10.0, 10.0, 28.0
LANE_HEIGHT, LANE_GAP = 9.0, 2.0  # one lane per drawn moment, above the curve


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
    if t >= 120 if clock is None else clock:
        return seconds_label(t, clock=True)
    return f"{t:g}s"


class Scale:
    """Maps seconds and scores to viewBox coordinates."""

    def __init__(self, duration: float, lo: float, hi: float, top: float = TOP, height: float = HEIGHT):
        self.duration = max(duration, 1e-6)
        self.lo, self.hi = lo, (hi if hi > lo else lo + 1.0)
        self.top = top  # where the curve's area begins, under the moment lanes
        self.height = height
        self.base = height - BOTTOM  # the time axis

    def x(self, t: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * min(max(t / self.duration, 0.0), 1.0)

    def y(self, s: float) -> float:
        return self.top + (self.base - self.top) * (1.0 - (s - self.lo) / (self.hi - self.lo))


def _axis(scale: Scale) -> list[str]:
    base = scale.base
    parts = [f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>']
    step = tick_step(scale.duration) or nice_step(scale.duration)  # whole minutes on long videos
    n = int(scale.duration / step + 1e-9)
    for i in range(n + 1):
        t = i * step
        x = scale.x(t)
        parts.append(f'<line class="tick" x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}"/>'
                     f'<text class="label" x="{x:.1f}" y="{base + 16}" text-anchor="middle">'
                     f'{tick_label(round(t, 6), clock=scale.duration >= 120)}</text>')
    # The score scale: the curve's top and bottom values (a bare curve says nothing about whether
    # its peak is 0.3 or 30), and the axis name written upwards beside them.
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{scale.top:.1f}" x2="{LEFT}" y2="{base}"/>')
    for value, y in ((scale.hi, scale.top + 8), (scale.lo, base - 2)):
        parts.append(f'<text class="label ylabel" x="{LEFT - 4:g}" y="{y:.1f}" text-anchor="end">{value:.2f}</text>')
    middle = (scale.top + base) / 2
    parts.append(f'<text class="label yname" transform="rotate(-90)" x="{-middle:.1f}" y="10" '
                 f'text-anchor="middle">saliency</text>')
    return parts


def saliency_svg(result: Grounding, ground_truth=(), *, top_k: int | None = DEFAULT_MOMENTS,
                 svg_id: str = "curve") -> str:
    """SVG markup: curve, the top ``top_k`` moments (None: all) in lanes with #1 shaded, ground
    truth bars, a playhead line."""
    duration = result.duration or (float(result.saliency.times[-1]) if len(result.saliency) else 1.0)
    scores = result.saliency.scores
    moments = list(result.moments if top_k is None else result.moments[:max(top_k, 0)])
    lanes_end = TOP + len(moments) * (LANE_HEIGHT + LANE_GAP) + (4.0 if moments else 0.0)
    height = HEIGHT + lanes_end - TOP
    scale = Scale(duration, float(scores.min()) if scores.size else 0.0,
                  float(scores.max()) if scores.size else 1.0, top=lanes_end, height=height)
    base = scale.base
    parts = [f'<svg id="{html.escape(svg_id)}" class="saliency" viewBox="0 0 {WIDTH:g} {height:g}" '
             f'data-duration="{duration:.3f}" data-left="{LEFT}" data-right="{WIDTH - RIGHT}" '
             f'role="img" aria-label="saliency curve" xmlns="http://www.w3.org/2000/svg">']
    if moments:  # #1 shaded over the curve's area, under the curve
        x0, x1 = scale.x(moments[0].start), scale.x(moments[0].end)
        parts.append(f'<rect class="top-shade" x="{x0:.1f}" y="{lanes_end:.1f}" width="{max(x1 - x0, 1.0):.1f}" '
                     f'height="{base - lanes_end:.1f}" fill="{TOP_COLOUR}" fill-opacity="0.16"/>')
        for x in (x0, x1):
            parts.append(f'<line class="top-edge" x1="{x:.1f}" y1="{lanes_end:.1f}" x2="{x:.1f}" '
                         f'y2="{base:.1f}" stroke="{TOP_COLOUR}" stroke-width="1.5"/>')
    for start, end in ground_truth:
        x0, x1 = scale.x(start), scale.x(end)
        parts.append(f'<rect class="gt" x="{x0:.1f}" y="{base - 5:.1f}" '
                     f'width="{max(x1 - x0, 1.0):.1f}" height="5"><title>ground truth '
                     f'{span(start, end, duration)}</title></rect>')
    if scores.size:
        pts = " ".join(f"{scale.x(t):.1f},{scale.y(s):.1f}" for t, s in zip(result.saliency.times, scores))
        parts.append(f'<polyline class="curve" points="{pts}"/>')
    for rank in range(len(moments), 0, -1):  # #1 last: on top
        parts.append(_lane(moments[rank - 1], rank, scale, duration))
    parts.extend(_axis(scale))
    parts.append(f'<line class="playhead" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base:g}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _lane(m, rank: int, scale: Scale, duration: float) -> str:
    """Moment ``rank``'s bar in its own lane (lane 1 at the top), labelled ``#rank``."""
    x0, x1 = scale.x(m.start), scale.x(m.end)
    y = TOP + (rank - 1) * (LANE_HEIGHT + LANE_GAP)
    return (f'<g class="band" data-rank="{rank}" data-start="{m.start:.3f}" data-end="{m.end:.3f}">'
            f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 1.0):.1f}" height="{LANE_HEIGHT:g}" '
            f'fill="{moment_colour(rank)}"/><text class="rank" x="{x0 + 2:.1f}" y="{y + LANE_HEIGHT - 1.5:.1f}">'
            f'#{rank}</text><title>#{rank} {span(m.start, m.end, duration)}, score {m.score:.3f}</title></g>')

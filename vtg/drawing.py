"""The saliency picture, laid out once: what ``vtg plot`` (matplotlib, :mod:`vtg.plot`) and the
HTML report (hand-written SVG, :mod:`vtg.report.svg`) both draw.

:func:`saliency_drawing` decides everything a reader sees - the curve and its score range, which
moments are shown and in which lane, their colours and labels, #1's shade over the curve, the
ground truth, the ticks and their labels, the axis names - in renderer-neutral units; the two
renderers only map those units to pixels or axes fractions. So the picture a user saves and the
one a report page shows cannot drift apart (they used to be two drawings kept alike by hand).

Layout, from the top of the plot area: one lane per shown moment (#1 at the top, each
``LANE_HEIGHT`` units with ``LANE_GAP`` between), ``LANES_MARGIN`` below the last lane, then the
curve's area (``CURVE_HEIGHT``), the time axis at its bottom. Overlapping moments never hide the
answer: each has a lane of its own, and only #1 is also shaded over the curve, drawn last, in a
colour no other rank uses. No plotting library is imported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vtg.timefmt import clock as clock_text
from vtg.timefmt import span
from vtg.types import Grounding

#: How many top moments pictures draw unless asked for more (``--top-k``).
DEFAULT_MOMENTS = 3
#: The #1 moment's colour: it alone is shaded over the curve, drawn above every other moment.
TOP_COLOUR = "#d62728"
#: Ranks 2, 3, ... (cycled): bars in lanes of their own above the curve, never over #1.
OTHER_COLOURS = ("#f3a712", "#2ca02c", "#8f5ea2", "#17bebb", "#8c564b", "#7f7f7f")
CURVE_COLOUR = "#1f4e79"
TRUTH_COLOUR = "#000000"
#: Opacity of #1's shade over the curve.
SHADE_OPACITY = 0.16
# Vertical layout units (the SVG draws one unit as one pixel of its viewBox).
LANE_HEIGHT, LANE_GAP, LANES_MARGIN = 9.0, 2.0, 4.0
CURVE_HEIGHT = 132.0
#: Height of the ground-truth bar on the time axis.
TRUTH_HEIGHT = 5.0
#: Share of the score range left free above and below the curve.
CURVE_PAD = 0.05


def moment_colour(rank: int) -> str:
    """The colour of the moment ranked ``rank`` (1-based), shared by pictures and report pages."""
    return TOP_COLOUR if rank == 1 else OTHER_COLOURS[(rank - 2) % len(OTHER_COLOURS)]


def seconds_label(seconds: float, _pos: object = None, *, clock: bool | None = None) -> str:
    """Tick labels in seconds, switching to m:ss for long videos. ``clock`` forces m:ss (or plain
    seconds) so one axis never mixes ``90`` with ``2:00``; by default it is chosen per value."""
    if seconds >= 120 if clock is None else clock:
        return clock_text(seconds, 0)
    return f"{seconds:g}"


def tick_step(duration: float) -> float | None:
    """Whole-minute tick spacing for long videos (at most ~10 ticks), instead of decimal steps,
    which put ticks at 8:20, 16:40, ... on an hour; None under two minutes."""
    if duration < 120:
        return None
    return next((step for step in (30, 60, 120, 300, 600, 900, 1200, 1800, 3600) if duration / step <= 10),
                3600 * max(1, round(duration / 36000)))


def nice_step(length: float, target: int = 8) -> float:
    """A 1/2/5 x 10^k tick step giving about ``target`` ticks over ``length`` seconds."""
    if length <= 0:
        return 1.0
    raw = length / target
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


@dataclass(frozen=True)
class Bar:
    """One shown moment: its interval, ``rank`` (its lane, from the top), colour and label."""

    rank: int
    start: float
    end: float
    score: float
    colour: str
    label: str

    @property
    def top(self) -> float:
        """Its lane's top, in units below the top of the plot area."""
        return (self.rank - 1) * (LANE_HEIGHT + LANE_GAP)


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class SaliencyDrawing:
    """Everything :func:`saliency_drawing` decided; renderers add only pixels."""

    title: str
    duration: float                       # the time axis runs from 0 to here
    times: np.ndarray
    scores: np.ndarray
    low: float                            # the score at the bottom of the curve's area
    high: float                           # ... and at its top
    bars: tuple[Bar, ...]                 # rank order; draw reversed so #1 is on top
    truth: tuple[tuple[float, float], ...]
    xticks: tuple[Tick, ...]
    yticks: tuple[Tick, ...]              # the curve's lowest and highest score
    xlabel: str
    ylabel: str = "saliency"

    @property
    def lanes_height(self) -> float:
        return len(self.bars) * (LANE_HEIGHT + LANE_GAP) + (LANES_MARGIN if self.bars else 0.0)

    @property
    def height(self) -> float:
        """The plot area's height in units: the lanes, then the curve's area."""
        return self.lanes_height + CURVE_HEIGHT

    @property
    def shade(self) -> Bar | None:
        """The moment shaded over the curve: #1 alone."""
        return self.bars[0] if self.bars else None

    def y(self, score: float) -> float:
        """Units below the top of the plot area where ``score`` lies."""
        return self.lanes_height + CURVE_HEIGHT * (1.0 - (score - self.low) / (self.high - self.low))

    def fraction(self, units: float) -> float:
        """``units`` below the top as a fraction of the height from the bottom (matplotlib's axes)."""
        return 1.0 - units / self.height


def saliency_drawing(result: Grounding, *, top_k: int | None = DEFAULT_MOMENTS,
                     ground_truth: Sequence[Sequence[float]] = (), title: str | None = None) -> SaliencyDrawing:
    """The picture of ``result``: its curve, its top ``top_k`` moments (None: all) in lanes with
    #1 shaded, and ``ground_truth`` windows marked on the time axis."""
    sal = result.saliency
    duration = result.duration or (float(sal.times[-1]) if len(sal) else 1.0)
    duration = max(duration, 1e-3)
    moments = result.moments if top_k is None else result.moments[:max(top_k, 0)]
    bars = tuple(Bar(rank, m.start, m.end, m.score, moment_colour(rank),
                     f"#{rank} {span(m.start, m.end, result.duration)} ({m.score:.2f})")
                 for rank, m in enumerate(moments, 1))
    lo, hi = (float(sal.scores.min()), float(sal.scores.max())) if len(sal) else (0.0, 1.0)
    pad = (hi - lo) * CURVE_PAD or 0.05
    clock = duration >= 120
    step = tick_step(duration) or nice_step(duration)
    xticks = tuple(Tick(t, seconds_label(t, clock=clock))
                   for t in (round(i * step, 6) for i in range(int(duration / step + 1e-9) + 1)))
    yticks = tuple(Tick(v, f"{v:.2f}") for v in dict.fromkeys((lo, hi))) if len(sal) else ()  # flat: one
    return SaliencyDrawing(
        title=title or f"{result.query!r} in {result.vid} ({result.method})", duration=duration,
        times=sal.times, scores=sal.scores, low=lo - pad, high=hi + pad, bars=bars,
        truth=tuple((float(s), float(e)) for s, e in ground_truth), xticks=xticks, yticks=yticks,
        xlabel="time (s)" if duration < 120 else "time (m:ss)" if duration < 3600 else "time (h:mm:ss)")

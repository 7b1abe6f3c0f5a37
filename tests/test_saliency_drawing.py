"""One saliency drawing (vtg.drawing) rendered by `vtg plot` (matplotlib) and the HTML report (SVG):
the same moments in the same lanes, the same ticks, labels and ground truth (issue 18)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vtg.drawing import TOP_COLOUR, saliency_drawing
from vtg.report.svg import TOP, saliency_svg
from vtg.types import Grounding, Moment, Saliency


def result(duration: float = 150.0) -> Grounding:
    t = np.arange(0, duration, 1 / 3)
    moments = (Moment(50, 70, 0.9), Moment(55, 66, 0.7), Moment(100, 110, 0.5), Moment(10, 20, 0.3))
    return Grounding("q", "/v/clip.mp4", duration, moments, Saliency(t, np.sin(t / 10)), "tfvtg", qid=1)


def axes(res: Grounding, **kw):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from vtg.plot import draw_grounding

    ax = Figure().add_subplot()
    draw_grounding(ax, res, **kw)
    return ax


@pytest.mark.parametrize("duration", [30.0, 150.0, 5400.0])
def test_plot_and_report_draw_the_same_picture(duration):
    res, truth = result(duration), [(52.0, 68.0)]
    d = saliency_drawing(res, top_k=3, ground_truth=truth)
    svg = saliency_svg(res, truth, top_k=3)
    ax = axes(res, top_k=3, ground_truth=truth)

    # the same moments, in the same order of drawing (#1 last), in the same colours
    svg_bars = re.findall(r'<g class="band" data-rank="(\d+)" data-start="([\d.]+)" data-end="([\d.]+)">'
                          r'<rect x="[\d.]+" y="([\d.]+)"[^>]*fill="(#\w+)"', svg)
    lanes = [p for p in ax.patches if str(p.get_label()).startswith("#")]
    assert [int(r) for r, *_ in svg_bars] == [int(p.get_label()[1:].split()[0]) for p in lanes] == [3, 2, 1]
    assert [c for *_, c in svg_bars] == [b.colour for b in reversed(d.bars)]
    assert svg_bars[-1][-1] == TOP_COLOUR
    for (_, start, end, y, _), patch, bar in zip(svg_bars, lanes, reversed(d.bars)):
        xs, ys = corners(patch)[:, 0], corners(patch)[:, 1]
        assert (xs.min(), xs.max()) == (bar.start, bar.end) == (float(start), float(end))
        # the lane's top: as many layout units below the plot's top in both renderings
        assert float(y) - TOP == pytest.approx(bar.top)
        assert (1.0 - ys.max()) * d.height == pytest.approx(bar.top)
    # the same tick labels and axis names
    svg_ticks = re.findall(r'<text class="label" x="[\d.]+" y="[\d.]+" text-anchor="middle">([^<]+)</text>', svg)
    assert svg_ticks == [t.label for t in d.xticks] == [t.get_text() for t in ax.get_xticklabels()]
    assert f">{d.xlabel}<" in svg and ax.get_xlabel() == d.xlabel
    assert re.findall(r'class="label ylabel"[^>]*>([^<]+)<', svg) == [t.get_text() for t in ax.get_yticklabels()]
    # ground truth: a bar on the axis and dashed edges in both
    assert svg.count('class="gt"') == 1 and svg.count('class="gt-edge"') == 2
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert sorted(line.get_xdata()[0] for line in dashed) == [52.0, 68.0]
    # only #1 shaded over the curve, over the same seconds
    shade = re.search(r'class="top-shade" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    assert svg.count('class="top-shade"') == 1 and shade is not None


def test_curve_keeps_below_the_lanes_in_both():
    res = result()
    d = saliency_drawing(res)
    assert min(d.y(s) for s in res.saliency.scores) > d.lanes_height
    ax = axes(res)
    lo, hi = ax.get_ylim()
    lanes = [p for p in ax.patches if str(p.get_label()).startswith("#")]
    assert (res.saliency.scores.max() - lo) / (hi - lo) < min(corners(p)[:, 1].min() for p in lanes)


def corners(patch) -> np.ndarray:
    return patch.get_patch_transform().transform(patch.get_path().vertices)

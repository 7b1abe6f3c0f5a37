"""How report pages draw moments: #1 always visible, the rest in lanes, few by default."""

from __future__ import annotations

import json
import re

import numpy as np

from vtg.cli.main import main
from vtg.plot import TOP_COLOUR
from vtg.report import write_reports
from vtg.report.page import render_page
from vtg.report.svg import saliency_svg
from vtg.types import Grounding, Moment, Saliency


def crowded(qid=1) -> Grounding:
    """Ten moments all overlapping #1, as a batch record of TFVTG often has."""
    t = np.arange(0, 150, 1 / 3)
    moments = tuple(Moment(50 + i, 70 + i, 1.0 - i / 10) for i in range(10))
    return Grounding("q", "/v/clip.mp4", 150.0, moments, Saliency(t, np.sin(t / 10)), "tfvtg", qid=qid)


def bands(svg: str) -> list[str]:
    return re.findall(r'<g class="band" data-rank="(\d+)"', svg)


def test_three_moments_by_default_with_number_one_drawn_last_and_shaded_alone():
    svg = saliency_svg(crowded())
    assert bands(svg) == ["3", "2", "1"]  # document order is drawing order: #1 on top
    assert svg.count('class="top-shade"') == 1
    shade = re.search(r'class="top-shade" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    assert svg.index('class="top-shade"') < svg.index('class="curve"')  # under the curve
    assert f'fill="{TOP_COLOUR}"' in svg.split('data-rank="1"')[1]
    others = svg.split('data-rank="1"')[0]
    assert f'fill="{TOP_COLOUR}"/>' not in others.split('class="top-shade"')[1]  # no other moment in #1's colour
    # #1 spans 50-70 s of 150 s: its shade covers exactly that part of the axis
    x0, width = float(shade.group(1)), float(shade.group(2))
    from vtg.report.svg import LEFT, RIGHT, WIDTH

    inner = WIDTH - LEFT - RIGHT
    assert abs(x0 - (LEFT + inner * 50 / 150)) < 0.1 and abs(width - inner * 20 / 150) < 0.2
    # lanes do not overlap each other or the curve's area
    ys = sorted(float(y) for y in re.findall(r'<g class="band"[^>]*><rect x="[\d.]+" y="([\d.]+)"', svg))
    assert all(b - a >= 9 for a, b in zip(ys, ys[1:]))
    top_of_curve = min(float(p.split(",")[1]) for p in re.search(r'points="([^"]+)"', svg).group(1).split())
    assert top_of_curve > ys[-1] + 9


def test_more_or_all_moments_on_request():
    assert len(bands(saliency_svg(crowded(), top_k=10))) == 10
    assert len(bands(saliency_svg(crowded(), top_k=None))) == 10
    assert bands(saliency_svg(crowded(), top_k=0)) == []
    assert 'class="top-shade"' not in saliency_svg(crowded(), top_k=0)


def test_batch_report_draws_three_per_curve_lists_all_and_explains_the_score(tmp_path):
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps(crowded(q).to_dict()) + "\n" for q in (1, 2)))
    page = write_reports(preds, tmp_path / "out")["pages"][0].read_text()
    assert len(bands(page)) == 6  # 2 queries x 3
    assert page.count('class="moment"') == 20  # the lists keep every moment
    assert "score (tfvtg): 1 = the best window" in page
    assert main(["report", str(preds), "--out-dir", str(tmp_path / "all"), "--top-k", "10"]) == 0
    assert len(bands((tmp_path / "all" / "clip.html").read_text())) == 20


def test_times_on_the_page_round_before_splitting():
    r = Grounding("q", "/v/clip.mp4", 3599.96, (Moment(59.96, 119.97, 1.0),),
                  Saliency(np.arange(3), np.zeros(3)), "tfvtg")
    page = render_page([r], "clip.mp4", title="clip")
    assert "#1 1:00.0 - 2:00.0" in page and "1:00:00.0" in page
    assert not re.search(r"\d:60\.", page)

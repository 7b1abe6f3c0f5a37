"""``vtg plot`` and :func:`vtg.plot.plot_grounding`: a real picture with the right content."""

from __future__ import annotations

import json

import numpy as np

from vtg.cli.main import main
from vtg.plot import DEFAULT_MOMENTS, TOP_COLOUR, draw_grounding, plot_grounding, seconds_label
from vtg.types import Grounding, Moment, Saliency


def result(qid=7) -> Grounding:
    t = np.arange(0, 30, 0.5)
    return Grounding("person sits down", "/videos/clip.mp4", 30.0,
                     (Moment(8, 12, 0.9), Moment(20, 24, 0.4), Moment(0, 2, 0.1)),
                     Saliency(t, np.exp(-((t - 10) ** 2) / 8)), "tfvtg", qid=qid)


def test_png_has_curve_and_shaded_moment(tmp_path):
    from PIL import Image

    path = plot_grounding(result(), tmp_path / "curve.png", top_k=1, ground_truth=[(9, 13)])
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert img.shape[0] > 200 and img.shape[1] > 800
    # the top moment's shade (TOP_COLOUR at 16 % over white) covers its interval under the curve
    band = np.array([0xd6, 0x27, 0x28]) * 0.16 + 255 * 0.84
    assert (np.abs(img - band).sum(axis=2) < 12).sum() > 2000


def test_svg_labels_seconds_and_ground_truth(tmp_path):
    path = plot_grounding(result(), tmp_path / "curve.svg", top_k=2, ground_truth=[(9, 13)])
    text = path.read_text()
    assert "time (s)" in text and "ground truth" in text and "#2 20.0-24.0 s" in text
    assert "#3" not in text
    assert seconds_label(30) == "30" and seconds_label(754) == "12:34"


def test_cli_plot_from_jsonl_with_ground_truth(tmp_path, capsys):
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps(result(3).to_dict()) + "\n" + json.dumps(result(7).to_dict()) + "\n")
    gt = tmp_path / "gt.jsonl"
    gt.write_text(json.dumps({"qid": 7, "query": "person sits down", "vid": "clip", "duration": 30,
                              "relevant_windows": [[9, 13]]}) + "\n")
    out = tmp_path / "c.svg"
    assert main(["plot", str(preds), "--qid", "7", "--ground-truth", str(gt), "--gt", "1-2", "-o", str(out)]) == 0
    assert out.read_text().count("stroke-dasharray") >= 4  # two windows, two dashed edges each
    assert main(["plot", str(preds), "--qid", "99", "-o", str(out)]) == 1
    assert "no result with qid" in capsys.readouterr().err
    assert main(["plot", str(preds), "--gt", "5-oops", "-o", str(out)]) == 2


def drawn(res, **kw):
    """The axes ``plot_grounding`` would save, for inspecting its artists."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    draw_grounding(ax, res, **kw)
    return ax


def moment_patches(ax):
    return [p for p in ax.patches if str(p.get_label()).startswith("#")]


def overlapping() -> Grounding:
    t = np.arange(0, 150, 1 / 3)
    moments = tuple(Moment(50 + i, 70 - i / 2, 1.0 - i / 20) for i in range(10))  # all over #1
    return Grounding("q", "/v/clip.mp4", 150.0, moments, Saliency(t, 0.3 + 0.1 * np.exp(-((t - 60) ** 2) / 50)), "tfvtg")


def test_top_moment_is_drawn_last_in_its_own_colour_and_the_rest_in_lanes():
    ax = drawn(overlapping())
    lanes = moment_patches(ax)
    assert [p.get_label().split()[0] for p in lanes] == ["#3", "#2", "#1"]  # default: top 3, #1 last
    top = lanes[-1]
    assert top.get_zorder() > max(p.get_zorder() for p in lanes[:-1])
    assert matplotlib_colour(top.get_facecolor()) == TOP_COLOUR
    assert all(matplotlib_colour(p.get_facecolor()) != TOP_COLOUR for p in lanes[:-1])
    # one lane each, none overlapping another: vertical extents (axes fraction) are disjoint
    spans = sorted((corners(p)[:, 1].min(), corners(p)[:, 1].max()) for p in lanes)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    # only #1 is shaded over the curve: one unlabelled full-height patch, in #1's interval
    shades = [p for p in ax.patches if not str(p.get_label()).startswith(("#", "ground"))]
    assert len(shades) == 1
    xs = corners(shades[0])[:, 0]
    assert (xs.min(), xs.max()) == (50.0, 70.0)
    # the curve stays below the lanes
    lo, hi = ax.get_ylim()
    assert (overlapping().saliency.scores.max() - lo) / (hi - lo) < spans[0][0]
    assert "#1" in [t.get_text().strip() for t in ax.texts]


def test_more_moments_on_request_and_none_at_zero():
    assert len(moment_patches(drawn(overlapping(), top_k=10))) == 10
    assert len(moment_patches(drawn(overlapping(), top_k=0))) == 0
    assert DEFAULT_MOMENTS == 3


def corners(patch) -> np.ndarray:
    """A patch's corners in its own coordinates (x in seconds, y as a fraction of the height)."""
    return patch.get_patch_transform().transform(patch.get_path().vertices)


def matplotlib_colour(rgba) -> str:
    from matplotlib.colors import to_hex

    return to_hex(rgba, keep_alpha=False)

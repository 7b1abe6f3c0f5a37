"""``vtg plot`` and :func:`vtg.plot.plot_grounding`: a real picture with the right content."""

from __future__ import annotations

import json

import numpy as np

from vtg.cli.main import main
from vtg.plot import plot_grounding, seconds_label
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
    # the top moment's band (#e4572e at 25 % over white) is present
    band = np.array([0xe4, 0x57, 0x2e]) * 0.25 + 255 * 0.75
    assert (np.abs(img - band).sum(axis=2) < 12).sum() > 500


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

"""Regressions from walking through the README, docs and examples as a new user: output that fits
an 80-column terminal, files other people can read, messages that name the right input."""

from __future__ import annotations

import json
import os
import runpy
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from vtg.cli.main import main
from vtg.types import Grounding, Moment, Saliency

ROOT = Path(__file__).resolve().parents[1]


def result(duration: float = 3600.0, scores=None, moments=(Moment(224.0, 236.0, 1.0), Moment(26.0, 38.0, 0.9))):
    scores = np.linspace(0, 1, 3600) if scores is None else np.asarray(scores, float)
    times = np.linspace(0, duration, scores.size, endpoint=False)
    return Grounding("a person opens the door", "/videos/long.mp4", duration, moments, Saliency(times, scores), "tfvtg")


@pytest.mark.parametrize("columns", [60, 80, 132])
def test_table_fits_the_terminal(monkeypatch, columns):
    """The sparkline line was 83-85 characters whatever the terminal (it wrapped at 80), and the
    title wrapped onto two centred lines over the narrow table."""
    from vtg.writers import render

    monkeypatch.setenv("COLUMNS", str(columns))
    lines = render([result()], "table").splitlines()
    assert max(len(line) for line in lines) <= max(columns, 40)
    assert lines[0] == "'a person opens the door' in long (1:00:00.0, tfvtg)"
    spark = [line for line in lines if line.startswith("saliency ")]
    assert len(spark) == 1 and spark[0].endswith(" 1:00:00.0")


def test_flat_saliency_is_still_a_visible_line():
    """A Video-LLM answer with no interval gives an all-zero curve; it printed as blank space."""
    from vtg.writers import TableWriter

    line = TableWriter().sparkline(result(30.0, np.zeros(31), moments=()))
    assert len(line) == 31 and " " not in line


def test_csv_uses_plain_newlines():
    from vtg.writers import render

    text = render([result()], "csv")
    assert "\r" not in text and text.count("\n") == 3


def test_eval_table_keeps_whole_headers_at_80_columns(monkeypatch, tmp_path, capsys):
    """At 80 columns rich cut the ten-column table's headers to 'R1@0…'; it is split in two now."""
    gt = tmp_path / "gt.jsonl"
    gt.write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "duration": 30, "relevant_windows": [[5, 10]]}) + "\n")
    pred = tmp_path / "pred.jsonl"
    pred.write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "pred_relevant_windows": [[5, 10, 1.0]]}) + "\n")
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["eval", str(pred), str(gt)]) == 0
    out = capsys.readouterr().out
    assert "…" not in out and max(map(len, out.splitlines())) <= 80
    for header in ("R1@0.3", "R5@0.7", "mIoU", "mAP@0.75"):
        assert header in out
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["eval", str(pred), str(gt)]) == 0
    wide = capsys.readouterr().out
    assert sum("R1@0.3" in line and "mAP@0.75" in line for line in wide.splitlines()) == 1  # one table


def test_eval_with_the_files_swapped_says_so(tmp_path, capsys):
    pred = tmp_path / "pred.jsonl"
    pred.write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "pred_relevant_windows": [[5, 10, 1.0]]}) + "\n")
    assert main(["eval", str(pred), str(pred)]) != 0
    err = capsys.readouterr().err
    assert "PREDICTIONS first" in err and len(err.strip().splitlines()) == 1


def test_written_results_are_readable_by_others(tmp_path):
    """mkstemp's 0600 leaked into every result, report page and converted model."""
    from vtg.fileio import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "result.json", "{}")
        assert stat.S_IMODE((tmp_path / "result.json").stat().st_mode) == 0o644
        (tmp_path / "private.json").write_text("")
        (tmp_path / "private.json").chmod(0o600)
        atomic_write_text(tmp_path / "private.json", "{}")  # an existing file keeps its mode
        assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_missing_query_image_is_called_an_image(three_scene_video, tmp_path, capsys):
    code = main(["ground", str(three_scene_video), "--image", str(tmp_path / "frame.png"), "-e", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and err.strip() == f"vtg: error: image not found: {tmp_path / 'frame.png'}"


def test_methods_wrap_to_the_terminal(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 80 and "tfvtg" in out


def test_quickstart_example_stops_with_one_line_not_a_traceback(three_scene_video, tmp_path, monkeypatch):
    """Without cached BLIP-2 weights the README's quickstart command printed a 20-line traceback."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setattr(sys, "argv", ["quickstart.py", str(three_scene_video), "a person"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    message = str(exc.value.code)
    assert message.startswith("error: weights for") and "vtg models download" in message

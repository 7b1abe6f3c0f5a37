"""One-line errors and warnings a new user meets: a missing output folder, swapped arguments, a
video given to `vtg plot`, more batch workers than cores."""

from __future__ import annotations

import json
import os

import pytest

from vtg.cli.main import main


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vtg: error:"), err
    return lines[0]


def test_output_into_a_missing_folder_is_an_error_naming_it(tmp_path, capsys, make_video):
    video = make_video("v.mp4")
    missing = tmp_path / "nonexistent" / "dir"
    assert main(["ground", str(video), "red", "-o", str(missing / "out.json")]) != 0
    line = one_error_line(capsys)
    assert f"folder {missing} does not exist" in line
    assert not (tmp_path / "nonexistent").exists()                       # nothing was created
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"qid": 1, "pred_relevant_windows": [[0, 1, 1]]}) + "\n")
    assert main(["eval", str(preds), str(preds), "-o", str(missing / "m.json")]) != 0
    assert "does not exist" in one_error_line(capsys)
    from vtg.report import write_report                                   # the library still creates folders
    from vtg.types import Grounding, Saliency
    import numpy as np

    page = write_report([Grounding("q", str(video), 1.0, (), Saliency(np.zeros(1), np.zeros(1)), "tfvtg")],
                        video, tmp_path / "new" / "page.html")
    assert page.is_file()


def test_swapped_video_and_query_get_a_hint(make_video, capsys):
    video = make_video("v.mp4")
    assert main(["ground", "person sits", str(video)]) != 0
    line = one_error_line(capsys)
    assert "video not found: person sits" in line and "did you swap VIDEO and QUERY?" in line
    assert main(["ground", "missing.mp4", "person sits"]) != 0            # no file named: no hint
    assert "swap" not in one_error_line(capsys)


def test_plot_and_report_of_a_video_say_what_they_expect(make_video, tmp_path, capsys):
    video = make_video("v.mp4")
    assert main(["plot", str(video), "-o", str(tmp_path / "c.png")]) != 0
    line = one_error_line(capsys)
    assert "expected `vtg ground --json` output" in line and "looks like a video" in line
    assert "UTF-8" not in line
    assert main(["report", str(video), "--out-dir", str(tmp_path / "r")]) != 0
    assert "expected `vtg ground --json` output" in one_error_line(capsys)


def test_more_workers_than_cores_warns(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    from vtg.cli.batch import warn_oversubscribed

    warn_oversubscribed(4, "local")
    err = capsys.readouterr().err
    assert "vtg: warning: --workers 4 is more than the 2 CPU cores" in err and "--workers 2 or fewer" in err
    for workers, engine in ((2, "local"), (1, "local"), (8, "ray")):
        warn_oversubscribed(workers, engine)
        assert capsys.readouterr().err == ""

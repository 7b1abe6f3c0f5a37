"""HTML reports: escaping, self-containment, video references, grouping, CLI entry points."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from vtg.cli.main import main
from vtg.report import render_page, video_source, write_report, write_reports
from vtg.types import Grounding, Moment, Saliency

NASTY = 'door <script>alert("x")</script> & "quotes"'


def result(video="clip.mp4", query="person opens the door", qid=None) -> Grounding:
    t = np.arange(0, 12, 0.5)
    return Grounding(query, str(video), 12.0, (Moment(4, 8, 0.9), Moment(8.5, 11, 0.5)),
                     Saliency(t, np.sin(t)), "tfvtg", qid=qid)


def test_page_escapes_user_text_and_is_self_contained(tmp_path):
    page = render_page([result(query=NASTY)], "v<i>.mp4", title='x"<b>.mp4')
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert 'src="v&lt;i&gt;.mp4"' in page and "<b>" not in page
    # nothing fetched from elsewhere: no external scripts, styles or images
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(?!data:)', page)  # the icon is a data: URI
    assert page.count("<svg") == 1 and "<polyline" in page
    assert page.count('class="moment"') == 2 and 'data-start="8.500"' in page


def test_video_source_relative_and_embedded(tmp_path):
    video = tmp_path / "videos" / "my clip.mp4"
    video.parent.mkdir()
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    assert video_source(video, tmp_path / "reports" / "p.html") == "../videos/my%20clip.mp4"
    assert video_source(video, tmp_path / "p.html", embed=True).startswith("data:video/mp4;base64,AAAA")


def test_write_report_for_ground_html(three_scene_video, tmp_path, monkeypatch):
    import vtg

    import vtg.planning

    monkeypatch.setattr(vtg, "ground", lambda video, query, **kw: result(video, query.text))  # the CLI's Query
    # no model is loaded, so none needs to be made local first
    monkeypatch.setattr(vtg.planning, "fetch_models", lambda plan: None)
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()  # a file flag's folder must exist (vtg does not create it for --html / -o)
    assert main(["ground", str(three_scene_video), NASTY, "--html", str(page), "--json"]) == 0
    text = page.read_text()
    assert "&lt;script&gt;" in text and f'src="../{three_scene_video.name}"' in text


def test_write_reports_groups_by_video(tmp_path, make_video):
    a, b = make_video("a.mp4"), make_video("b b.mp4")
    preds = tmp_path / "preds.jsonl"
    records = [result(a, "one", 1), result(b, "two", 2), result(a, "three", 3), result("gone.mp4", "four", 4)]
    lines = [json.dumps(r.to_dict()) for r in records] + [json.dumps({"qid": 5, "status": "error"})]
    preds.write_text("\n".join(lines) + "\n")
    gt = tmp_path / "gt.jsonl"
    gt.write_text(json.dumps({"qid": 3, "query": "three", "vid": "a", "duration": 12,
                              "relevant_windows": [[4, 7.5]]}) + "\n")
    moved = tmp_path / "moved"
    moved.mkdir()
    for v in (a, b):  # the recorded paths are stale; --video-dir finds them by name
        v.rename(moved / v.name)
    done = write_reports(preds, tmp_path / "reports", video_dir=moved, ground_truth=gt)
    names = sorted(p.name for p in done["pages"])
    assert names == ["a.html", "b_b.html", "gone.html"] and done["missing_videos"] == ["gone"]
    page_a = (tmp_path / "reports" / "a.html").read_text()
    assert page_a.count('<section class="query"') == 2 and 'src="../moved/a.mp4"' in page_a
    assert "ground truth 4.0-7.5 s" in page_a and 'class="gt"' in page_a
    assert "was not found" in (tmp_path / "reports" / "gone.html").read_text()
    index = (tmp_path / "reports" / "index.html").read_text()
    assert 'href="b_b.html"' in index and "b b.mp4" in index


def test_cli_report(tmp_path, make_video, capsys):
    video = make_video("c.mp4")
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps(result(Path("elsewhere") / "c.mp4", "q", 1).to_dict()) + "\n")
    out = tmp_path / "r"
    assert main(["report", str(preds), "--video-dir", str(video.parent), "--out-dir", str(out)]) == 0
    assert "wrote 1 page" in capsys.readouterr().out
    assert (out / "c.html").is_file() and (out / "index.html").is_file()
    assert main(["report", str(tmp_path / "none.jsonl"), "--out-dir", str(out)]) == 1


def test_write_report_embed(tmp_path, make_video):
    video = make_video("small.mp4")
    page = write_report([result(video)], video, tmp_path / "p.html", embed=True)
    assert "data:video/mp4;base64," in page.read_text()

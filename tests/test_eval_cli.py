"""``vtg eval`` in process: table, --json, --by-length, failed batch records, bad input."""

from __future__ import annotations

import json

import pytest

from vtg.cli.main import main

GT = [{"qid": 1, "query": "a", "vid": "v", "duration": 60, "relevant_windows": [[10, 20]],
       "relevant_clip_ids": [5, 6, 7, 8, 9], "saliency_scores": [[4, 4, 4]] * 5},
      {"qid": 2, "query": "b", "vid": "v", "duration": 60, "relevant_windows": [[30, 50]],
       "relevant_clip_ids": [15, 16], "saliency_scores": [[2, 1, 0], [3, 3, 3]]}]


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def files(tmp_path):
    preds = [{"qid": 1, "video": "v.mp4", "pred_relevant_windows": [[10, 20, 0.9]],
              "pred_saliency_scores": [0.0] * 5 + [1.0] * 5 + [0.0] * 20},
             {"qid": 2, "status": "error", "error": "VideoNotFoundError: v.mp4"}]
    return write(tmp_path / "preds.jsonl", preds), write(tmp_path / "gt.jsonl", GT)


def test_eval_json(files, capsys):
    preds, gt = files
    assert main(["eval", str(preds), str(gt), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["missing"] == 1  # the failed record counts as a miss
    assert m["MR-full-R1@0.5"] == 50.0 and m["R1@0.7"] == 50.0 and m["mIoU"] == 50.0
    assert m["MR-long-mAP"] is None  # empty bucket as JSON null
    assert m["HL-min-VeryGood-Hit1"] == 50.0 and m["HL-min-VeryGood-mAP"] == 50.0


def test_eval_table_and_by_length(files, capsys, tmp_path):
    preds, gt = files
    out = tmp_path / "metrics.json"
    assert main(["eval", str(preds), str(gt), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "R1@0.5" in captured.out and "mIoU" in captured.out and "VeryGood" in captured.out
    assert "1 failed" in captured.err
    assert json.loads(out.read_text())["queries"] == 2
    assert main(["eval", str(preds), str(gt), "--by-length"]) == 0
    table = capsys.readouterr().out
    assert "short (0-10 s]" in table and "long (30-150 s]" in table and "empty" in table


def test_eval_bad_input_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    gt = write(tmp_path / "gt.jsonl", GT)
    assert main(["eval", str(bad), str(gt)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vtg: error:") and "bad.jsonl:1" in err
    assert main(["eval", str(gt), str(tmp_path / "none.jsonl")]) == 1


def test_eval_nothing_matched_is_one_line_error_and_some_unmatched_warn(files, tmp_path, capsys):
    preds, gt = files
    other = write(tmp_path / "other.jsonl", [{"qid": 99, "vid": "w", "query": "zzz",
                                              "pred_relevant_windows": [[1, 2, 0.5]]}])
    for extra in ([], ["--json"]):
        assert main(["eval", str(other), str(gt), *extra]) == 1
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vtg: error: none of the 1 predictions in")
        assert "right pair of files" in lines[0] and captured.out == ""
    half = write(tmp_path / "half.jsonl", [{"qid": 1, "pred_relevant_windows": [[10, 20, 0.9]]}])
    assert main(["eval", str(half), str(gt), "--json"]) == 0
    captured = capsys.readouterr()
    assert "vtg: warning: 1 of 2 queries in" in captured.err and json.loads(captured.out)["missing"] == 1
    assert main(["eval", str(preds), str(gt)]) == 0                   # a failed record is not "unmatched"
    assert "warning" not in capsys.readouterr().err

"""Benchmark files as their authors ship them, read by ``vtg eval`` and ``vtg batch`` unchanged.

Each reader is fed a small file written here in the release's exact format: Charades-STA's text
(``vid start end##sentence``, CRLF line ends as in the release) with Charades' CSV of durations,
ActivityNet Captions' ``val_1.json`` (one line, sentences with leading spaces), 2D-TAN's TaCoS
JSON (frame numbers + fps) and TVR-style JSONL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vtg.batch.inputs import read_items
from vtg.cli.main import main
from vtg.errors import DataError
from vtg.eval import evaluate, load_ground_truth
from vtg.eval.formats import read_durations_csv

CHARADES_TXT = (
    "3MSZA 24.3 30.4##person turn a light on.\r\n"
    "3MSZA 24.3 30.4##person flipped the light switch near the door.\r\n"
    "AMT7R 4.3 12.5##a person is putting a picture onto the wall.\r\n"
    "AMT7R 0.0 6.9##a person opens a door.\r\n"
    "0KZ8D 6.7 11.9##person takes a book off the shelf.\r\n"
)
CHARADES_JSONL = [
    {"qid": 12404, "query": "person turn a light on.", "duration": 30.96, "vid": "3MSZA", "relevant_windows": [[24.3, 30.4]]},
    {"qid": 12405, "query": "person flipped the light switch near the door.", "duration": 30.96, "vid": "3MSZA", "relevant_windows": [[24.3, 30.4]]},
    {"qid": 12406, "query": "a person is putting a picture onto the wall.", "duration": 30.08, "vid": "AMT7R", "relevant_windows": [[4.3, 12.5]]},
    {"qid": 12407, "query": "a person opens a door.", "duration": 30.08, "vid": "AMT7R", "relevant_windows": [[0.0, 6.9]]},
    {"qid": 12408, "query": "person takes a book off the shelf.", "duration": 20.5, "vid": "0KZ8D", "relevant_windows": [[6.7, 11.9]]},
]
CHARADES_CSV = (
    "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
    '3MSZA,HR43,Living room,6,7,Yes,"A person turns on the light, then sits.",light;switch,A person turns on a light.,c015 24.30 30.40,30.96\n'
    "AMT7R,9GS1,Hallway,5,6,Yes,A person hangs a picture.,picture;wall,Someone hangs a picture.,c064 4.30 12.50,30.08\n"
    "0KZ8D,ABCD,Bedroom,7,7,Yes,Takes a book.,book,A person takes a book.,c026 6.70 11.90,20.50\n"
)
PREDICTIONS = [  # one hit at 0.7, one at 0.5 only, one at 0.3 only, one miss, one missing query
    {"qid": 12404, "vid": "3MSZA", "query": "person turn a light on.", "pred_relevant_windows": [[24.0, 30.4, 0.9]]},
    {"qid": 12405, "vid": "3MSZA", "query": "person flipped the light switch near the door.", "pred_relevant_windows": [[23.0, 29.0, 0.8]]},
    {"qid": 12406, "vid": "AMT7R", "query": "a person is putting a picture onto the wall.", "pred_relevant_windows": [[1.0, 8.5, 0.7]]},
    {"qid": 12407, "vid": "AMT7R", "query": "a person opens a door.", "pred_relevant_windows": [[20.0, 29.0, 0.7]]},
]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def charades(tmp_path):
    txt = tmp_path / "charades_sta_test.txt"
    txt.write_bytes(CHARADES_TXT.encode())
    csv = tmp_path / "Charades_v1_test.csv"
    csv.write_text(CHARADES_CSV)
    return txt, write_jsonl(tmp_path / "charades_test.jsonl", CHARADES_JSONL), csv


def test_charades_text_reads_as_the_same_queries(charades):
    txt, jsonl, csv = charades
    raw = load_ground_truth(txt, read_durations_csv(csv))
    same = load_ground_truth(jsonl)
    assert [r["qid"] for r in raw] == ["3MSZA_0", "3MSZA_1", "AMT7R_0", "AMT7R_1", "0KZ8D_0"]
    for r, s in zip(raw, same):
        assert (r["vid"], r["query"], r["relevant_windows"], r["duration"]) == \
               (s["vid"], s["query"], s["relevant_windows"], s["duration"])
    assert all(r["duration"] == 0.0 for r in load_ground_truth(txt))  # unknown without the CSV


def test_vtg_eval_scores_the_raw_text_like_its_jsonl(charades, tmp_path, capsys):
    """The issue's acceptance check: same R1@0.3/0.5/0.7 and mIoU from the text as from JSONL."""
    txt, jsonl, csv = charades
    preds = write_jsonl(tmp_path / "pred.jsonl", PREDICTIONS)
    scores = []
    for gt, extra in ((jsonl, []), (txt, []), (txt, ["--durations", str(csv)])):
        assert main(["eval", str(preds), str(gt), "--json", *extra]) == 0
        scores.append(json.loads(capsys.readouterr().out))
    keys = ["R1@0.3", "R1@0.5", "R1@0.7", "mIoU", "R5@0.5", "queries", "missing"]
    assert [{k: s[k] for k in keys} for s in scores[1:]] == [{k: scores[0][k] for k in keys}] * 2
    assert scores[0]["R1@0.3"] == 60.0 and scores[0]["R1@0.5"] == 40.0 and scores[0]["R1@0.7"] == 20.0 and scores[0]["missing"] == 1


def test_predictions_from_the_text_carry_its_qids(charades, tmp_path, capsys):
    txt, _, _ = charades
    gt = load_ground_truth(txt)
    preds = [{"qid": g["qid"], "pred_relevant_windows": [[*g["relevant_windows"][0], 1.0]]} for g in gt]
    assert evaluate(preds, gt)["R1@0.7"] == 100.0


def test_shared_charades_release_round_trips_through_its_text(shared_data, tmp_path):
    """The real Charades-STA test set written back in the release's text form scores the same."""
    jsonl = shared_data / "charades-sta" / "charades_test_release.jsonl"
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    txt = tmp_path / "charades_sta_test.txt"
    txt.write_text("".join(f"{r['vid']} {r['relevant_windows'][0][0]} {r['relevant_windows'][0][1]}##{r['query']}\r\n"
                           for r in records))
    preds = [{"qid": r["qid"], "vid": r["vid"], "query": r["query"],
              "pred_relevant_windows": [[max(0.0, r["relevant_windows"][0][0] - (i % 5)),
                                         r["relevant_windows"][0][1] + (i % 3), 0.5]]}
             for i, r in enumerate(records)]
    a, b = evaluate(preds, load_ground_truth(jsonl)), evaluate(preds, load_ground_truth(txt))
    assert {k: a[k] for k in ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU")} == {k: b[k] for k in ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU")}
    assert b["queries"] == 3720 and b["missing"] == 0


def test_activitynet_captions_val_json(tmp_path):
    val_1 = {"v_uqiMw7tQ1Cc": {"duration": 55.15, "timestamps": [[0.28, 55.15], [13.79, 54.32]],
                               "sentences": ["A weight lifting tutorial is given.",
                                             "  The coach helps the guy in red with the proper body placement."]},
             "v_bXdq2zI1Ms0": {"duration": 73.1, "timestamps": [[0, 10.23]],
                               "sentences": ["A man is seen speaking to the camera."]}}
    path = tmp_path / "val_1.json"
    path.write_text(json.dumps(val_1))  # the release is one line
    gt = load_ground_truth(path)
    assert [g["qid"] for g in gt] == ["v_uqiMw7tQ1Cc_0", "v_uqiMw7tQ1Cc_1", "v_bXdq2zI1Ms0_0"]
    assert gt[1]["relevant_windows"] == [[13.79, 54.32]] and gt[2]["duration"] == 73.1
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "uqiMw7tQ1Cc.mp4").write_bytes(b"")  # ActivityNet's files drop the v_ prefix
    items = read_items(path, video_dir=videos)
    assert [i.qid for i in items] == [g["qid"] for g in gt]
    assert items[0].video == videos / "uqiMw7tQ1Cc.mp4" and items[0].error is None
    assert items[2].video is None and "v_bXdq2zI1Ms0" in items[2].error
    path.write_text(json.dumps(val_1, indent=2))  # pretty-printed, as some mirrors re-save it
    assert [i.qid for i in read_items(path, video_dir=videos)] == [g["qid"] for g in gt]


def test_tacos_2dtan_frames_become_seconds(tmp_path):
    doc = {"s13-d21.avi": {"num_frames": 2940, "fps": 29.4, "timestamps": [[294, 588], [2800, 3100]],
                           "sentences": ["the person takes out a cutting board.", "he washes the knife."]}}
    path = tmp_path / "test.json"
    path.write_text(json.dumps(doc))
    gt = load_ground_truth(path)
    assert [g["qid"] for g in gt] == ["s13-d21_0", "s13-d21_1"] and gt[0]["vid"] == "s13-d21"
    assert gt[0]["relevant_windows"] == [[pytest.approx(10.0), pytest.approx(20.0)]]
    assert gt[1]["relevant_windows"][0][1] == pytest.approx(100.0)  # clipped to num_frames / fps
    assert gt[0]["duration"] == pytest.approx(100.0)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"s1.avi": {"fps": 0, "num_frames": 10, "timestamps": [], "sentences": []}}))
    with pytest.raises(DataError, match="bad.json: video 's1.avi'.*fps"):
        load_ground_truth(bad)


def test_tvr_style_jsonl(tmp_path):
    lines = [{"desc_id": 90200, "desc": "The person slices the cucumber.", "vid_name": "s13-d21",
              "ts": [12.5, 20.1], "duration": 100.0},
             {"desc_id": 90201, "desc": "The person rinses a plate.", "vid_name": "s13-d21",
              "ts": [30.0, 41.0], "duration": 100.0}]
    path = write_jsonl(tmp_path / "tacos_test.jsonl", lines)
    gt = load_ground_truth(path)
    assert [(g["qid"], g["vid"], g["relevant_windows"]) for g in gt] == \
           [(90200, "s13-d21", [[12.5, 20.1]]), (90201, "s13-d21", [[30.0, 41.0]])]
    videos = tmp_path / "v"
    videos.mkdir()
    (videos / "s13-d21.avi").write_bytes(b"")
    items = read_items(path, video_dir=videos)
    assert [(i.qid, i.text, i.video) for i in items] == [(90200, lines[0]["desc"], videos / "s13-d21.avi"),
                                                         (90201, lines[1]["desc"], videos / "s13-d21.avi")]


def test_batch_reads_charades_text_with_its_line_numbers(charades, tmp_path):
    txt, _, _ = charades
    videos = tmp_path / "videos"
    videos.mkdir()
    for vid in ("3MSZA", "AMT7R"):
        (videos / f"{vid}.mp4").write_bytes(b"")
    items = read_items(txt, video_dir=videos)
    assert [(i.qid, i.line, i.text) for i in items][:3] == [
        ("3MSZA_0", 1, "person turn a light on."), ("3MSZA_1", 2, "person flipped the light switch near the door."),
        ("AMT7R_0", 3, "a person is putting a picture onto the wall.")]
    assert items[0].video == videos / "3MSZA.mp4" and items[4].error and "0KZ8D" in items[4].error


@pytest.mark.parametrize("text, where", [
    ("3MSZA 24.3 30.4##a.\nAMT7R 4.3##no end time\n", ":2:"),
    ("3MSZA 24.3 30.4##a.\nAMT7R 1e999 3##infinite\n", ":2:"),
    ("this is not an annotation file\n", ":1:"),
])
def test_malformed_text_is_one_line_naming_file_and_line(tmp_path, capsys, text, where):
    gt = tmp_path / "gt.txt"
    gt.write_text(text)
    preds = write_jsonl(tmp_path / "p.jsonl", PREDICTIONS)
    assert main(["eval", str(preds), str(gt)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vtg: error:") and f"gt.txt{where}" in err and err.count("\n") == 1


def test_durations_csv_without_its_columns_is_refused(charades, tmp_path, capsys):
    txt, _, _ = charades
    csv = tmp_path / "d.csv"
    csv.write_text("video,seconds\n3MSZA,30\n")
    preds = write_jsonl(tmp_path / "p.jsonl", PREDICTIONS)
    assert main(["eval", str(preds), str(txt), "--durations", str(csv)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vtg: error:") and "d.csv:1" in err and "'length'" in err
    csv.write_text("id,length\n3MSZA,thirty\n")
    assert main(["eval", str(preds), str(txt), "--durations", str(csv)]) == 1
    assert "d.csv:2: length 'thirty'" in capsys.readouterr().err


# --- TVSum / YouTube Highlights as UMT and Lighthouse ship them (clip labels, no windows) ---------

def reference_hl_ap(pred: list[float], label: list[list[float]], tvsum: bool) -> float:
    """Lighthouse's compute_hl_results for one query (after UMT), re-typed without torch."""
    import statistics

    order = sorted(range(len(label)), key=lambda i: -pred[i])
    columns = range(len(label[0])) if tvsum else [0]
    aps = []
    for c in columns:
        col = [row[c] for row in label]
        if tvsum:
            med = statistics.median(col)
            ranked = [1.0 if col[i] > med else 0.0 for i in order][:5]
        else:
            ranked = [col[i] for i in order]
        num_gt = sum(ranked)
        if num_gt == 0:
            aps.append(0.0)
            continue
        hits = ap = rec = 0.0
        prc = 1.0
        for j, gt in enumerate(ranked):
            hits += gt
            _rec, _prc = hits / num_gt, hits / (j + 1)
            ap += (_rec - rec) * (prc + _prc) / 2
            rec, prc = _rec, _prc
        aps.append(ap)
    return sum(aps) / len(aps)


def test_tvsum_and_youtube_highlights_lines_score_as_umt(tmp_path, capsys):
    import random

    rng = random.Random(3)
    tvsum_label = [[float(rng.randint(1, 5)) for _ in range(20)] for _ in range(12)]
    yt_label = [[float(x)] for x in [0, 0, 1, 1, 0, 1, 0, 0]]
    tvsum = {"qid": "sTEELN-vY30", "query": "BBC - Train crash 2013", "duration": 24, "vid": "sTEELN-vY30",
             "relevant_clip_ids": None, "relevant_windows": None, "label": tvsum_label}
    yt = {"qid": "fXx44D1sqUw", "query": "dog", "duration": 16.0, "vid": "fXx44D1sqUw", "relevant_clip_ids": None,
          "relevant_windows": None, "label": yt_label, "domain": "dog", "frames": 480.0, "fps": 30.0}
    t_pred = [rng.random() for _ in range(12)]
    y_pred = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4]
    for name, line, pred, is_tvsum, key in (("tvsum_val_release.jsonl", tvsum, t_pred, True, "HL-top5-mAP"),
                                            ("youtube_highlight_val_release.jsonl", yt, y_pred, False, "HL-mAP")):
        gt = write_jsonl(tmp_path / name, [line])
        preds = write_jsonl(tmp_path / f"p_{name}", [{"qid": line["qid"], "pred_saliency_scores": pred}])
        assert main(["eval", str(preds), str(gt), "--json", "--raw"]) == 0
        m = json.loads(capsys.readouterr().out)
        expected = 100 * reference_hl_ap(pred, line["label"], is_tvsum)
        assert m[key] == pytest.approx(expected) and 0 < m[key] < 100
        assert main(["eval", str(preds), str(gt)]) == 0
        assert key in capsys.readouterr().out
        assert read_items(gt)[0].text == line["query"]  # batch reads the same lines as queries
    bad = write_jsonl(tmp_path / "bad.jsonl", [{**yt, "label": [[0], [1, 1]]}])
    assert main(["eval", str(preds), str(bad)]) == 1
    assert "bad.jsonl:1: label must be" in capsys.readouterr().err

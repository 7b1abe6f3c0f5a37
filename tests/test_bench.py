"""``vtg bench`` end to end on a tiny benchmark made here: two synthetic videos, annotations in
Charades-STA's shipped text and in QVHighlights' JSONL, a tiny converted Moment-DETR; the run
resumes, scores like ``vtg eval`` and prints the published figures beside its own."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from test_detr import write_release  # noqa: E402
from vtg.cli.main import main  # noqa: E402
from vtg.eval.bench import detect_benchmark, preset_options  # noqa: E402
from vtg.eval.formats import read_durations_csv  # noqa: E402,F401

RED, GREEN, BLUE = (200, 30, 30), (30, 200, 30), (30, 30, 200)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    from vtg.encoders.testing import tiny_hf_clip

    return tiny_hf_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture
def bench(tmp_path, make_video, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for vid, scenes in (("AAAAA", [(RED, 4.0, 0), (GREEN, 4.0, 1)]), ("BBBBB", [(BLUE, 6.0, 2)])):
        (videos / f"{vid}.mp4").write_bytes(make_video(f"{vid}.mp4", scenes).read_bytes())
    write_release(tmp_path / "model_best.ckpt")
    assert main(["models", "convert", "moment_detr", str(tmp_path / "model_best.ckpt"), "-o", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    return videos, tmp_path / "m"


def test_bench_on_charades_text_runs_scores_and_resumes(tmp_path, bench, encoder_dir, capsys, monkeypatch):
    videos, model = bench
    ann = tmp_path / "charades_sta_test.txt"
    ann.write_text("AAAAA 0.0 4.0##a red screen.\r\nAAAAA 4.0 8.0##a green pattern.\r\nBBBBB 1.0 5.0##a blue screen.\r\n")
    monkeypatch.chdir(tmp_path)
    args = ["bench", str(ann), "--videos", str(videos), "-m", "moment_detr", "--model", str(model),
            "-O", f"encoder={encoder_dir}", "-O", "device=cpu"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "vtg bench: moment_detr on charades (test): 3 queries, 0 without a prediction" in first.out
    for metric in ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU"):
        assert metric in first.out
    assert "no published figure in vtg for moment_detr on charades (test)" in first.out
    preds = tmp_path / "charades_sta_test.moment_detr.jsonl"
    assert len(preds.read_text().splitlines()) == 3
    # the same numbers as vtg eval on the same predictions
    assert main(["eval", str(preds), str(ann), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    row = next(line for line in first.out.splitlines() if line.startswith("mIoU"))
    assert float(row.split()[1]) == pytest.approx(metrics["mIoU"])
    assert main(args) == 0  # resumed: nothing runs again
    assert "3 already in the output" in capsys.readouterr().err


def test_bench_prints_the_released_checkpoints_figures_beside_ours(tmp_path, bench, encoder_dir, capsys, monkeypatch):
    videos, model = bench
    ann = tmp_path / "highlight_val_tiny.jsonl"
    ann.write_text("".join(json.dumps(r) + "\n" for r in [
        {"qid": 1, "query": "a red screen", "vid": "AAAAA", "duration": 8.0, "relevant_windows": [[0, 4]],
         "relevant_clip_ids": [0, 1], "saliency_scores": [[4, 3, 4], [2, 2, 3]]},
        {"qid": 2, "query": "a blue screen", "vid": "BBBBB", "duration": 6.0, "relevant_windows": [[2, 6]],
         "relevant_clip_ids": [1, 2], "saliency_scores": [[1, 2, 1], [4, 4, 4]]}]))
    monkeypatch.chdir(tmp_path)
    assert main(["bench", str(ann), "--videos", str(videos), "-m", "moment_detr", "--model", str(model),
                 "-O", f"encoder={encoder_dir}", "-O", "device=cpu", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["benchmark"], doc["split"]) == ("qvhighlights", "val")
    rows = {r["metric"]: r for r in doc["comparison"]}
    assert rows["MR-full-R1@0.5"]["published"] == 53.23 and rows["HL-min-VeryGood-mAP"]["published"] == 35.51
    r = rows["MR-full-mAP"]
    assert r["difference"] == pytest.approx(round(r["ours"] - r["published"], 2))
    assert "moment_detr_ckpt" in doc["published_source"]


def test_benchmark_recognition_and_presets(tmp_path):
    from vtg.registry import method_class

    txt = tmp_path / "anything.txt"
    txt.write_text("3MSZA 24.3 30.4##person turn a light on.\n")
    assert detect_benchmark(txt, [{"vid": "3MSZA"}]) == "charades"
    assert detect_benchmark(tmp_path / "val_1.json", [{"vid": "v_x"}]) == "activitynet"
    assert detect_benchmark(tmp_path / "test.json", [{"vid": "s13-d21"}]) == "tacos"
    assert detect_benchmark(tmp_path / "x.jsonl", [{"vid": "a", "saliency_scores": []}]) == "qvhighlights"
    assert detect_benchmark(tmp_path / "x.jsonl", [{"vid": "a"}]) is None
    assert preset_options(method_class("tfvtg"), "activitynet") == {"preset": "activitynet"}
    assert preset_options(method_class("tfvtg"), "tacos") == {}
    assert preset_options(method_class("moment_detr"), "activitynet") == {}


def test_bench_errors_are_one_line(tmp_path, capsys):
    ann = tmp_path / "x.txt"
    ann.write_text("not an annotation\n")
    assert main(["bench", str(ann), "--videos", str(tmp_path), "-m", "moment_detr"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vtg: error:") and "x.txt:1" in err and err.count("\n") == 1


def test_published_figures_variants_and_split_sizes(tmp_path):
    from vtg.eval.bench import detect_split, format_comparison
    from vtg.eval.published import published_for

    assert detect_split(tmp_path / "val_2.json") == "test" and detect_split(tmp_path / "val_1.json") == "val"
    assert detect_split(tmp_path / "charades_sta_test.txt") == "test" and detect_split(tmp_path / "x.jsonl") is None
    tfvtg = published_for("tfvtg", "activitynet", "test")
    assert len(tfvtg) == 1 and tfvtg[0].metrics["mIoU"] == 34.10 and tfvtg[0].queries == 17031
    first, second = published_for("univtg", "qvhighlights", "val")
    text = format_comparison("univtg", "qvhighlights", "val", {"queries": 1550, "missing": 0, "MR-full-mAP": 40.0},
                             first, [second])
    assert "MR-full-mAP" in text and "+3.87" in text  # 40.00 - 36.13
    assert "also published for QVHL (w/ PT): MR-full-mAP 45.44" in text and "not the same set" not in text
    text = format_comparison("univtg", "qvhighlights", "val", {"queries": 2, "missing": 0}, first, [])
    assert "the published figures are over 1550 queries, this file has 2: not the same set" in text
    assert published_for("numpro", "charades", "test") == []

"""Evaluation metrics against values computed by hand on tiny cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vtg.eval import evaluate, load_ground_truth, load_predictions, read_predictions
from vtg.eval.highlights import clip_scores, query_hl, ranking_ap
from vtg.eval.moments import AP_THRESHOLDS, as_windows, best_iou, detection_ap, envelope_ap
from vtg.errors import DataError


def test_thresholds_are_the_official_ten():
    assert AP_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_best_iou_picks_the_best_ground_truth_window():
    gts = as_windows([[0, 10], [20, 30]])
    assert best_iou([22, 30], gts) == pytest.approx(0.8)
    assert best_iou([5, 15], gts) == pytest.approx(5 / 15)
    assert best_iou([40, 50], gts) == 0.0
    assert best_iou(None, gts) == 0.0


def test_envelope_ap_by_hand():
    # precision 1, 0.5, 2/3 at recall 0.5, 0.5, 1 -> 0.5 * 1 + 0.5 * 2/3
    assert envelope_ap(np.array([1, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0])) == pytest.approx(5 / 6)


def test_detection_ap_by_hand():
    gts = as_windows([[0, 10], [20, 30]])
    preds = [[0, 10, 0.9], [40, 50, 0.8], [20, 28, 0.7]]  # hit, miss, IoU 0.8
    ap = detection_ap(preds, gts)
    # IoU 0.8 counts up to threshold 0.8: AP 5/6 at seven thresholds, 1/2 at 0.85, 0.9, 0.95
    assert ap[:7] == pytest.approx([5 / 6] * 7)
    assert ap[7:] == pytest.approx([0.5] * 3)
    assert ap.mean() == pytest.approx((7 * 5 / 6 + 1.5) / 10)


def test_detection_ap_ranks_by_score_not_file_order():
    gts = as_windows([[0, 10]])
    assert detection_ap([[50, 60, 0.1], [0, 10, 0.9]], gts) == pytest.approx(np.ones(10))
    # the same window twice: the second copy is a false positive (precision 1/2 at recall 1 comes later)
    assert detection_ap([[0, 10, 0.9], [0, 10, 0.8]], gts) == pytest.approx(np.ones(10))
    assert detection_ap([[50, 60, 0.9], [0, 10, 0.8]], gts) == pytest.approx(np.full(10, 0.5))


def test_detection_ap_tie_takes_the_later_ground_truth_window():
    # [0, 20] has IoU 0.5 with both halves; as in the official matcher it takes [10, 20],
    # leaving [0, 10] for the exact second window: two hits at IoU 0.5
    gts = as_windows([[0, 10], [10, 20]])
    ap = detection_ap([[0, 20, 0.9], [0, 10, 0.8]], gts)
    assert ap[0] == pytest.approx(1.0)
    assert ap[1] == pytest.approx(0.25)  # at 0.55 only the second window hits: precision 1/2, recall 1/2


def test_detection_ap_uses_only_the_first_ten_windows():
    gts = as_windows([[0, 10]])
    bad = [[50 + i, 52 + i, 0.5] for i in range(10)]
    assert detection_ap(bad + [[0, 10, 1.0]], gts).sum() == 0.0
    assert detection_ap(bad[:9] + [[0, 10, 1.0]], gts) == pytest.approx(np.ones(10))
    assert detection_ap([], gts).sum() == 0.0


def test_ranking_ap_by_hand():
    assert ranking_ap(np.array([1, 0, 1, 0.]), np.array([.9, .8, .7, .1])) == pytest.approx((1 + 2 / 3) / 2)
    # equal scores form one recall level
    assert ranking_ap(np.array([1, 0, 1, 0.]), np.array([.9, .5, .5, .1])) == pytest.approx((1 + 2 / 3) / 2)
    assert ranking_ap(np.array([0, 1, 1, 0.]), np.array([.9, .5, .5, .1])) == pytest.approx(2 / 3)
    assert ranking_ap(np.array([1, 1, 1.]), np.array([0, 0, 0.])) == 1.0
    assert ranking_ap(np.array([0, 0.]), np.array([1, 0.])) == 0.0


def qvh_gt(qid=1, duration=10, windows=((2, 6),), ids=(1, 2), scores=((4, 2, 0), (1, 3, 2))):
    return {"qid": qid, "query": "q", "vid": "v", "duration": duration,
            "relevant_windows": [list(w) for w in windows],
            "relevant_clip_ids": list(ids), "saliency_scores": [list(s) for s in scores]}


def test_highlight_hit_and_ap_by_hand():
    gt = qvh_gt()
    assert clip_scores(gt).shape == (5, 3)
    # best predicted clip is clip 1: raters 4, 2, 0 -> VeryGood hit (rater 1), Good hit, Fair hit
    aps, hit = query_hl([0, 5, 1, 0, 0], gt, 4)
    assert hit == 1.0
    assert aps == pytest.approx([1.0, 0.0, 0.0])  # rater 1 has clip 1 as its only positive
    aps, hit = query_hl([0, 1, 5], gt, 3)  # clip 2 first (raters 1, 3, 2); prediction padded with zeros
    assert hit == 1.0
    # rater 2 (>=3 on clip 2 only): AP 1; rater 1 (clip 1 only, ranked 2nd): 1/2; rater 3: none -> 0
    assert aps == pytest.approx([0.5, 1.0, 0.0])
    aps, hit = query_hl(None, gt, 2)
    assert hit == 0.0 and aps.sum() == 0.0


def test_evaluate_two_queries_by_hand():
    gt = [{"qid": 1, "query": "a", "vid": "v", "duration": 60, "relevant_windows": [[10, 20]]},
          {"qid": 2, "query": "b", "vid": "v", "duration": 60, "relevant_windows": [[30, 50]]}]
    preds = [{"qid": 1, "pred_relevant_windows": [[12, 20, 0.9], [10, 20, 0.5]]},  # top-1 IoU 0.8
             {"qid": "2", "pred_relevant_windows": [[0, 10, 0.9], [35, 50, 0.8]]}]  # top-1 0, top-2 0.75
    m = evaluate(preds, gt)
    assert m["queries"] == 2 and m["missing"] == 0
    assert (m["R1@0.3"], m["R1@0.5"], m["R1@0.7"]) == (50.0, 50.0, 50.0)
    assert (m["R5@0.3"], m["R5@0.5"], m["R5@0.7"]) == (100.0, 100.0, 100.0)
    assert m["mIoU"] == 40.0
    assert m["MR-full-R1@0.5"] == 50.0 and m["MR-full-R1@0.8"] == 50.0 and m["MR-full-R1@0.85"] == 0.0
    # query 1: AP 1 up to IoU 0.8 then 0.5 (second window exact); query 2: AP 0.5 up to 0.75, then 0
    assert m["MR-full-mAP@0.5"] == 75.0
    assert m["MR-full-mAP@0.85"] == 25.0
    assert m["MR-full-mAP"] == pytest.approx(round(100 * (7 * 1 + 3 * .5 + 6 * .5) / 20, 2))
    assert m["MR-short-queries"] == 1 and m["MR-middle-queries"] == 1 and m["MR-long-queries"] == 0
    assert m["MR-long-mAP"] is None and m["MR-long-R1@0.5"] is None  # empty bucket: reported, no crash
    assert m["MR-short-R1@0.7"] == 100.0 and m["MR-middle-R1@0.5"] == 0.0
    assert "HL-min-Fair-mAP" not in m  # no saliency annotation


def test_missing_prediction_scores_zero_and_rounding_is_official():
    gt = [{"qid": i, "query": str(i), "vid": "v", "duration": 30, "relevant_windows": [[0, 10]]}
          for i in range(3)]
    m = evaluate([{"qid": 0, "pred_relevant_windows": [[0, 10, 1]]}], gt)
    assert m["missing"] == 2
    assert m["R1@0.5"] == 33.33 and m["MR-full-mAP"] == 33.33  # float(f"{100 * v:.2f}")
    raw = evaluate([{"qid": 0, "pred_relevant_windows": [[0, 10, 1]]}], gt, decimals=None)
    assert raw["R1@0.5"] == pytest.approx(100 / 3, abs=1e-12)


def test_highlight_metrics_in_evaluate():
    gt = [qvh_gt()]
    m = evaluate([{"qid": 1, "pred_relevant_windows": [[2, 6, 1]], "pred_saliency_scores": [0, 5, 1, 0, 0]}], gt)
    assert m["HL-min-VeryGood-Hit1"] == 100.0 and m["HL-min-VeryGood-mAP"] == 33.33
    assert m["MR-full-mAP"] == 100.0 and m["HL-queries"] == 1


def test_match_by_vid_and_query_when_qids_differ():
    gt = [{"qid": "3MSZA_0", "query": "person turn a light on.", "vid": "3MSZA", "duration": 31,
           "relevant_windows": [[24.3, 30.4]]}]
    pred = {"qid": "line1-abc", "vid": "3MSZA", "query": "person  turn a light on.",
            "pred_relevant_windows": [[24.3, 30.4, 1.0]]}
    assert evaluate([pred], gt)["R1@0.7"] == 100.0


def write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_load_ground_truth_forms(tmp_path):
    jl = write_lines(tmp_path / "gt.jsonl", [{"qid": 5, "query": "x", "vid": "v", "duration": 9,
                                              "relevant_windows": [[1, 2]]}])
    assert load_ground_truth(jl) == [{"qid": 5, "query": "x", "vid": "v", "duration": 9.0,
                                      "relevant_windows": [[1.0, 2.0]]}]
    per_video = tmp_path / "charades_test.json"
    per_video.write_text(json.dumps({"AB": {"duration": 30.0, "timestamps": [[1, 5], [9, 7]],
                                            "sentences": ["one", "two"]}}))
    recs = load_ground_truth(per_video)
    assert [r["qid"] for r in recs] == ["AB_0", "AB_1"]
    assert recs[1]["relevant_windows"] == [[7.0, 9.0]] and recs[1]["query"] == "two"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"qid": 1, "relevant_windows": [[0, 1]]}\n{oops\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        load_ground_truth(bad)
    with pytest.raises(DataError, match="no such file"):
        load_ground_truth(tmp_path / "absent.jsonl")


def test_load_predictions_skips_errors(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [
        {"qid": 1, "video": "/x/clip.mp4", "pred_relevant_windows": [[1, 2, 0.5], [3, 4]]},
        {"qid": 2, "status": "error", "error": "VideoNotFoundError: gone"},
    ])
    pf = read_predictions(path)
    assert len(pf.records) == 1 and len(pf.errors) == 1
    rec = load_predictions(path)[0]
    assert rec["vid"] == "clip" and rec["pred_relevant_windows"] == [[1.0, 2.0, 0.5], [3.0, 4.0, 0.0]]

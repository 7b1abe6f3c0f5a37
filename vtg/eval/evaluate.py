"""``evaluate(predictions, ground_truth)``: every metric of ``vtg eval`` in one flat dict.

A pure function on lists of dicts (as returned by :mod:`vtg.eval.loaders`, or built in memory
by a training loop). Metric names and values follow the official QVHighlights evaluation
(moment_detr's ``standalone_eval/eval.py``), including its rounding: values are percentages
rounded to 2 decimals (``float(f"{100 * v:.2f}")``), each rounded once from the unrounded
aggregate. ``decimals=None`` returns unrounded percentages.

Keys (percentages; ``None`` for an empty length bucket, where the official script crashes):

* ``MR-{full,short,middle,long}-mAP`` (mean over IoU 0.5:0.05:0.95), ``MR-{bucket}-mAP@{t}``
  for each threshold, ``MR-{bucket}-R1@{t}``; buckets keep the queries with a ground-truth
  window of length in (0, 10], (10, 30] or (30, 150] seconds, and only those windows.
* ``HL-min-{Fair,Good,VeryGood}-{mAP,Hit1}`` when the ground truth has clip saliency.
* Charades-STA style: ``R1@0.3/0.5/0.7``, ``R5@0.3/0.5/0.7``, ``mIoU`` over all queries.
* ``HL-top5-mAP`` / ``HL-mAP`` for TVSum / YouTube Highlights clip labels (:mod:`.clip_labels`);
  a file of only such queries gets only these and the counts.
* Counts (not percentages): ``queries``, ``missing`` (ground-truth queries without a
  prediction; they score 0), ``MR-{bucket}-queries``, ``HL-queries``.

Predictions are matched to ground truth by ``qid`` (compared as strings, so 7 and "7" match);
a ground-truth query no prediction's qid names is matched by ``(vid, query)`` instead. If a
qid appears twice, the last record wins (a resumed batch may repeat items). Predictions for
unknown queries are ignored.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from vtg.eval.clip_labels import clip_label_metrics
from vtg.eval.highlights import highlight_metrics
from vtg.eval.moments import AP_THRESHOLDS, as_windows, detection_ap, top1_iou, topk_iou

BUCKETS = {"short": (0.0, 10.0), "middle": (10.0, 30.0), "long": (30.0, 150.0)}
R1_THRESHOLDS = AP_THRESHOLDS
CHARADES_THRESHOLDS = (0.3, 0.5, 0.7)
COUNT_SUFFIX = "queries"


def _key(qid: Any) -> str:
    return str(qid)


def _text_key(vid: Any, query: Any) -> tuple[str, str]:
    """``(vid, query)`` for matching without a shared qid; ActivityNet's ``v_`` prefix dropped."""
    vid = str(vid or "")
    return (vid[2:] if vid.startswith("v_") else vid), " ".join(str(query or "").split())


def match_predictions(predictions: Iterable[dict], ground_truth: list[dict]) -> list[dict | None]:
    """The prediction for each ground-truth query, in ground-truth order (``None`` if missing).

    By qid first; a ground-truth query whose qid no prediction carries is matched by
    ``(vid, query)`` instead (e.g. TFVTG's per-video JSON, whose qids vtg derives).
    """
    by_qid: dict[str, dict] = {}
    by_text: dict[tuple[str, str], dict] = {}
    for p in predictions:
        if p.get("qid") is not None:
            by_qid[_key(p["qid"])] = p
        by_text[_text_key(p.get("vid"), p.get("query"))] = p
    out: list[dict | None] = []
    for g in ground_truth:
        match = by_qid.get(_key(g["qid"]))
        if match is None:
            match = by_text.get(_text_key(g.get("vid"), g.get("query")))
        out.append(match)
    return out


def in_bucket(gt: dict, bucket: str) -> dict | None:
    """``gt`` keeping only windows of the bucket's length range, or None if none is left."""
    if bucket == "full":
        return gt
    lo, hi = BUCKETS[bucket]
    windows = [w for w in gt["relevant_windows"] if lo < w[1] - w[0] <= hi]
    return {**gt, "relevant_windows": windows} if windows else None


def query_scores(windows: list, gt: dict) -> tuple[np.ndarray, float]:
    """AP at every threshold and top-1 IoU of one query."""
    gts = as_windows(gt["relevant_windows"])
    return detection_ap(windows, gts), top1_iou(windows, gts)


def moment_metrics(pairs: list[tuple[list, dict]], bucket: str, full: list) -> dict[str, float | None]:
    """Raw (0-1) mAP and R1 at every threshold for one length bucket.

    ``full`` holds each query's :func:`query_scores` on all its windows, reused when the
    bucket keeps every window of a query.
    """
    aps, ious = [], []
    for (windows, gt), scores in zip(pairs, full):
        g = in_bucket(gt, bucket)
        if g is None:
            continue
        ap, iou = scores if len(g["relevant_windows"]) == len(gt["relevant_windows"]) \
            else query_scores(windows, g)
        aps.append(ap)
        ious.append(iou)
    out: dict[str, float | None] = {f"MR-{bucket}-{COUNT_SUFFIX}": len(aps)}
    ap_by_thr = np.array(aps).mean(0) if aps else None
    for t, thr in enumerate(AP_THRESHOLDS):
        out[f"MR-{bucket}-mAP@{thr}"] = None if ap_by_thr is None else float(ap_by_thr[t])
    out[f"MR-{bucket}-mAP"] = None if ap_by_thr is None else float(np.mean(ap_by_thr))
    iou_arr = np.array(ious)
    for thr in R1_THRESHOLDS:
        out[f"MR-{bucket}-R1@{thr}"] = float(np.mean(iou_arr >= thr)) if ious else None
    return out


def recall_metrics(pairs: list[tuple[list, dict]], top1: list[float]) -> dict[str, float | None]:
    """R1/R5 at IoU 0.3/0.5/0.7 and mIoU, as Charades-STA and ActivityNet papers report them."""
    top1_arr = np.array(top1)
    top5 = np.array([topk_iou(w, as_windows(g["relevant_windows"]), 5) for w, g in pairs])
    out: dict[str, float | None] = {}
    for thr in CHARADES_THRESHOLDS:
        out[f"R1@{thr}"] = float(np.mean(top1_arr >= thr)) if pairs else None
    for thr in CHARADES_THRESHOLDS:
        out[f"R5@{thr}"] = float(np.mean(top5 >= thr)) if pairs else None
    out["mIoU"] = float(np.mean(top1_arr)) if pairs else None
    return out


def to_percent(metrics: dict[str, Any], decimals: int | None) -> dict[str, Any]:
    """Scale 0-1 metrics to percentages, rounded as the official script does; counts stay."""
    out = {}
    for k, v in metrics.items():
        if v is None or k == COUNT_SUFFIX or k.endswith(COUNT_SUFFIX) or k == "missing":
            out[k] = v
        elif decimals is None:
            out[k] = 100.0 * v
        else:
            out[k] = float(f"{100.0 * v:.{decimals}f}")
    return out


def evaluate(predictions: list[dict], ground_truth: list[dict], *, decimals: int | None = 2,
             by_length: bool = True) -> dict[str, float | int | None]:
    """All metrics for ``predictions`` against ``ground_truth`` (see the module docstring)."""
    matched = match_predictions(predictions, ground_truth)
    if ground_truth and all("label" in g for g in ground_truth):  # highlight detection only
        raw_hd: dict[str, Any] = {"queries": len(ground_truth), "missing": sum(p is None for p in matched)}
        raw_hd.update(clip_label_metrics([(p.get("pred_saliency_scores") if p else None, g)
                                          for p, g in zip(matched, ground_truth)]))
        return to_percent(raw_hd, decimals)
    windows = [list(p.get("pred_relevant_windows") or []) if p else [] for p in matched]
    pairs = list(zip(windows, ground_truth))
    raw: dict[str, Any] = {"queries": len(ground_truth), "missing": sum(p is None for p in matched)}
    full = [query_scores(w, g) for w, g in pairs]
    for bucket in ["full", *BUCKETS] if by_length else ["full"]:
        raw.update(moment_metrics(pairs, bucket, full))
    raw.update(recall_metrics(pairs, [iou for _, iou in full]))
    hl_pairs = [(p.get("pred_saliency_scores") if p else None, g)
                for p, g in zip(matched, ground_truth) if "saliency_scores" in g]
    if hl_pairs and any(pred is not None for pred, _ in hl_pairs):
        raw["HL-queries"] = len(hl_pairs)
        raw.update(highlight_metrics(hl_pairs))
    return to_percent(raw, decimals)

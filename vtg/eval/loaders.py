"""Read ground truth and predictions into plain QVHighlights-style dicts.

Ground truth comes in two shapes:

* JSONL, one query per line (QVHighlights, and the Charades-STA / ActivityNet releases in the
  same form): ``qid, query, vid, duration, relevant_windows`` and, for QVHighlights,
  ``relevant_clip_ids`` + ``saliency_scores`` (three raters, 0-4, per 2 s clip).
* TFVTG's per-video JSON: ``{vid: {"duration", "timestamps", "sentences"}}``. Its sentences
  have no ids, so query ``i`` of video ``vid`` gets ``qid = f"{vid}_{i}"`` (``i`` counts from 0
  in file order). JSONL records without a ``qid`` get the same scheme.
* Benchmark files as their authors ship them (:mod:`vtg.eval.formats`): Charades-STA's raw
  ``vid start end##sentence`` text, ActivityNet Captions' ``val_1.json`` (the per-video form
  above), TaCoS in 2D-TAN's frame-numbered JSON, TVR-style JSONL lines.

Predictions are Grounding JSONL (``vtg ground --format jsonl`` / ``vtg batch``), a superset of
the QVHighlights prediction format. Records with ``"status": "error"`` (a failed batch item)
are skipped by :func:`load_predictions`; their queries then have no prediction and score zero,
exactly like a query that was never run. :func:`read_predictions` also returns how many there
were so the CLI can say so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vtg import jsonl
from vtg.errors import DataError
from vtg.eval import formats
from vtg.predictions import check_prediction

HL_KEYS = ("relevant_clip_ids", "saliency_scores")


def _open_text(path: Path) -> str:
    """The file by the JSON Lines rule (:mod:`vtg.jsonl`: BOM dropped, strict UTF-8)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return jsonl.read_text(path, strict=True)


def _json_records(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, object)``: JSONL line by line, or a JSON document as line 1."""
    text = _open_text(path)
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and _is_single_document(stripped)):
        try:
            yield 1, json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
        except (ValueError, RecursionError) as exc:  # 5000-digit integers, nesting past the stack
            raise DataError(f"{path}: unreadable JSON ({type(exc).__name__}: {str(exc)[:80]})") from None
        return
    for number, line in jsonl.numbered(text):  # "\n" only: U+2028 in a query is not a line end
        yield number, jsonl.loads(line, number, path)


def _is_single_document(text: str) -> bool:
    """True when ``text`` parses as one JSON object (a per-video JSON file, a single result)."""
    try:
        json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return False
    return True


def _window(w: Any, where: str) -> list[float]:
    """``[start, end]`` in seconds: finite and non-negative (else a DataError saying which); a
    reversed window is swapped (some Charades-STA releases hold a few)."""
    if not isinstance(w, (list, tuple)) or isinstance(w, str):
        raise DataError(f"{where}: window {_short(w)} is not [start, end]")
    try:
        s, e = float(w[0]), float(w[1])
    except (TypeError, ValueError, IndexError, OverflowError):
        raise DataError(f"{where}: window {_short(w)} is not [start, end]") from None
    if not (math.isfinite(s) and math.isfinite(e)):
        raise DataError(f"{where}: window {_short(w)} has a non-finite time")
    if s < 0 or e < 0:
        raise DataError(f"{where}: window {_short(w)} has a negative time")
    return [min(s, e), max(s, e)]


def _inside(window: list[float], duration: float, where: str) -> list[float]:
    """A window of a video of known ``duration`` must start inside it and not end far past it.
    Releases keep ends a little past the duration (Charades-STA's TFVTG JSON: up to 1.5 s), so an
    end is refused only beyond twice the duration plus 10 s: a typo or an attack (``1e6`` s into a
    20-s video), which would otherwise train or score on nothing."""
    start, end = window
    if duration > 0 and (start > duration or end > 2 * duration + 10):
        raise DataError(f"{where}: window {_short(window)} lies outside the video's duration {duration:g} s")
    return window


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _number(value: Any, what: str, where: str) -> float:
    """A finite float, or a DataError naming the field (never a TypeError traceback)."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{where}: {what} {_short(value)} is not a number") from None
    if not math.isfinite(x):
        raise DataError(f"{where}: {what} {_short(value)} is not finite")
    return x


def _list(value: Any, what: str, where: str) -> list:
    if not isinstance(value, list):
        raise DataError(f"{where}: {what} must be a list, got {type(value).__name__}")
    return value


def _gt_record(d: Any, where: str, qid: Any) -> dict:
    d = formats.from_tvr(d)
    if not isinstance(d, dict):
        raise DataError(f"{where}: expected an object, got {type(d).__name__}")
    windows = d.get("relevant_windows", d.get("timestamps"))
    if windows is None and d.get("label") is not None:  # TVSum / YouTube Highlights: clip labels only
        return _label_record(d, where, qid)
    if windows is None:
        swapped = " (a prediction: give PREDICTIONS first, then GROUND_TRUTH)" if "pred_relevant_windows" in d else ""
        raise DataError(f"{where}: no relevant_windows{swapped}")
    windows = _list(windows, "relevant_windows", where)
    if windows and not isinstance(windows[0], (list, tuple)):
        windows = [windows]
    duration = _number(d.get("duration") or 0.0, "duration", where)
    out = {
        "qid": d.get("qid", qid),
        "query": str(d.get("query", d.get("sentence", ""))),
        "vid": str(d.get("vid", "")),
        "duration": duration,
        "relevant_windows": [_inside(_window(w, where), duration, where) for w in windows],
    }
    if all(k in d for k in HL_KEYS):
        ids = _list(d["relevant_clip_ids"], "relevant_clip_ids", where)
        rows = _list(d["saliency_scores"], "saliency_scores", where)
        out["relevant_clip_ids"] = [int(_number(i, "clip id", where)) for i in ids]
        out["saliency_scores"] = [[_number(x, "saliency score", where) for x in _list(row, "saliency row", where)]
                                  for row in rows]
        if len(out["relevant_clip_ids"]) != len(out["saliency_scores"]):
            raise DataError(f"{where}: relevant_clip_ids and saliency_scores differ in length")
    if isinstance(d.get("label_type"), str):  # pseudo-labels (vtg pseudo-label) say what kind they are
        out["label_type"] = d["label_type"]
    return out


def _label_record(d: dict, where: str, qid: Any) -> dict:
    """A highlight-detection line of UMT / Lighthouse (TVSum, YouTube Highlights): ``label`` holds
    one row of annotator scores per clip (:mod:`vtg.eval.clip_labels`)."""
    rows = _list(d["label"], "label", where)
    label = [[_number(x, "label score", where) for x in _list(row, "label row", where)] for row in rows]
    if not label or len({len(r) for r in label}) != 1 or not label[0]:
        raise DataError(f"{where}: label must be a non-empty list of equally long rows (clips x annotators)")
    return {"qid": d.get("qid", qid), "query": str(d.get("query", "")), "vid": str(d.get("vid", "")),
            "duration": _number(d.get("duration") or 0.0, "duration", where), "relevant_windows": [],
            "label": label, **({"domain": str(d["domain"])} if d.get("domain") is not None else {})}


def _per_video(doc: dict, path: Path) -> list[dict]:
    """Per-video JSON (TFVTG, ActivityNet Captions, 2D-TAN's TaCoS) -> one record per sentence."""
    return [_gt_record(a.as_record(), a.where, a.qid) for a in formats.per_video_annotations(doc, path)]


def load_ground_truth(path: str | Path, durations: dict[str, float] | None = None) -> list[dict]:
    """Annotations as QVHighlights-style dicts (see the module docstring for the accepted forms).
    ``durations`` (``{vid: seconds}``, e.g. from :func:`vtg.eval.formats.read_durations_csv`)
    fills in durations a file does not carry (Charades-STA's text)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    shipped = formats.read_shipped(path, durations)
    if shipped is not None:
        records = [_gt_record(a.as_record(), a.where, a.qid) for a in shipped]
        _refuse_duplicates(records, path)
        return records
    records = []
    per_vid: dict[str, int] = {}
    for number, obj in _json_records(path):
        if formats.is_per_video(obj):
            records.extend(_per_video(obj, path))
            continue
        for item in obj if isinstance(obj, list) else [obj]:
            vid = str(item.get("vid", "")) if isinstance(item, dict) else ""
            fallback = f"{vid}_{per_vid.get(vid, 0)}"
            per_vid[vid] = per_vid.get(vid, 0) + 1
            records.append(_gt_record(item, f"{path}:{number}", fallback))
    if not records:
        raise DataError(f"{path}: no ground-truth records")
    _refuse_duplicates(records, path)
    return records


def _refuse_duplicates(records: list[dict], path: Path) -> None:
    """Two annotations with one qid make every match ambiguous: a clear error, not a silent pick."""
    seen: set[str] = set()
    for g in records:
        key = str(g["qid"])
        if key in seen:
            raise DataError(f"{path}: duplicate qid {_short(g['qid'])} in the ground truth; qids must be unique")
        seen.add(key)


@dataclass
class PredictionFile:
    """Predictions read from a file, plus the failed batch items that were skipped."""

    records: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    #: records whose qid an earlier record already had (the last one counts, see vtg.eval.evaluate)
    duplicates: int = 0


def _prediction(d: Any, where: str) -> dict:
    """One prediction through the shared validator (:mod:`vtg.predictions`), plus ``vid`` from
    ``video`` when only the path is given."""
    out = check_prediction(d, where)
    if out.get("pred_relevant_windows") is None:
        out["pred_relevant_windows"] = []
    if not out.get("vid") and out.get("video"):
        out["vid"] = Path(str(out["video"])).stem
    return out


def read_predictions(path: str | Path) -> PredictionFile:
    """All records of a Grounding JSONL (or JSON) file, split into predictions and errors."""
    path = Path(path)
    out = PredictionFile()
    for number, obj in _json_records(path):
        for item in obj if isinstance(obj, list) else [obj]:
            if isinstance(item, dict) and item.get("status") == "error":
                out.errors.append(check_prediction(item, f"{path}:{number}"))
            else:
                out.records.append(_prediction(item, f"{path}:{number}"))
    qids = [str(r["qid"]) for r in out.records if r.get("qid") is not None]
    out.duplicates = len(qids) - len(set(qids))
    return out


def load_predictions(path: str | Path) -> list[dict]:
    """Predictions as dicts; failed batch items (``status == "error"``) are left out (= misses)."""
    return read_predictions(path).records

"""Training samples for UniVTG: annotations in the QVHighlights / Charades-STA JSONL form turned
into the per-clip labels of the paper's unified formulation: foreground ``f``, boundary window ``b`` and
saliency ``s`` for every 2-second clip.

Label rules follow the released data loader: a clip is foreground when its anchor time (see
:mod:`.inference`) falls inside a ground-truth window, and its boundary target is that window;
saliency is the mean of the annotators' scores where given (QVHighlights), else the foreground
indicator. ``label_type`` ``point`` (one timestamp, no extent) trains foreground and saliency
only, as the paper prescribes for point labels; ``interval`` and ``curve`` train all heads.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vtg.errors import DataError

from .inference import anchor_normalised


@dataclass
class Sample:
    """One (video, query) pair with features and labels in seconds."""

    qid: Any
    query: str
    vid: str
    duration: float
    video: np.ndarray                      # (L, Dv) L2-normalised clip features, without the TEF
    text: np.ndarray                       # (Lt, Dt) L2-normalised token features
    windows: list[list[float]] = field(default_factory=list)
    saliency: np.ndarray | None = None     # (L,) curve label, higher = more relevant
    label_type: str = "interval"


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def with_tef(video: np.ndarray) -> np.ndarray:
    """Append the temporal endpoint feature ``[i / L, (i + 1) / L]`` to each clip."""
    n = video.shape[0]
    start = np.arange(n, dtype=np.float32) / n
    return np.concatenate([video.astype(np.float32), np.stack([start, start + 1.0 / n], 1)], axis=1)


def read_annotations(path: str | Path) -> list[dict[str, Any]]:
    """QVHighlights-style records (``qid, query, vid, duration, relevant_windows`` ...) for training.

    Read by :func:`vtg.eval.load_ground_truth`, so training accepts exactly the forms and checks of
    ``vtg eval`` (JSONL, TFVTG's per-video JSON, BOM, malformed windows) and keeps the
    pseudo-labels' ``label_type``; training also needs every record to name its query and video.
    """
    from vtg.eval import load_ground_truth

    path = Path(path)
    if not path.is_file():
        raise DataError(f"annotation file not found: {path}")
    records = load_ground_truth(path)
    for rec in records:
        if not rec["query"].strip() or not rec["vid"]:
            raise DataError(f"{path}: record {rec['qid']!r} lacks a query or a vid")
    return records  # windows outside a stated duration are refused by the shared record validator


def check_windows(windows, duration: float, where: str) -> None:
    """Refuse a duration that is not a finite positive number, and windows outside the video, by
    the shared validator's rule (:func:`vtg.eval.loaders`: a start past the end, or an end beyond
    twice the duration plus 10 s), applied here also when the duration comes from the features."""
    if not (math.isfinite(duration) and duration > 0):
        raise DataError(f"{where}: duration {duration!r} is not a positive number of seconds")
    for window in windows:
        start, end = (float(v) for v in window)
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start <= end):
            raise DataError(f"{where}: window {list(window)} is not [start, end] with 0 <= start <= end")
        if start > duration or end > 2 * duration + 10:
            raise DataError(f"{where}: window {list(window)} lies outside the {duration:g}-s video")


def check_sample(sample: "Sample") -> None:
    """A sample's labels and features are usable: windows inside the video, finite features."""
    where = f"video {sample.vid!r:.60}, query {sample.qid!r:.60}"
    check_windows(sample.windows, float(sample.duration), where)
    for name, array in (("video", sample.video), ("text", sample.text)):
        if not np.isfinite(array).all():
            raise DataError(f"{where}: the {name} features hold NaN or infinite values")


def curve_from_record(rec: dict[str, Any], num_clips: int) -> np.ndarray | None:
    """Mean annotator saliency per clip from ``relevant_clip_ids`` + ``saliency_scores``, if present."""
    ids, scores = rec.get("relevant_clip_ids"), rec.get("saliency_scores")
    if not ids or not scores:
        return None
    curve = np.zeros(num_clips, dtype=np.float32)
    for cid, s in zip(ids, scores):
        if 0 <= int(cid) < num_clips:
            curve[int(cid)] = float(np.mean(s))
    return curve


@dataclass
class ClipLabels:
    """Per-clip training targets of one sample (normalised by ``L * clip_len``)."""

    timestamp: np.ndarray    # (L,)
    fg: np.ndarray           # (L,)
    span_target: np.ndarray  # (L, 2)
    saliency: np.ndarray     # (L,)
    box_weight: float


def clip_labels(sample: Sample, clip_len: float, convention: str) -> ClipLabels:
    n = sample.video.shape[0]
    ts = anchor_normalised(n, clip_len, convention)
    windows = np.asarray(sample.windows, dtype=np.float64).reshape(-1, 2) / (n * clip_len)
    if sample.label_type == "point" and len(windows):
        centre = windows.mean(1)
        clip_w = 1.0 / n
        windows = np.stack([centre - clip_w / 2, centre + clip_w / 2], 1)
    fg = np.zeros(n, np.float32)
    target = np.zeros((n, 2), np.float32)
    for w in windows:
        inside = (ts >= w[0]) & (ts <= w[1]) & (fg == 0)
        fg[inside] = 1.0
        target[inside] = w
    if not fg.any() and len(windows):  # window shorter than a clip: mark the clip it starts in
        idx = int(np.clip(np.floor(windows[0, 0] * n), 0, n - 1))
        fg[idx], target[idx] = 1.0, windows[0]
    sal = sample.saliency if sample.saliency is not None else fg
    box = 0.0 if sample.label_type == "point" else 1.0
    return ClipLabels(ts.astype(np.float32), fg, target, np.asarray(sal, np.float32), box)


def positive_clip(labels: ClipLabels, rng: random.Random) -> int:
    """A random clip with positive saliency (the contrastive anchor), or -1 if none."""
    cand = np.flatnonzero(labels.saliency > 0)
    return int(rng.choice(list(cand))) if len(cand) else -1


def collate(samples: Sequence[Sample], clip_len: float, convention: str, rng: random.Random | None = None):
    """Pad a list of samples into model inputs and loss targets (torch tensors on the CPU)."""
    import torch

    rng = rng or random.Random(0)
    bsz = len(samples)
    lv = max(s.video.shape[0] for s in samples)
    lt = max(s.text.shape[0] for s in samples)
    dv = samples[0].video.shape[1] + 2
    dt = samples[0].text.shape[1]
    vid = np.zeros((bsz, lv, dv), np.float32)
    txt = np.zeros((bsz, lt, dt), np.float32)
    vmask = np.zeros((bsz, lv), np.float32)
    tmask = np.zeros((bsz, lt), np.float32)
    ts = np.zeros((bsz, lv), np.float32)
    fg = np.zeros((bsz, lv), np.float32)
    span = np.zeros((bsz, lv, 2), np.float32)
    sal = np.zeros((bsz, lv), np.float32)
    box = np.zeros(bsz, np.float32)
    pos = np.full(bsz, -1, np.int64)
    for b, s in enumerate(samples):
        n, m = s.video.shape[0], s.text.shape[0]
        vid[b, :n] = with_tef(s.video)
        txt[b, :m] = s.text
        vmask[b, :n], tmask[b, :m] = 1, 1
        lab = clip_labels(s, clip_len, convention)
        ts[b, :n], fg[b, :n], span[b, :n], sal[b, :n], box[b] = (lab.timestamp, lab.fg, lab.span_target,
                                                                    lab.saliency, lab.box_weight)
        pos[b] = positive_clip(lab, rng)
    t = torch.from_numpy
    inputs = {"src_txt": t(txt), "src_txt_mask": t(tmask), "src_vid": t(vid), "src_vid_mask": t(vmask)}
    targets = {"timestamp": t(ts), "vid_mask": t(vmask), "fg": t(fg), "span_target": t(span),
               "saliency": t(sal), "box_weight": t(box), "pos_idx": t(pos)}
    return inputs, targets


def to_device(d: dict, device: str) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in d.items()}


def ground_truth_records(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """The samples' labels as QVHighlights ground-truth dicts (for ``vtg.eval.evaluate``)."""
    out = []
    for s in samples:
        rec = {"qid": s.qid, "query": s.query, "vid": s.vid, "duration": s.duration,
               "relevant_windows": [list(map(float, w)) for w in s.windows]}
        if s.saliency is not None:
            ids = [int(i) for i in np.flatnonzero(s.saliency > 0)]
            rec["relevant_clip_ids"] = ids
            rec["saliency_scores"] = [[float(s.saliency[i])] * 3 for i in ids]
        out.append(rec)
    return out

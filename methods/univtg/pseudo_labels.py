"""CLIP-teacher pseudo labels for pre-training on unlabelled videos (the paper's CLIP-teacher label scaling).

For every 2-second clip the teacher (CLIP ViT-B/32) scores the similarity to each concept of a
vocabulary; the ``top_k`` concepts with the largest summed similarity over the video become
queries, and each concept's per-clip similarity curve becomes three kinds of labels:

* **point** - the single clip where the curve peaks;
* **interval** - the contiguous runs of clips whose similarity falls in the same 0.05-wide bin as
  the peak (the released teacher's rule: scores quantised by ``s // 0.05``, runs at the top level);
* **curve** - the similarity curve itself, min-max normalised and scaled to the 0-4 range of
  QVHighlights saliency annotations, with the interval runs as its windows.

Records are written in the QVHighlights JSONL form (``qid, query, vid, duration,
relevant_windows, relevant_clip_ids, saliency_scores``) plus ``label_type``, so ``vtg train
univtg`` reads them directly. Deviation from the released script: a run that reaches the last
clip is kept (the released loop dropped it because it only closed runs on a lower score).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vtg import jsonl
from vtg.errors import DataError, UsageError
from .features import clip_frame_features

LABEL_KINDS = ("point", "interval", "curve")
BIN = 0.05


def concept_similarity(clips: np.ndarray, concepts: np.ndarray) -> np.ndarray:
    """Cosine similarity (L, K) of L clip features with K concept text features."""
    a = clips / np.maximum(np.linalg.norm(clips, axis=1, keepdims=True), 1e-12)
    b = concepts / np.maximum(np.linalg.norm(concepts, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def top_concepts(sim: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` concepts with the largest similarity summed over the video."""
    return np.argsort(-sim.sum(0), kind="stable")[:k]


def peak_runs(curve: np.ndarray, bin_width: float = BIN) -> list[tuple[int, int]]:
    """Inclusive clip ranges ``(first, last)`` of the runs quantised into the peak's bin."""
    levels = np.floor(np.asarray(curve, dtype=np.float64) / bin_width)
    top = levels.max()
    runs, start = [], None
    for i, on in enumerate(levels == top):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(levels) - 1))
    return runs


def normalised_curve(curve: np.ndarray) -> np.ndarray:
    c = np.asarray(curve, dtype=np.float64)
    span = c.max() - c.min()
    return (c - c.min()) / span if span > 0 else np.ones_like(c)


@dataclass(frozen=True)
class VideoClips:
    vid: str
    clips: np.ndarray   # (L, D) clip features in the teacher's joint space
    duration: float


def label_records(video: VideoClips, concepts: Sequence[str], concept_feats: np.ndarray, *, top_k: int = 5,
                  kinds: Iterable[str] = ("interval",), clip_len: float = 2.0) -> list[dict]:
    """The pseudo-label records of one video (one per chosen concept and label kind)."""
    kinds = list(kinds)
    bad = [k for k in kinds if k not in LABEL_KINDS]
    if bad:
        raise UsageError(f"unknown label kind(s) {bad}; choose from {', '.join(LABEL_KINDS)}")
    sim = concept_similarity(video.clips, concept_feats)
    n = sim.shape[0]

    def window(a: int, b: int) -> list[float]:
        return [round(a * clip_len, 3), round(min((b + 1) * clip_len, video.duration), 3)]

    out = []
    for c in top_concepts(sim, min(top_k, sim.shape[1])):
        curve = sim[:, c]
        runs = peak_runs(curve)
        base = {"query": concepts[c], "vid": video.vid, "duration": round(video.duration, 3),
                "concept_id": int(c)}
        for kind in kinds:
            rec = dict(base, qid=f"{video.vid}#{int(c)}#{kind}", label_type=kind)
            if kind == "point":
                peak = int(np.argmax(curve))
                rec["relevant_windows"] = [window(peak, peak)]
            else:
                rec["relevant_windows"] = [window(a, b) for a, b in runs]
            if kind == "curve":
                rec["relevant_clip_ids"] = list(range(n))
                rec["saliency_scores"] = [[round(float(4 * v), 3)] for v in normalised_curve(curve)]
            out.append(rec)
    return out


def read_vocabulary(path: str | Path) -> list[str]:
    """Concepts, one per line (blank lines and ``#`` comments skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"vocabulary file not found: {path}")
    words = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not words:
        raise DataError(f"{path} holds no concepts")
    return words


def pseudo_label_videos(videos: Sequence[str | Path], vocabulary: Sequence[str], out_path: str | Path, *,
                        encoder: str = "ViT-B-32/openai", device: str = "auto", top_k: int = 5,
                        kinds: Iterable[str] = ("interval",), clip_len: float = 2.0, progress: bool = False) -> int:
    """Label ``videos`` with the CLIP teacher and write JSONL to ``out_path``; returns the record count."""
    from vtg.encoders import load_encoder

    if not vocabulary:
        raise UsageError("the concept vocabulary is empty")
    enc = load_encoder(encoder, device=device)
    concept_feats = np.asarray(enc.encode_texts(list(vocabulary)), dtype=np.float32)
    records: list[dict] = []
    for path in videos:
        clips, _, duration = clip_frame_features(path, enc, clip_len, progress)
        video = VideoClips(Path(path).stem, clips, duration)
        records += label_records(video, vocabulary, concept_feats, top_k=top_k, kinds=kinds, clip_len=clip_len)
    jsonl.write(out_path, records, ascii_only=True)
    return len(records)

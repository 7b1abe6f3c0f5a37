"""Per-video JSON: ``{vid: {duration, timestamps, sentences}}``, one entry per video.

* ActivityNet Captions (Krishna et al., ICCV 2017) ships ``val_1.json`` / ``val_2.json`` /
  ``train.json`` in this form, times in seconds; TFVTG's Charades-STA file uses it too.
* TaCoS as 2D-TAN (Zhang et al., AAAI 2020) ships it (``train/val/test.json``, keyed
  ``s13-d21.avi``) holds frame numbers with the video's ``fps`` and ``num_frames`` instead of a
  duration: times are ``frame / fps`` clipped to ``[0, num_frames / fps]``, as 2D-TAN's loader
  reads them. The key's video extension is dropped from ``vid`` so ``--video-dir`` finds the file.

Sentences have no ids: query ``i`` of video ``vid`` gets ``qid = f"{vid}_{i}"`` (``i`` from 0).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vtg.errors import DataError
from vtg.eval.formats.record import Annotation

_VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".webm", ".mov")


def is_per_video(doc: Any) -> bool:
    return isinstance(doc, dict) and bool(doc) and all(isinstance(v, dict) and "timestamps" in v
                                                       for v in doc.values())


def per_video_annotations(doc: dict, path: Path) -> list[Annotation]:
    out: list[Annotation] = []
    for number, (key, entry) in enumerate(doc.items(), 1):
        where = f"{path}: video {key!r}"
        if not isinstance(entry, dict) or "timestamps" not in entry or "sentences" not in entry:
            raise DataError(f"{where}: expected {{duration, timestamps, sentences}}")
        stamps, sentences = entry["timestamps"], entry["sentences"]
        if not isinstance(stamps, list) or not isinstance(sentences, list):
            raise DataError(f"{where}: timestamps and sentences must be lists")
        if len(stamps) != len(sentences):
            raise DataError(f"{where}: {len(stamps)} timestamps but {len(sentences)} sentences")
        frames = "fps" in entry or "num_frames" in entry
        vid, duration, fps = _tacos_clock(key, entry, where) if frames else (str(key), entry.get("duration"), 0.0)
        for i, (stamp, sentence) in enumerate(zip(stamps, sentences)):
            window = _frames_to_seconds(stamp, fps, duration) if fps else stamp
            out.append(Annotation(qid=f"{vid}_{i}", vid=vid, query=str(sentence), windows=[window],
                                  duration=duration or 0.0, where=where, line=number))
    return out


def _tacos_clock(key: str, entry: dict, where: str) -> tuple[str, Any, float]:
    """``(vid, duration, fps)`` of a 2D-TAN TaCoS entry."""
    fps, frames = entry.get("fps"), entry.get("num_frames")
    if fps is None or frames is None or not _positive(fps) or not _positive(frames):
        raise DataError(f"{where}: a frame-numbered (TaCoS) entry needs positive 'fps' and 'num_frames'")
    stem = key[: -len(Path(key).suffix)] if Path(key).suffix.lower() in _VIDEO_SUFFIXES else key
    return stem, float(frames) / float(fps), float(fps)


def _frames_to_seconds(stamp: Any, fps: float, duration: Any) -> Any:
    """2D-TAN's reading: ``[max(s / fps, 0), min(e / fps, duration)]``; a malformed stamp is passed
    through for the loader's window check to name."""
    if not isinstance(stamp, (list, tuple)) or len(stamp) != 2 or not all(_finite(x) for x in stamp):
        return stamp
    return [max(float(stamp[0]) / fps, 0.0), min(float(stamp[1]) / fps, duration)]


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _positive(x: Any) -> bool:
    return _finite(x) and x > 0

"""Cut the found moments out of the videos with ffmpeg: one clip per moment, or a highlight reel.

``export_clips(results, out_dir, top_k=1, pad=0, copy=False, reel=False)`` takes Grounding
results (or a file: one ``vtg ground --json`` result, a JSON list, or a predictions JSONL such as
``vtg batch`` writes; error records are skipped) and writes the top-k moments of each query.
Clips are frame-accurate by default (see :mod:`vtg.export.ffmpeg`); each is written under a
temporary name and renamed when complete, so an interrupted export never leaves a truncated clip
under a final name.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from vtg.errors import DataError, UsageError, VideoNotFoundError
from vtg.export import ffmpeg as ff
from vtg.export.frames import frame_window, source_info
from vtg.export.naming import DEFAULT_REEL_TEMPLATE, DEFAULT_TEMPLATE, render_name, unique_name
from vtg.types import Grounding


@dataclass(frozen=True)
class ExportedClip:
    """One written file. ``start``/``end``: the requested span (after padding); ``first_frame``/
    ``last_frame``: timestamps of its first and last frame in the source (exact mode only)."""

    path: str
    qid: Any
    vid: str
    rank: int | None
    start: float
    end: float
    exact: bool
    frames: int | None = None
    first_frame: float | None = None
    last_frame: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_results(path: str | Path) -> list[Grounding]:
    """Results from a ``vtg ground`` JSON file (object or list) or a predictions JSONL."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"results file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not a UTF-8 text file ({exc.reason})") from None
    try:
        data = json.loads(text)
        records = data if isinstance(data, list) else [data]
    except (ValueError, RecursionError):
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except (ValueError, RecursionError):
                    raise DataError(f"{path} line {number} is not JSON") from None
    out = []
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise DataError(f"{path}: expected JSON objects with pred_relevant_windows")
        if record.get("status") != "error":
            try:
                out.append(Grounding.from_dict(record))
            except (TypeError, ValueError, KeyError, IndexError) as exc:  # NaN, end < start, wrong types
                raise DataError(f"{path}: record {number} is not a grounding result ({exc})") from None
    return out


def find_video(result: Grounding, video_dir: Path | None) -> Path:
    """The source file: the result's own path, or its file name / vid inside ``video_dir``."""
    from vtg.batch.inputs import find_result_video

    found = find_result_video(result.video, result.vid, video_dir)
    if found is not None:
        return found
    own = Path(result.video).expanduser()
    raise VideoNotFoundError(f"video for qid {result.qid!r} not found: {own}"
                             + ("" if video_dir else " (give --video-dir)"))


def spans(result: Grounding, top_k: int, pad: float, duration: float) -> list[tuple[int, float, float]]:
    """(rank, start, end) of the top-k moments, padded and clamped to the video."""
    limit = duration if duration > 0 else float("inf")
    out = []
    for rank, m in enumerate(result.moments[:top_k], 1):
        start, end = max(0.0, m.start - pad), min(limit, m.end + pad)
        if end > start:
            out.append((rank, start, end))
    return out


def merged(spans_: list[tuple[int, float, float]]) -> list[tuple[float, float]]:
    """Chronological, overlapping spans merged: a reel never shows the same frame twice."""
    out: list[list[float]] = []
    for _, s, e in sorted(spans_, key=lambda x: x[1]):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def export_clips(results: Iterable[Grounding] | str | Path, out_dir: str | Path, *, top_k: int = 1,
                 pad: float = 0.0, copy: bool = False, reel: bool = False, template: str | None = None,
                 video_dir: str | Path | None = None) -> list[ExportedClip]:
    """Write clips (or one reel per query) into ``out_dir``; returns what was written."""
    if top_k < 1 or pad < 0:
        raise UsageError("top_k must be >= 1 and pad >= 0")
    if isinstance(results, (str, Path)):
        results = load_results(results)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    template = template or (DEFAULT_REEL_TEMPLATE if reel else DEFAULT_TEMPLATE)
    taken: set[str] = set()
    written: list[ExportedClip] = []
    for result in results:
        src = source_info(find_video(result, Path(video_dir) if video_dir else None))
        chosen = spans(result, top_k, pad, src.duration or result.duration)
        if not chosen:
            continue
        if reel:
            written.append(export_reel(result, src, chosen, out_dir, template, taken, copy))
        else:
            written.extend(export_one(result, src, span, out_dir, template, taken, copy) for span in chosen)
    return written


def name_fields(result: Grounding, rank: int | None, start: float, end: float, score: float | None) -> dict[str, Any]:
    return {"vid": result.vid, "qid": "" if result.qid is None else result.qid, "rank": rank or 0,
            "start": start, "end": end, "score": score if score is not None else 0.0,
            "method": result.method, "query": result.query[:60]}


def export_one(result: Grounding, src: Any, span: tuple[int, float, float], out_dir: Path, template: str,
               taken: set[str], copy: bool) -> ExportedClip:
    rank, start, end = span
    fields = name_fields(result, rank, start, end, result.moments[rank - 1].score)
    dst = out_dir / unique_name(render_name(template, fields), taken)
    common = dict(path=str(dst), qid=result.qid, vid=result.vid, rank=rank, start=start, end=end)
    if copy:
        with staged(dst) as tmp:
            ff.cut_copy(src, start, end, tmp)
        return ExportedClip(**common, exact=False)
    window = frame_window(src.path, start, end)
    with staged(dst) as tmp:
        ff.cut_exact(src, window, tmp)
    return ExportedClip(**common, exact=True, frames=window.frames, first_frame=window.first, last_frame=window.last)


def export_reel(result: Grounding, src: Any, chosen: list[tuple[int, float, float]], out_dir: Path,
                template: str, taken: set[str], copy: bool) -> ExportedClip:
    pieces = merged(chosen)
    fields = name_fields(result, None, pieces[0][0], pieces[-1][1], None)
    dst = out_dir / unique_name(render_name(template, fields), taken)
    common = dict(path=str(dst), qid=result.qid, vid=result.vid, rank=None, start=pieces[0][0], end=pieces[-1][1])
    if copy:
        parts = [dst.with_name(f".{dst.stem}.part{i}{dst.suffix}") for i in range(len(pieces))]
        try:
            for part, (s, e) in zip(parts, pieces):
                ff.cut_copy(src, s, e, part)
            with staged(dst) as tmp:
                ff.concat_copy(parts, tmp)
        finally:
            for part in parts:
                part.unlink(missing_ok=True)
        return ExportedClip(**common, exact=False)
    windows = [frame_window(src.path, s, e) for s, e in pieces]
    with staged(dst) as tmp:
        ff.reel_exact(src, windows, tmp)
    return ExportedClip(**common, exact=True, frames=sum(w.frames for w in windows))


class staged:
    """Write to ``.name.partial.ext`` and rename over ``name`` only when ffmpeg succeeded."""

    def __init__(self, dst: Path):
        self.dst = dst
        self.tmp = dst.with_name(f".{dst.stem}.partial{dst.suffix}")

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.dst)
        else:
            self.tmp.unlink(missing_ok=True)


__all__ = ["ExportedClip", "export_clips", "load_results", "DEFAULT_TEMPLATE", "DEFAULT_REEL_TEMPLATE"]

"""Cut the found moments out of the videos with ffmpeg: one clip per moment, or a highlight reel.

``export_clips(results, out_dir, top_k=1, pad=0, copy=False, reel=False)`` takes Grounding
results (or a file: one ``vtg ground --json`` result, a JSON list, or a predictions JSONL such as
``vtg batch`` writes; error records are skipped) and writes the top-k moments of each query.
Clips are frame-accurate by default (see :mod:`vtg.export.ffmpeg`); each is written under a
temporary name and renamed when complete, so an interrupted export never leaves a truncated clip
under a final name. A clip name that is a symlink, a folder, the results file or a source video
(``--name '{vid}.mp4'`` with ``--out-dir`` the video folder) is refused before ffmpeg runs
(:mod:`vtg.outputs`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from vtg.batch.inputs import find_result_video
from vtg.errors import DataError, UsageError, VideoNotFoundError
from vtg.eval.loaders import read_groundings
from vtg.export import ffmpeg as ff
from vtg.export.frames import frame_window, source_info
from vtg.export.naming import DEFAULT_REEL_TEMPLATE, DEFAULT_TEMPLATE, render_name, unique_name
from vtg.outputs import check_output, check_output_dir, staged, temporary_sibling
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
    """Results from a ``vtg ground`` JSON file (object or list) or a predictions JSONL, through
    the shared record validator (one line naming the file, line and field on bad records)."""
    if not Path(path).is_file():
        raise DataError(f"results file not found: {path}")
    return read_groundings(path)


def find_video(result: Grounding, video_dir: Path | None) -> Path:
    """The source file: the result's own path, or its file name / vid inside ``video_dir``."""
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
    inputs: list[Path] = [Path(results)] if isinstance(results, (str, Path)) else []
    out_dir = check_output_dir(out_dir, inputs=inputs, what="--out-dir")  # before any work
    groundings: Iterable[Grounding] = load_results(inputs[0]) if isinstance(results, (str, Path)) else results
    out_dir.mkdir(parents=True, exist_ok=True)
    template = template or (DEFAULT_REEL_TEMPLATE if reel else DEFAULT_TEMPLATE)
    taken: set[str] = set()
    written: list[ExportedClip] = []
    for result in groundings:
        src = source_info(find_video(result, Path(video_dir) if video_dir else None))
        chosen = spans(result, top_k, pad, src.duration or result.duration)
        if not chosen:
            continue
        if reel:
            written.append(export_reel(result, src, chosen, out_dir, template, taken, copy, [*inputs, src.path]))
        else:
            written.extend(export_one(result, src, span, out_dir, template, taken, copy, [*inputs, src.path])
                           for span in chosen)
    return written


def name_fields(result: Grounding, rank: int | None, start: float, end: float, score: float | None) -> dict[str, Any]:
    return {"vid": result.vid, "qid": "" if result.qid is None else result.qid, "rank": rank or 0,
            "start": start, "end": end, "score": score if score is not None else 0.0,
            "method": result.method, "query": result.query[:60]}


def export_one(result: Grounding, src: Any, span: tuple[int, float, float], out_dir: Path, template: str,
               taken: set[str], copy: bool, inputs: list[Path]) -> ExportedClip:
    rank, start, end = span
    fields = name_fields(result, rank, start, end, result.moments[rank - 1].score)
    dst = out_dir / unique_name(render_name(template, fields), taken)
    common = dict(path=str(dst), qid=result.qid, vid=result.vid, rank=rank, start=start, end=end)
    if copy:
        with staged(dst, inputs=inputs, what="clip") as tmp:
            ff.cut_copy(src, start, end, tmp)
        return ExportedClip(**common, exact=False)
    window = frame_window(src.path, start, end)
    with staged(dst, inputs=inputs, what="clip") as tmp:
        ff.cut_exact(src, window, tmp)
    return ExportedClip(**common, exact=True, frames=window.frames, first_frame=window.first, last_frame=window.last)


def export_reel(result: Grounding, src: Any, chosen: list[tuple[int, float, float]], out_dir: Path,
                template: str, taken: set[str], copy: bool, inputs: list[Path]) -> ExportedClip:
    pieces = merged(chosen)
    fields = name_fields(result, None, pieces[0][0], pieces[-1][1], None)
    dst = out_dir / unique_name(render_name(template, fields), taken)
    common = dict(path=str(dst), qid=result.qid, vid=result.vid, rank=None, start=pieces[0][0], end=pieces[-1][1])
    if copy:
        parts = [temporary_sibling(dst, f"part{i}-") for i in range(len(pieces))]
        for part in parts:
            check_output(part, inputs=inputs, what="temporary part")
        try:
            for part, (s, e) in zip(parts, pieces):
                ff.cut_copy(src, s, e, part)
            with staged(dst, inputs=inputs, what="clip") as tmp:
                ff.concat_copy(parts, tmp)
        finally:
            for part in parts:
                part.unlink(missing_ok=True)
        return ExportedClip(**common, exact=False)
    windows = [frame_window(src.path, s, e) for s, e in pieces]
    with staged(dst, inputs=inputs, what="clip") as tmp:
        ff.reel_exact(src, windows, tmp)
    return ExportedClip(**common, exact=True, frames=sum(w.frames for w in windows))


__all__ = ["ExportedClip", "export_clips", "load_results", "DEFAULT_TEMPLATE", "DEFAULT_REEL_TEMPLATE"]

"""Reading a batch input file: one JSON object per line, each naming a video and a query.

Two line forms are accepted, mixed freely:

* vtg's own form: ``{"video": "a.mp4", "query": "...", "qid": 7, "method": "tfvtg",
  "options": {"fps": 1}}`` (``image`` instead of or beside ``query`` for query by example);
  ``options`` may only name what the method's ``Config.line_options`` allows (sampling,
  thresholds, top-k...): a line is untrusted data and never picks endpoints, credentials, model
  paths or devices, which come only from the command line or the environment;
* annotation files of QVHighlights / Charades-STA / ActivityNet (``qid, query, vid, duration,
  relevant_windows``): ``vid`` is mapped to a file in ``video_dir`` (``vid.mp4``, ``.mkv``, ...;
  for ActivityNet's ``v_XXXX`` ids also ``XXXX.mp4``); TVR-style lines (``desc_id, desc,
  vid_name``) are read the same way.

Benchmark files as their authors ship them are read whole instead (:mod:`vtg.eval.formats`):
Charades-STA's ``vid start end##sentence`` text (each query keeps its line number) and per-video
JSON (ActivityNet Captions' ``val_1.json``, 2D-TAN's TaCoS; ``line`` counts videos), with the qids
``vtg eval`` gives the same file, so ``vtg eval predictions.jsonl charades_sta_test.txt`` matches.

Every non-blank line becomes exactly one :class:`BatchItem`; a line that cannot run (malformed
JSON, no video, duplicate qid) is still an item, carrying the reason in ``error``, so the batch
writes an error record for it and every input line appears exactly once in the output.

Stable ids: a line's own ``qid`` is used when given. Otherwise the id is
``line<N>-<hash>`` where N is the 1-based line number and hash the first 8 hex digits of the
SHA-1 of the line's text, so rerunning the same file gives the same ids, and a line whose text
changes is run again rather than matched to a stale result.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vtg import jsonl
from vtg.errors import DataError, VtgError
from vtg.eval import formats
from vtg.eval.formats import Annotation
from vtg.fileio import is_file
from vtg.method import line_option_problem
from vtg.registry import method_class

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv")


@dataclass(frozen=True)
class BatchItem:
    """One input line: what to run, or why it cannot run (``error``)."""

    qid: Any
    line: int
    video: Path | None = None
    text: str | None = None
    image: Path | None = None
    method: str = "tfvtg"
    options: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def key(self) -> str:
        return qid_key(self.qid)

    @property
    def group(self) -> tuple[str, str]:
        """Lines with the same method and options share one loaded model."""
        return self.method, json.dumps(self.options, sort_keys=True, default=str)


def qid_key(qid: Any) -> str:
    """The string a qid is matched by on resume (so 12 and "12" are the same query)."""
    return str(qid)


def line_qid(number: int, text: str) -> str:
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"line{number}-{digest}"


class VideoDirectory:
    """Maps annotation ``vid``s to files in one directory (indexed once, not per line)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"--video-dir {self.root} is not a directory")
        self.by_stem: dict[str, Path] = {}
        with os.scandir(self.root) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = Path(entry.path)
                if entry.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
                    self.by_stem.setdefault(path.stem, path)

    def find(self, vid: str) -> Path | None:
        for stem in (vid, vid[2:] if vid.startswith("v_") else None):
            if stem and stem in self.by_stem:
                return self.by_stem[stem]
        return None


def find_result_video(recorded: str | Path, vid: str, video_dir: Path | None) -> Path | None:
    """The video of a result: its file name or its ``vid`` inside ``video_dir``, else the recorded
    path itself; None when none exists. Shared by ``vtg export`` and ``vtg report``."""
    own = Path(recorded).expanduser()
    if video_dir is not None:
        candidate = Path(video_dir) / own.name
        if is_file(candidate):
            return candidate
        found = video_directory(Path(video_dir)).find(vid)
        if found is not None:
            return found
    return own if is_file(own) else None


def video_directory(root: Path) -> VideoDirectory:
    """The index of ``root``, built once per directory state (its mtime changes when files come
    or go), so a predictions file with thousands of results does not rescan it per result."""
    try:
        stamp = root.stat().st_mtime_ns
    except OSError:
        stamp = None
    return _video_directory(root.resolve(), stamp)


@functools.lru_cache(maxsize=8)
def _video_directory(root: Path, stamp: int | None) -> VideoDirectory:
    return VideoDirectory(root)


def read_items(path: Path, *, method: str = "tfvtg", options: dict[str, Any] | None = None,
               video_dir: Path | None = None) -> list[BatchItem]:
    """All items of an input file, in file order (blank lines are skipped, not counted as input)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"batch input not found: {path}")
    directory = VideoDirectory(video_dir) if video_dir is not None else None
    seen: dict[str, int] = {}
    items = []
    shipped = shipped_annotations(path)
    parsed: Iterator[BatchItem]
    if shipped is not None:
        parsed = (annotation_item(a, method=method, options=options or {}, video_dir=video_dir,
                                  directory=directory) for a in shipped)
    else:
        parsed = (parse_line(number, text, method=method, options=options or {},
                             video_dir=video_dir, directory=directory) for number, text in jsonl.lines(path))
    for item in parsed:
        number = item.line
        if item.key in seen:
            item = BatchItem(qid=f"{item.qid}#line{number}", line=number, video=item.video, text=item.text,
                             error=f"duplicate qid {item.qid!r} (first on line {seen[item.key]})")
        seen.setdefault(item.key, number)
        items.append(item)
    return items


def shipped_annotations(path: Path) -> list[Annotation] | None:
    """The queries of a benchmark file as shipped (Charades-STA text, per-video JSON), or None for
    JSONL, which is read line by line. A per-video JSON is one document, usually on one line."""
    shipped = formats.read_shipped(path, strict=False)  # other text: each line an error item, as JSONL
    if shipped is not None:
        return shipped
    first = formats.first_line(path) or ""
    if not first.startswith("{"):
        return None
    try:  # a JSONL line on its own: not a per-video document, and no need to read the whole file
        if not formats.is_per_video(json.loads(first)):
            return None
    except (ValueError, RecursionError):  # a document spread over lines, or one line over 64 KiB
        pass
    try:
        doc = json.loads(jsonl.read_text(path, strict=True))
    except (ValueError, RecursionError, DataError):  # JSONL (several objects), malformed, not UTF-8: by line
        return None
    return formats.per_video_annotations(doc, path) if formats.is_per_video(doc) else None


def annotation_item(a: Annotation, *, method: str, options: dict[str, Any], video_dir: Path | None,
                    directory: VideoDirectory | None) -> BatchItem:
    """One query of a shipped benchmark file, its video found by ``vid`` in ``--video-dir``."""
    data = {"qid": a.qid, "vid": a.vid, "query": a.query}
    problem = check_fields(data)
    video, missing = locate_video(data, video_dir, directory)
    return BatchItem(qid=a.qid, line=a.line, video=video, text=a.query, method=method, options=dict(options),
                     error=problem or missing)


def parse_line(number: int, text: str, *, method: str, options: dict[str, Any],
               video_dir: Path | None, directory: VideoDirectory | None) -> BatchItem:
    """One line -> a runnable item, or an item with ``error`` saying what is wrong with it."""
    auto_qid = line_qid(number, text)
    try:
        data = jsonl.loads(text, number)
    except jsonl.LineError as exc:  # also 5000-digit ints and "[" nested past the stack
        return BatchItem(qid=auto_qid, line=number, error=str(exc))
    if not isinstance(data, dict):
        return BatchItem(qid=auto_qid, line=number, error=f"line {number} is not a JSON object")
    data = formats.from_tvr(data)
    qid = data.get("qid", auto_qid)
    if qid is None:
        qid = auto_qid
    if not isinstance(qid, (str, int)) or isinstance(qid, bool):
        return BatchItem(qid=auto_qid, line=number, error=f"qid on line {number} must be a string or an integer")
    query = data.get("query")
    sentence = query if isinstance(query, str) else None
    problem = check_fields(data)
    if problem:
        named = data.get("video") or data.get("vid")
        return BatchItem(qid=qid, line=number, text=sentence, video=Path(named) if isinstance(named, str) else None,
                         error=problem)
    video, problem = locate_video(data, video_dir, directory)
    image = resolve(data["image"], video_dir) if data.get("image") else None
    name = data.get("method") or method
    own = data.get("options") or {}
    refused = untrusted_option_problem(name, own)
    return BatchItem(qid=qid, line=number, text=sentence, video=video, image=image, method=name,
                     options={**options, **own}, error=refused or problem)


def untrusted_option_problem(method: str, options: dict[str, Any]) -> str | None:
    """Why a line's own ``options`` are refused: a line is data and may set only the options its
    method's ``Config`` declares safe (:func:`vtg.method.line_options`), never endpoints,
    credentials, model paths or devices. An unknown method is left to fail when it is loaded."""
    if not options:
        return None

    try:
        cls = method_class(method)
    except VtgError:
        return None
    return line_option_problem(cls.Config, options, f"method {cls.name!r}")


def check_fields(data: dict[str, Any]) -> str | None:
    """Type errors in a line's fields, as a message (the empty query is left to ``Query``)."""
    for name in ("video", "vid", "image", "method"):
        if data.get(name) is not None and not isinstance(data[name], str):
            return f"field {name!r} must be a string"
    if data.get("query") is not None and not isinstance(data["query"], str):
        return "field 'query' must be a string"
    if data.get("options") is not None and not isinstance(data["options"], dict):
        return "field 'options' must be an object"
    if not (data.get("query") or "").strip() and not data.get("image"):
        return "empty query: give 'query' (text) or 'image'"
    return None


def locate_video(data: dict[str, Any], video_dir: Path | None,
                 directory: VideoDirectory | None) -> tuple[Path | None, str | None]:
    """The line's video file, from ``video`` (a path) or ``vid`` (an annotation id)."""
    if data.get("video"):
        return resolve(data["video"], video_dir), None
    vid = data.get("vid")
    if not vid:
        return None, "no 'video' (a path) or 'vid' (with --video-dir) on this line"
    if directory is None:
        return None, f"line names vid {vid!r} but no --video-dir was given to find its file"
    found = directory.find(vid)
    if found is None:
        return None, f"no video file for vid {vid!r} in {directory.root}"
    return found, None


def resolve(name: str, base: Path | None) -> Path:
    """Relative paths are taken relative to ``--video-dir`` when given, else the current directory."""
    path = Path(name).expanduser()
    return path if path.is_absolute() or base is None else Path(base) / path

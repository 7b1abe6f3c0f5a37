"""Benchmark annotation files as their authors ship them, read without conversion.

Each format has its own small module; each turns a file into :class:`Annotation` records (one per
query), which :mod:`vtg.eval.loaders` validates into ground truth and :mod:`vtg.batch.inputs`
turns into batch items:

* Charades-STA's raw text (``vid start end##sentence``; :mod:`.charades`), with durations from a
  ``--durations`` CSV such as Charades' ``Charades_v1_test.csv``;
* per-video JSON ``{vid: {duration, timestamps, sentences}}``: ActivityNet Captions'
  ``val_1.json`` / ``val_2.json`` and TFVTG's Charades-STA file (:mod:`.captions`);
* TaCoS in 2D-TAN's per-video JSON, whose timestamps are frame numbers (``fps``, ``num_frames``;
  :mod:`.captions`), and TVR-style JSONL lines (``desc_id, desc, vid_name, ts, duration``;
  :mod:`.tvr`).

JSONL in the QVHighlights form stays with the loaders that read it. Which reader applies is
decided from the content (the first non-blank line), so a renamed file still reads; a text file
that is none of these is one error naming the file and its first line.
"""

from __future__ import annotations

from pathlib import Path

from vtg.errors import DataError
from vtg.eval.formats.charades import looks_like_charades, read_charades_sta, read_durations_csv
from vtg.eval.formats.captions import is_per_video, per_video_annotations
from vtg.eval.formats.record import Annotation
from vtg.eval.formats.tvr import from_tvr

__all__ = ["Annotation", "read_shipped", "read_durations_csv", "is_per_video", "per_video_annotations",
           "from_tvr", "shipped_kind", "first_line"]

SNIFF_BYTES = 64 * 1024


def shipped_kind(path: Path, strict: bool = True) -> str | None:
    """``"charades-sta"`` for a raw Charades-STA text, ``None`` for JSON / JSONL (left to the JSON
    readers); for any other text a DataError naming the file's first line (``None`` when not
    ``strict``: batch input turns each such line into an error record instead)."""
    first = first_line(path)
    if first is None or first.startswith(("{", "[")):
        return None
    if looks_like_charades(first):
        return "charades-sta"
    if not strict:
        return None
    raise DataError(f"{path}:1: not a known annotation format (expected JSONL, a JSON document, or "
                    f"Charades-STA's 'VID START END##SENTENCE' lines): {first[:60]!r}")


def read_shipped(path: Path, durations: dict[str, float] | None = None,
                 strict: bool = True) -> list[Annotation] | None:
    """The annotations of a non-JSON benchmark file, or None when ``path`` holds JSON / JSONL."""
    kind = shipped_kind(Path(path), strict)
    if kind == "charades-sta":
        return read_charades_sta(Path(path), durations or {})
    return None


def first_line(path: Path) -> str | None:
    """The first non-blank line of the file (read from its first 64 KiB), None when there is none."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    text = head.decode("utf-8-sig", errors="replace")
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return None

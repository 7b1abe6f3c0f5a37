"""Read grounding results for plots and reports: pick one record, find its ground truth."""

from __future__ import annotations

from pathlib import Path

from vtg.batch.inputs import VIDEO_EXTENSIONS
from vtg.errors import DataError
from vtg.eval.loaders import load_ground_truth, read_groundings as read
from vtg.types import Grounding


def read_groundings(path: str | Path) -> list[Grounding]:
    """Every successful result in a ``vtg ground --json`` file or a Grounding JSONL, each record
    checked by the shared validator (:mod:`vtg.predictions`)."""
    check_results_file(path)
    return read(path)


#: What `vtg plot` and `vtg report` read, said when they are given something else.
EXPECTED = "expected `vtg ground --json` output or a Grounding JSONL (`vtg batch -o`)"


def check_results_file(path: str | Path) -> None:
    """A binary file (most often the video itself: ``vtg plot video.mp4``) is refused with what
    the command reads instead of a decoder's "not a UTF-8 text file"."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return  # the reader says what is wrong with the path
    try:
        head.decode("utf-8")
        binary = b"\0" in head
    except UnicodeDecodeError as exc:
        binary = exc.start < len(head) - 4  # not just a character cut at the 4096-byte edge
    if binary:
        hint = " (this looks like a video: run `vtg ground VIDEO QUERY --json -o result.json` first)" \
            if Path(path).suffix.lower() in VIDEO_EXTENSIONS else ""
        raise DataError(f"{path} is a binary file; {EXPECTED}{hint}")


def pick_record(path: str | Path, qid: str | None = None) -> Grounding:
    """The result with ``qid`` (compared as text), or the first one."""
    results = read_groundings(path)
    if not results:
        raise DataError(f"{path}: no results in the file")
    if qid is None:
        return results[0]
    for r in results:
        if str(r.qid) == str(qid):
            return r
    raise DataError(f"{path}: no result with qid {qid!r}")


def find_ground_truth(path: str | Path, result: Grounding) -> list[tuple[float, float]]:
    """Ground-truth windows for ``result`` from an annotation file (by qid, else vid + query)."""
    records = load_ground_truth(path)
    for g in records:
        if result.qid is not None and str(g["qid"]) == str(result.qid):
            return [tuple(w) for w in g["relevant_windows"]]
    for g in records:
        if g["vid"] == result.vid and g["query"].strip() == result.query.strip():
            return [tuple(w) for w in g["relevant_windows"]]
    raise DataError(f"{path}: no annotation for qid {result.qid!r} / query {result.query!r} in {result.vid}")


def ground_truth_index(path: str | Path) -> dict[str, list[tuple[float, float]]]:
    """``{qid as text: windows}`` plus ``{"vid\\tquery": windows}`` for matching many results."""
    index: dict[str, list[tuple[float, float]]] = {}
    for g in load_ground_truth(path):
        windows = [tuple(w) for w in g["relevant_windows"]]
        index[str(g["qid"])] = windows
        index[f"{g['vid']}\t{g['query'].strip()}"] = windows
    return index


def windows_for(index: dict, result: Grounding) -> list[tuple[float, float]]:
    """Look ``result`` up in a :func:`ground_truth_index` (empty when absent)."""
    if result.qid is not None and str(result.qid) in index:
        return index[str(result.qid)]
    return index.get(f"{result.vid}\t{result.query.strip()}", [])

"""Charades-STA as released (Gao et al., "TALL", ICCV 2017): ``charades_sta_{train,test}.txt``.

One query per line, ``VID START END##SENTENCE`` (times in seconds, e.g.
``3MSZA 24.3 30.4##person turn a light on.``). The file carries no durations: they come from a
CSV with ``id`` and ``length`` columns (Charades' ``Charades_v1_test.csv``) when given, else stay
0 (unknown). No metric of ``vtg eval`` depends on the duration; it only bounds the windows.

Sentences have no ids, so query ``i`` of video ``vid`` (counted from 0 in file order) gets
``qid = f"{vid}_{i}"``, the same ids TFVTG's per-video JSON of the same release gets, so
predictions made from either file score against the other.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from vtg.errors import DataError
from vtg.eval.formats.record import Annotation

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_LINE = re.compile(rf"^(\S+)\s+({_NUMBER})\s+({_NUMBER})\s*##(.*)$")
MAX_CSV_FIELD = 1 << 20  # Charades' scripts are a few hundred characters; a 1 MiB field is not data


def looks_like_charades(line: str) -> bool:
    return _LINE.match(line.strip()) is not None


def read_charades_sta(path: Path, durations: dict[str, float]) -> list[Annotation]:
    """Every line of a Charades-STA text file; a line of another shape is an error naming it."""
    out: list[Annotation] = []
    per_vid: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", errors="strict", newline="") as fh:
        try:
            lines = fh.read().splitlines()
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        match = _LINE.match(raw.strip())
        if match is None:
            raise DataError(f"{where}: not a Charades-STA line 'VID START END##SENTENCE': {raw.strip()[:60]!r}")
        vid, start, end, sentence = match.group(1), float(match.group(2)), float(match.group(3)), match.group(4)
        if not (math.isfinite(start) and math.isfinite(end)):
            raise DataError(f"{where}: non-finite time in {raw.strip()[:60]!r}")
        index = per_vid.get(vid, 0)
        per_vid[vid] = index + 1
        out.append(Annotation(qid=f"{vid}_{index}", vid=vid, query=sentence.strip(), windows=[[start, end]],
                              duration=durations.get(vid, 0.0), where=where, line=number))
    if not out:
        raise DataError(f"{path}: no annotations")
    return out


def read_durations_csv(path: Path) -> dict[str, float]:
    """``{video id: length in seconds}`` from a CSV with ``id`` and ``length`` columns (Charades'
    ``Charades_v1_{train,test}.csv``); other columns are ignored."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--durations {path}: no such file")
    csv.field_size_limit(MAX_CSV_FIELD)
    out: dict[str, float] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"id", "length"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(f"{path}:1: a durations CSV needs columns 'id' and 'length' "
                                f"(missing {', '.join(sorted(missing))})")
            for row in reader:
                out[str(row["id"]).strip()] = _length(row.get("length"), f"{path}:{reader.line_num}")
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable CSV ({str(exc)[:80]})") from None
    return out


def _length(value: str | None, where: str) -> float:
    try:
        x = float(value or "")
    except ValueError:
        raise DataError(f"{where}: length {value!r} is not a number") from None
    if not math.isfinite(x) or x < 0:
        raise DataError(f"{where}: length {value!r} is not a duration in seconds")
    return x

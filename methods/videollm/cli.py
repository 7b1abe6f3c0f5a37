"""``vtg parse ANSWERS.jsonl --answer-format F``: other Video-LLMs' raw answers -> vtg's JSONL.

The Video-LLM package's own command (its answer parsers live here), mounted on ``vtg`` through
the registry's command hook.

Each input line is one answer: ``{"qid", "video" or "vid", "query", "duration", "answer"}``, plus
``"timestamps"`` (the shown frames' times) for frame-number formats. The output is vtg's prediction
JSONL (one Grounding record a line, moments in the order the model listed them), so ``vtg eval``
scores and ``vtg export`` cuts answers produced by models vtg does not run (TimeChat, VTimeLLM).
A malformed line is reported with its number and skipped; the exit code is then non-zero.

``--strict`` reads each answer as the model's own evaluation script does (first interval only,
quirks included; :mod:`.official`); the default is vtg's lenient reading. Either way one line on
stderr says how many answers only the lenient reading understood. Work and output follow the
answers' size: a declared duration is a number, never a loop bound or an array length.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from vtg import jsonl
from vtg.api import check_video_path
from vtg.cli.options import emit
from vtg.errors import DataError, UnknownNameError, UsageError
from vtg.method import MethodCommand
from vtg.types import Grounding, Moment, Saliency


def cli_commands() -> list:
    """Mounted by the CLI through the method registry's command hook (the ``vtg.commands`` entry points)."""
    return [MethodCommand(("parse",), parse_command)]


def parse_command(
    answers: Path = typer.Argument(..., help="JSONL of raw answers: qid, video or vid, query, duration, answer [, timestamps]."),
    answer_format: str = typer.Option(..., "--answer-format", "-a", help="timechat, vtimellm, numpro, timemarker or vtgllm."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the predictions JSONL here (default: stdout)."),
    strict: bool = typer.Option(False, "--strict", help="Read answers as the model's own evaluation script does "
                                "(timechat, vtgllm, vtimellm, numpro): first interval only, its quirks included."),
) -> None:
    """Turn raw Video-LLM answers into vtg predictions (for vtg eval / vtg export)."""
    from .answers import FORMATS, STRICT_FORMATS, check_reading

    fmt = answer_format.strip().lower()
    if fmt not in FORMATS:
        raise UnknownNameError("answer format", answer_format, list(FORMATS))
    check_reading("strict" if strict else "lenient", fmt)
    if output is not None:
        from vtg.outputs import check_output

        check_output(output, inputs=[answers], what="-o")  # `-o ANSWERS` fails with ANSWERS untouched
    results, problems = [], []
    for number, line in _lines(answers):
        try:
            results.append(grounding_of(jsonl.loads(line, number), fmt, strict=strict))
        except jsonl.LineError as exc:  # malformed JSON, "[" nested past the stack: that line's error
            problems.append(f"{answers} line {number}: malformed JSON: {exc.reason}")
        # UsageError: this line lacks what its format needs (a duration for vtimellm): that
        # line's error, the others are still read.
        except (ValueError, OverflowError, DataError, UsageError, TypeError) as exc:
            problems.append(f"{answers} line {number}: {exc}")
    emit(results, "jsonl", output, inputs=[answers])
    if results and fmt in STRICT_FORMATS:
        print(reading_summary(results, fmt), file=sys.stderr)
    for problem in problems:
        print(f"vtg: error: {problem}", file=sys.stderr)
    if problems:
        raise typer.Exit(1)


def reading_summary(results: list, fmt: str) -> str:
    """One line: answers read, and how many only the lenient reading understood."""
    lenient_only = sum(1 for r in results if r.meta.get("lenient_only"))
    answers = f"{len(results)} answer{'s' * (len(results) != 1)}"
    return (f"vtg parse: {answers} read; {lenient_only} understood only by the lenient reading "
            f"({fmt}'s official script finds no interval in them)")


def _lines(path: Path):
    """Numbered non-empty lines by vtg's one JSON Lines rule (:mod:`vtg.jsonl`, as ``vtg batch``
    reads its input: ``\n`` only, BOM dropped)."""
    return jsonl.lines(check_video_path(path, what="answers file"))


def grounding_of(record: Any, answer_format: str, *, strict: bool = False):
    """One answer record -> a Grounding (moments ranked in the order the model gave them).

    Both readings run (each linear in the answer) so ``meta["lenient_only"]`` can say when only
    the lenient one found an interval. No saliency is written: the answer gives none."""
    from .answers import STRICT_FORMATS, parse_answer

    if not isinstance(record, dict):
        raise DataError("not a JSON object")
    answer, query = record.get("answer"), record.get("query", "")
    if not isinstance(answer, str):
        raise DataError("field 'answer' must be a string")
    if not isinstance(query, str):
        raise DataError("field 'query' must be a string")
    duration = record.get("duration")
    if duration is not None and not (_is_seconds(duration) and duration > 0):
        raise DataError("field 'duration' must be a positive number of seconds")
    video = record.get("video") or record.get("vid") or ""
    if not isinstance(video, str):
        raise DataError("field 'video'/'vid' must be a string")
    timestamps = record.get("timestamps")
    if timestamps is not None and not (isinstance(timestamps, list) and all(_is_seconds(t) for t in timestamps)):
        raise DataError("field 'timestamps' must be a list of seconds")
    fmt = answer_format.strip().lower()
    lenient = parse_answer(fmt, answer, duration, timestamps)
    official = parse_answer(fmt, answer, duration, timestamps, strict=True) if fmt in STRICT_FORMATS else None
    found = official if strict else lenient
    moments = tuple(Moment(m.start, m.end, 1.0 / (i + 1)) for i, m in enumerate(found or ()))
    meta: dict[str, Any] = {"answer": answer, "status": "ok" if moments else "no moment found",
                            "reading": "strict" if strict else "lenient"}
    if official is not None:
        meta["lenient_only"] = bool(lenient) and not official
    return Grounding(query=query, video=video, duration=float(duration or 0.0), moments=moments,
                     saliency=Saliency.empty(), method=fmt, meta=meta, qid=record.get("qid"))


def _is_seconds(value: Any) -> bool:
    """A finite JSON number (not a bool); an integer too large for a float is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False

"""Output writers, one small class per format, keyed by name (as whisper's result writers).

The CLI's ``--format`` choices come from :data:`WRITERS`. Each writer turns a list of
``Grounding`` results into text; ``table`` is for people, the others for programs.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import ClassVar, Iterable

from vtg import jsonl
from vtg.errors import UnknownNameError
from vtg.registry import score_meaning
from vtg.timefmt import hms, srt_time
from vtg.types import Grounding


class Writer:
    name: ClassVar[str]
    suffix: ClassVar[str]

    def render(self, results: list[Grounding]) -> str:
        raise NotImplementedError


class JsonWriter(Writer):
    """One JSON document: an object for one result, a list for several."""

    name, suffix = "json", ".json"

    def render(self, results: list[Grounding]) -> str:
        data = [r.to_dict() for r in results]
        return compact_number_lists(json.dumps(data[0] if len(data) == 1 else data, indent=2, allow_nan=False)) + "\n"


_NUM = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_LIST = re.compile(rf"\[\n\s*({_NUM}(?:,\n\s*{_NUM})*)\n\s*\]")


def compact_number_lists(text: str) -> str:
    """Put each list of plain numbers of indented JSON on one line: an hour of saliency is 3,600
    numbers, one per line otherwise. Only lists broken by the indent's own newlines are touched
    (JSON strings never hold a raw newline), so string contents stay exactly as they were."""
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(re.split(r",\n\s*", m.group(1))) + "]", text)


class JsonlWriter(Writer):
    """One result per line (:mod:`vtg.jsonl`): the QVHighlights prediction form read by `vtg eval`.
    ASCII-escaped, as the json format, so a terminal of any encoding shows it."""

    name, suffix = "jsonl", ".jsonl"

    def render(self, results: list[Grounding]) -> str:
        return jsonl.render((r.to_dict() for r in results), ascii_only=True)


def spreadsheet_safe(text: str) -> str:
    """Quote a cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first).

    Queries and file names come from users; a query such as ``=HYPERLINK(...)`` must stay text
    when the CSV is opened in a spreadsheet (the usual CSV-injection defence: a leading ``'``).
    """
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


class CsvWriter(Writer):
    """One row per moment, for spreadsheets; user text is protected from formula injection."""

    name, suffix = "csv", ".csv"

    def render(self, results: list[Grounding]) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")  # not csv's default \r\n: cut/awk would keep a stray \r
        w.writerow(["qid", "video", "query", "rank", "start", "end", "score", "method"])
        for r in results:
            for rank, m in enumerate(r.moments, 1):
                w.writerow([spreadsheet_safe(str(r.qid)) if r.qid is not None else "",
                            spreadsheet_safe(r.video), spreadsheet_safe(r.query), rank,
                            f"{m.start:.3f}", f"{m.end:.3f}", f"{m.score:.4f}", r.method])
        return buf.getvalue()


class SrtWriter(Writer):
    """Subtitles: each moment shows its query and rank, so a player marks the found moments."""

    name, suffix = "srt", ".srt"

    def render(self, results: list[Grounding]) -> str:
        # One line per cue: a newline (or blank line) inside a query would end the cue early.
        cues = sorted(((m.start, m.end, f"#{rank} {' '.join(r.query.split())} ({m.score:.2f})")
                       for r in results for rank, m in enumerate(r.moments, 1)))
        return "".join(f"{i}\n{srt_time(s)} --> {srt_time(e)}\n{text}\n\n"
                       for i, (s, e, text) in enumerate(cues, 1))


class TableWriter(Writer):
    """A readable table per result (rich), with a one-line sparkline of the saliency curve."""

    name, suffix = "table", ".txt"
    #: The lowest level is a visible bar, so a flat or all-zero curve still shows as a line.
    BARS = "▁▂▃▄▅▆▇█"

    def sparkline(self, r: Grounding, width: int = 60) -> str:
        s = r.saliency.scores
        if s.size == 0:
            return ""
        import numpy as np

        bins = np.array_split(s, min(width, s.size))
        vals = np.array([b.max() for b in bins])
        lo, hi = float(vals.min()), float(vals.max())
        norm = (vals - lo) / (hi - lo) if hi > lo else np.zeros_like(vals)
        return "".join(self.BARS[int(round(v * (len(self.BARS) - 1)))] for v in norm)

    def render(self, results: list[Grounding]) -> str:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        buf = io.StringIO()
        width = terminal_width()
        # emoji=False: a query such as "a :dog: barks" is printed as typed
        console = Console(file=buf, width=width, force_terminal=False, color_system=None, emoji=False)
        if results and all(is_search_result(r) for r in results):
            self.render_search(console, results)
            return buf.getvalue()
        for r in results:
            # A heading line rather than a table title: a title wraps to the narrow table's width.
            # escape: "[/bold]" in a query or file name is text, not rich markup (which would raise)
            console.print(escape(f"{r.query!r} in {r.vid} ({hms(r.duration)}, {r.method})"), highlight=False)
            table = Table()
            for col in ("rank", "start", "end", "length", "score"):
                table.add_column(col, justify="right")
            for rank, m in enumerate(r.moments, 1):
                table.add_row(str(rank), hms(m.start), hms(m.end), f"{m.duration:.1f}s", f"{m.score:.3f}")
            if not r.moments:
                table.add_row("-", "-", "-", "-", "no moment found")
            console.print(table)
            said = answer_line(r)
            if said:
                console.print(escape(said), highlight=False)
            overlap = overlap_note(r)
            if overlap:
                console.print(escape(overlap), highlight=False)
            start, end = f"saliency {hms(0.0)} ", f" {hms(r.duration)}"
            line = self.sparkline(r, width=max(10, min(60, width - len(start) - len(end))))
            if line:
                console.print(f"{start}{line}{end}", highlight=False)
        for note in score_notes(results):
            console.print(escape(note), highlight=False)
        return buf.getvalue()


    def render_search(self, console, results: list[Grounding]) -> None:
        """A library search as ONE table ranked across videos, the video named on each row: the
        scores of a search are comparable between videos (module docstring of vtg.library.search),
        so a table per video would hide the very ranking the search computed."""
        from rich.markup import escape
        from rich.table import Table

        first = results[0]
        console.print(escape(f"{first.query!r} in library {first.meta.get('library')} "
                             f"({len(results)} videos with a hit, {first.method})"), highlight=False)
        table = Table()
        table.add_column("rank", justify="right")
        table.add_column("video", overflow="fold")
        for col in ("start", "end", "length", "score"):
            table.add_column(col, justify="right")
        for rank, (video, start, end, score) in enumerate(ranked_moments(results), 1):
            table.add_row(str(rank), escape(video_label(video, results)), hms(start), hms(end),
                          f"{end - start:.1f}s", f"{score:.3f}")
        console.print(table)
        console.print(escape(f"score (search, {first.method}): {SEARCH_SCORE_MEANING}"), highlight=False)


#: What a library search's score means (vtg.library.search, step 4).
SEARCH_SCORE_MEANING = ("the moment's confidence inside its own video (1 = that video's best window) times the "
                        "video's relevance (1 + cosine of the query to its best frame in the moment) / 2; "
                        "comparable across videos, higher is better; the best hit is rarely near 1 (an "
                        "encoder's cosines between a sentence and a frame are small).")


def ranked_moments(results: list[Grounding]) -> list[tuple[str, float, float, float]]:
    """``(video, start, end, score)`` of every moment of ``results``, best first across videos
    (ties keep the search's order)."""
    rows = [(g.video, m.start, m.end, m.score) for g in results for m in g.moments]
    return sorted(rows, key=lambda r: -r[3])


def answer_line(r: Grounding, limit: int = 200) -> str:
    """For a result without moments whose model answered in words (a Video-LLM), the first
    non-blank line of that answer: "no moment found" alone gives no clue whether the model
    refused, described the video or answered in a format the parser does not read."""
    answer = r.meta.get("answer")
    if r.moments or not isinstance(answer, str):
        return ""
    first = next((line.strip() for line in answer.splitlines() if line.strip()), "")
    if not first:
        return "the model's answer was empty"
    more = " ..." if len(first) > limit or len(answer.strip()) > len(first) else ""
    return f"the model answered: {first[:limit]!r}{more} (all of it in --json: meta.answer)"


def overlap_note(r: Grounding) -> str:
    """A note when two moments of ``r`` overlap by more than the IoU its method suppressed at
    *before* moving starts (``meta["nms_before_shift"]``, TFVTG's reference order): without it a
    table shows near-duplicates with no reason given. "" when nothing overlaps that much."""
    limit = r.meta.get("nms_before_shift")
    if not isinstance(limit, (int, float)):
        return ""
    ms = r.moments
    pairs = [(i + 1, j + 1, ms[i].iou(ms[j])) for i in range(len(ms)) for j in range(i + 1, len(ms))]
    over = [p for p in pairs if p[2] > limit]
    if not over:
        return ""
    i, j, value = max(over, key=lambda p: p[2])
    more = f" ({len(over)} such pairs)" if len(over) > 1 else ""
    return (f"note: moments {i} and {j} overlap (IoU {value:.2f} > nms_iou {limit:g}){more}: {r.method} suppresses "
            f"overlapping windows before moving each start back to where the rise began, as its reference code "
            f"does; -O final_nms={limit:g} also suppresses the moments as shown")


def is_search_result(r: Grounding) -> bool:
    """A grounding produced by ``vtg search`` (it names the library it came from)."""
    return bool(r.meta.get("library")) and "relevance" in r.meta


def video_label(video: str, results: list[Grounding]) -> str:
    """The shortest readable name of ``video``: its file name, or its path when two videos of the
    search share a file name."""
    from pathlib import Path

    name = Path(video).name
    return name if sum(Path(r.video).name == name for r in results) == 1 else video


def score_notes(results: list[Grounding]) -> list[str]:
    """One line per method among ``results`` saying what its moment scores mean (a table's
    footnote: a bare "-0.4" or "1.000" says nothing about how good a moment is)."""
    notes = []
    for method in dict.fromkeys(r.method for r in results if r.moments):
        meaning = score_meaning(method)
        if meaning:
            notes.append(f"score ({method}): {meaning}")
    return notes


def terminal_width(default: int = 100) -> int:
    """Columns to lay tables out in: the terminal's (``COLUMNS`` wins), ``default`` when not a
    terminal, kept within 40..120 so piped output stays readable."""
    import shutil

    return max(40, min(120, shutil.get_terminal_size((default, 24)).columns))


WRITERS: dict[str, type[Writer]] = {w.name: w for w in (TableWriter, JsonWriter, JsonlWriter, CsvWriter, SrtWriter)}


def get_writer(name: str) -> Writer:
    if name not in WRITERS:
        raise UnknownNameError("format", name, list(WRITERS))
    return WRITERS[name]()


def render(results: Iterable[Grounding], fmt: str) -> str:
    return get_writer(fmt).render(list(results))

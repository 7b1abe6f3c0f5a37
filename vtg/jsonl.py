"""JSON Lines: the one reader and writer of vtg's line-based files, so every command splits,
decodes and reports them the same way (batch input and output, the batch journal, predictions and
ground truth for ``vtg eval``, ``vtg parse``'s answers, pseudo-labels, the library's ``--json``
lines). Before, three readers disagreed on byte-order marks, encodings and line ends.

The rule, for every file:

* **Encoding**: UTF-8. A byte-order mark at the start of the file (Windows editors write one) is
  not content. Bytes that are not UTF-8 survive as lone surrogates (``surrogateescape``), so each
  caller decides: ``vtg batch`` runs such a line (the query keeps U+FFFD), strict readers
  (:func:`read_text` with ``strict=True``, :func:`loads` of bytes) refuse it naming the line.
* **Separator**: ``\\n`` only. JSON strings may legally hold raw U+2028, U+2029, U+0085 or form
  feeds, which ``str.splitlines()`` would cut; a ``\\r`` before the ``\\n`` is JSON whitespace.
* **Blank lines** hold nothing and are skipped, but numbering counts them, so an error names the
  line an editor shows (1-based).
* **A malformed line** is a :class:`LineError` (a :class:`~vtg.errors.DataError`) saying
  ``FILE:N: malformed JSON: why`` (``malformed JSON on line N: why`` where no file is named); callers that keep going (batch error records, ``vtg
  parse``) catch it per line, the others let it end the command with that one line.
* **Writing**: one record per line, ending in ``\\n``, no NaN or infinity (not JSON). Non-ASCII
  text stays readable, except U+0085, U+2028 and U+2029, which are escaped so no reader (Python's
  ``splitlines``, JavaScript) sees a line end inside a record; text that cannot be UTF-8 (lone
  surrogates from undecodable input) is written ASCII-escaped instead, so output is always UTF-8.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from vtg.errors import DataError
from vtg.fileio import atomic_write_text

ENCODING = "utf-8"
#: Undecodable bytes become lone surrogates instead of failing the whole file.
DECODE_ERRORS = "surrogateescape"
BOM = "\ufeff"
SEPARATOR = "\n"
#: Characters line splitters treat as line ends that ``json.dumps(ensure_ascii=False)`` leaves raw
#: inside strings (C0 controls such as ``\x0b`` are always escaped by json; these are not).
RAW_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class LineError(DataError):
    """One line of a JSON Lines file is not JSON (``number`` counts from 1)."""

    def __init__(self, number: int, reason: str, path: str | Path | None = None):
        self.number, self.reason = number, reason
        where = f"{path}:{number}: malformed JSON" if path is not None else f"malformed JSON on line {number}"
        super().__init__(f"{where}: {reason}")


# -- reading -----------------------------------------------------------------------------------
def read_text(path: str | Path, *, strict: bool = False) -> str:
    """The whole file as text by the rule (BOM dropped, no newline translation). ``strict``: a
    :class:`~vtg.errors.DataError` naming the first line that is not UTF-8."""
    with open(path, encoding=ENCODING, errors=DECODE_ERRORS, newline="") as fh:
        text = fh.read()
    text = text[1:] if text.startswith(BOM) else text
    if strict:
        check_decoded(text, path)
    return text


def check_decoded(text: str, path: str | Path) -> None:
    """DataError naming the line of ``text`` (read by the rule) that held bytes not UTF-8."""
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError as exc:
        line = text.count(SEPARATOR, 0, exc.start) + 1
        raise DataError(f"{path}: line {line} is not UTF-8 text ({exc.reason} at character {exc.start})") from None


def split(text: str) -> list[str]:
    """The lines of a JSON Lines text, split on ``\\n`` only (no empty last line for the final
    newline)."""
    lines = text.split(SEPARATOR)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def numbered(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, stripped line)`` of every non-blank line of ``text`` (BOM already dropped)."""
    for number, line in enumerate(split(text), 1):
        stripped = line.strip()
        if stripped:
            yield number, stripped


def lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """:func:`numbered` for a file, streamed line by line (a batch input of millions of lines is
    never held as one string)."""
    with open(path, encoding=ENCODING, errors=DECODE_ERRORS, newline=SEPARATOR) as fh:
        for number, raw in enumerate(fh, 1):
            text = (raw[1:] if number == 1 and raw.startswith(BOM) else raw).strip()
            if text:
                yield number, text


def loads(line: str | bytes, number: int, path: str | Path | None = None) -> Any:
    """One line's JSON value, or a :class:`LineError` saying why not (also for 5000-digit
    integers and brackets nested past the stack). Bytes must be UTF-8 (the journal's lines); the
    first line may begin with the file's BOM."""
    try:
        text = line.decode(ENCODING) if isinstance(line, bytes) else line
        return json.loads(text[1:] if number == 1 and text.startswith(BOM) else text)
    except UnicodeDecodeError as exc:
        raise LineError(number, f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
    except json.JSONDecodeError as exc:
        raise LineError(number, f"{exc.msg} at column {exc.colno}", path) from None
    except (ValueError, RecursionError) as exc:
        raise LineError(number, f"{type(exc).__name__}: {str(exc)[:200]}", path) from None


def records(path: str | Path) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of every non-blank line; the first malformed line ends it with a
    :class:`LineError`."""
    for number, text in lines(path):
        yield number, loads(text, number, path)


# -- writing -----------------------------------------------------------------------------------
def dumps(obj: Any, *, ascii_only: bool = False) -> str:
    """One record: ``obj`` as JSON on one line, ending in ``\\n`` (see the module's rule).
    ``ascii_only`` escapes every non-ASCII character (output for terminals of any encoding).
    NaN and infinities raise ``ValueError``: they are not JSON."""
    if ascii_only:
        return json.dumps(obj, allow_nan=False) + SEPARATOR
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    for raw, escaped in RAW_LINE_BREAKS.items():
        if raw in text:  # these characters only ever occur inside JSON strings here
            text = text.replace(raw, escaped)
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:  # lone surrogates (undecodable input, "\ud800" in a qid): escape them
        return json.dumps(obj, allow_nan=False) + SEPARATOR
    return text + SEPARATOR


def render(objs: Iterable[Any], *, ascii_only: bool = False) -> str:
    """Several records, one line each."""
    return "".join(dumps(obj, ascii_only=ascii_only) for obj in objs)


def write(path: str | Path, objs: Iterable[Any], *, ascii_only: bool = False) -> None:
    """Write ``objs`` as a JSON Lines file, atomically (a temporary sibling renamed over ``path``)."""
    atomic_write_text(path, render(objs, ascii_only=ascii_only))


__all__ = ["BOM", "LineError", "check_decoded", "dumps", "lines", "loads", "numbered", "read_text", "records",
           "render", "split", "write"]

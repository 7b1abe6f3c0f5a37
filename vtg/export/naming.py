"""Output file names from a template, made safe: the values come from untrusted prediction files.

The template is ``str.format`` syntax over the fields ``vid``, ``qid``, ``rank``, ``start``,
``end``, ``score``, ``method`` and ``query`` (e.g. the default
``"{vid}_{qid}_{rank}_{start:.1f}-{end:.1f}.mp4"``). Attribute and index lookups
(``{vid.__class__}``, ``{x[0]}``) are refused. The formatted name is then sanitised into one
plain file name inside the output folder: path separators, ``..``, control and shell-special
characters are replaced, leading ``-`` and ``.`` stripped (no option injection, no hidden files),
and the length is limited to 200 bytes keeping the extension.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Any

from vtg.errors import UsageError

DEFAULT_TEMPLATE = "{vid}_{qid}_{rank}_{start:.1f}-{end:.1f}.mp4"
DEFAULT_REEL_TEMPLATE = "{vid}_{qid}_reel.mp4"
FIELDS = ("vid", "qid", "rank", "start", "end", "score", "method", "query")
MAX_BYTES = 200
CONTAINERS = ("mp4", "mkv", "mov", "m4v", "webm", "avi", "ts")
_UNSAFE = re.compile(r"[^\w.\-+=,@ ]", re.UNICODE)


class _SafeFormatter(string.Formatter):
    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if not field_name.isidentifier():
            raise UsageError(f"name template field {{{field_name}}} is not allowed; use one of: {', '.join(FIELDS)}")
        if field_name not in kwargs:
            raise UsageError(f"unknown name template field {{{field_name}}}; use one of: {', '.join(FIELDS)}")
        return kwargs[field_name], field_name


def render_name(template: str, fields: dict[str, Any], *, default_suffix: str = ".mp4") -> str:
    """Fill ``template`` with ``fields`` and sanitise the result into a plain file name."""
    try:
        name = _SafeFormatter().format(template, **fields)
    except (ValueError, TypeError, IndexError) as exc:
        raise UsageError(f"bad name template {template!r}: {exc}") from None
    return sanitize_filename(name, default_suffix=default_suffix)


def sanitize_filename(name: str, *, default_suffix: str = ".mp4") -> str:
    """One safe file name: no directories, no traversal, no control characters, no leading - or ."""
    name = unicodedata.normalize("NFC", str(name))
    name = "".join(c if unicodedata.category(c)[0] != "C" else "_" for c in name)
    name = name.replace("/", "_").replace("\\", "_")
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\.{2,}", "_", name)
    name = re.sub(r"[\s_]+", "_", name).strip("_")
    name = name.lstrip("-.").strip()
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or suffix.lower() not in CONTAINERS:
        stem, suffix = name, default_suffix.lstrip(".")
    stem = stem.rstrip(".") or "clip"
    limit = MAX_BYTES - len(suffix) - 1
    while len(stem.encode("utf-8")) > limit:
        stem = stem[:-1]
    return f"{stem}.{suffix}"


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``... if an earlier clip of this run already took it."""
    if name not in taken:
        taken.add(name)
        return name
    stem, _, suffix = name.rpartition(".")
    n = 2
    while f"{stem}-{n}.{suffix}" in taken:
        n += 1
    taken.add(f"{stem}-{n}.{suffix}")
    return f"{stem}-{n}.{suffix}"

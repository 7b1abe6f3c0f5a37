"""TVR-style JSONL lines (Lei et al., TVR, ECCV 2020), the form TaCoS and other benchmarks are
also shipped in by TVR-derived code: ``{"desc_id", "desc", "vid_name", "ts": [s, e], "duration"}``.

:func:`from_tvr` renames those fields to vtg's (``qid, query, vid, relevant_windows``) so the
JSONL readers of ground truth and batch input take such a line unchanged.
"""

from __future__ import annotations

from typing import Any

_RENAMES = {"desc_id": "qid", "desc": "query", "vid_name": "vid", "ts": "relevant_windows"}


def from_tvr(record: Any) -> Any:
    """``record`` with TVR field names mapped to vtg's (anything else returned as given)."""
    if not isinstance(record, dict) or "desc" not in record or "vid_name" not in record:
        return record
    out = {k: v for k, v in record.items() if k not in _RENAMES}
    for old, new in _RENAMES.items():
        if old in record and new not in record:
            out[new] = record[old]
    return out

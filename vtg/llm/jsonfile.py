"""``--llm json:<file>``: precomputed decompositions, e.g. those released with TFVTG.

The file maps video ids to ``{"sentences": [...], "response": [...]}`` (the format of
``charades-sta/llm_outputs.json``): ``response[i]`` decomposes ``sentences[i]`` with
``relationship`` and ``query_json`` (``sub_query_id`` 0 = rewrites of the whole query). A query is
matched by video id and sentence text (case and spacing ignored); without a video id, by the
sentence alone when it is unambiguous. A query that is not in the file falls back to the whole
query with a warning.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from vtg.errors import DataError
from vtg.llm.parse import AnswerError, from_object
from vtg.llm.types import Decomposition

log = logging.getLogger("vtg.llm")


def _key(text: str) -> str:
    return " ".join(str(text).lower().split()).rstrip(".!? ")


class JsonFileBackend:
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self.name = f"json:{self.path.name}"
        if not self.path.is_file():
            raise DataError(f"decomposition file not found: {self.path}")
        try:
            data = json.loads(self.path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON/UTF-8, 5000-digit ints
            raise DataError(f"cannot read decompositions from {self.path}: {exc}") from None
        if not isinstance(data, dict):
            raise DataError(f"{self.path} must map video ids to {{sentences, response}} objects")
        self.by_video: dict[tuple[str, str], dict] = {}
        self.by_text: dict[str, list[dict]] = {}
        for vid, entry in data.items():
            if not isinstance(entry, dict):
                continue
            for sentence, response in zip(entry.get("sentences") or [], entry.get("response") or []):
                if isinstance(sentence, str) and isinstance(response, dict):
                    self.by_video.setdefault((str(vid), _key(sentence)), response)
                    self.by_text.setdefault(_key(sentence), []).append(response)

    def lookup(self, query: str, video_id: str | None) -> dict | None:
        if video_id is not None and (str(video_id), _key(query)) in self.by_video:
            return self.by_video[(str(video_id), _key(query))]
        found = self.by_text.get(_key(query), [])
        unique = {json.dumps(r, sort_keys=True) for r in found}
        return found[0] if len(unique) == 1 else None

    def decompose(self, query: str, video_id: str | None = None) -> Decomposition:
        response = self.lookup(query, video_id)
        if response is None:
            warning = f"no decomposition of {query!r} (video {video_id}) in {self.path}; using the whole query"
            log.warning(warning)
            return Decomposition.whole(query, self.name, warning=warning)
        try:
            return from_object(response, query, self.name)
        except AnswerError as exc:
            warning = f"unusable decomposition of {query!r} in {self.path} ({exc}); using the whole query"
            log.warning(warning)
            return Decomposition.whole(query, self.name, warning=warning)

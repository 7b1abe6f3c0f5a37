"""A searchable video library: ``vtg index DIR... --library NAME`` then ``vtg search QUERY``.

>>> from vtg.library import open_library, search
>>> lib = open_library("clips", create=True)
>>> lib.index([Path("~/footage")], method="tfvtg")                    # new and changed files; removed ones dropped
>>> hits = search("clips", "person opens the door", top=20)
>>> [(g.video, m.start, m.end, m.score) for g in hits for m in g.moments]

The manifest is an embedded SQLite database (:mod:`~vtg.library.manifest`) next to memory-mapped
float16 feature shards (:mod:`~vtg.library.shards`); there is no server to run. Search scans every
frame exactly (:mod:`~vtg.library.scan`) and lets the method's localiser place the boundaries
(:mod:`~vtg.library.search`). See docs/library.md.
"""

from __future__ import annotations

from vtg.library.indexer import IndexSummary
from vtg.library.manifest import VideoRow
from vtg.library.search import ranked_rows, search
from vtg.library.store import Library, ShardWriter, library_folder, open_library

__all__ = ["IndexSummary", "Library", "ShardWriter", "VideoRow", "library_folder", "open_library", "ranked_rows", "search"]

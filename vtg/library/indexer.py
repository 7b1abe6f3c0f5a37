"""``vtg index DIR... --library NAME``: bring a library up to date with its folders.

For each video file under the roots (:mod:`vtg.library.walk`):

* unchanged (same size and mtime as the row): nothing to do;
* stat changed but the content key (:func:`vtg.features.content_hash`) did not (a ``touch``, a
  copy back into place): the row's stat is updated, nothing is decoded;
* new or changed content: features are computed with the encoder and sampling the method would
  use (its ``feature_settings`` hook, through :func:`vtg.features.video_features`, so ``vtg
  ground`` on the file is instant), then written to a shard; once the shard is registered, the
  feature-cache entry refers to the video's rows of it and drops its own copy, so the features
  are stored once (:mod:`vtg.library.store`);
* unreadable: a row with ``status = 'error'`` and the reason; the others still run.

Rows of files under the roots that are gone are dropped first; shards left mostly dead by drops and
re-indexing, and small shards, are rewritten (their live videos copied into full shards), and shards
nobody uses any more are deleted last. Interrupted (even by SIGKILL), a run loses only the videos
not yet committed with a shard (a shard is written when full or when its oldest video has waited a
minute); the next run finds them missing and computes them again (from the feature cache).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vtg.encoders.fetch import fetch_fingerprint
from vtg.encoders.specs import parse_spec
from vtg.errors import UsageError, VideoError
from vtg.library import ann
from vtg.library.manifest import METHOD_SETTING, path_bytes
from vtg.library.walk import inside, walk
from vtg.method import supports_feature_search
from vtg.registry import load_method
from vtg.video.source import VideoSource

log = logging.getLogger(__name__)

#: ``report(path, status, detail)``: called once per video as its fate is decided.
Reporter = Callable[[Path, str, str], None]


@dataclass
class IndexSummary:
    """What one index run did, counted per outcome, plus the per-video lines."""

    library: str
    indexed: int = 0
    unchanged: int = 0
    touched: int = 0
    errors: int = 0
    dropped: int = 0
    skipped: int = 0
    compacted: int = 0
    frames: int = 0
    seconds: float = 0.0
    ann: str = ""  # what the approximate index update did (vtg.library.ann), "" when nothing
    items: list[tuple[str, str, str]] = field(default_factory=list)  # (path, status, detail)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("library", "indexed", "unchanged", "touched", "errors", "dropped",
                                              "skipped", "compacted", "frames", "seconds")} | ({"ann": self.ann} if self.ann else {})


def index_library(library, roots: list[Path], *, encoder: str | None = None, fps: float | None = None,
                  method: str, max_frames: int | None = None, device: str = "auto",
                  refresh: bool = False, progress: bool = False, report: Reporter | None = None,
                  shard_bytes: int | None = None, **options) -> IndexSummary:
    """Index ``roots`` into ``library``; see the module docstring. Encoder or usage errors stop the
    run at once (they would fail every video the same way); video errors are recorded per row."""
    start = time.perf_counter()
    summary = IndexSummary(library.name)

    def note(path: Path, status: str, detail: str = "") -> None:
        summary.items.append((str(path), status, detail))
        if report is not None:
            report(path, status, detail)

    found = walk(roots)
    instance = load_method(method, **options)
    overrides = {k: v for k, v in {"encoder": encoder, "fps": fps, "max_frames": max_frames}.items() if v is not None}
    for path, why in found.skipped:
        summary.skipped += 1
        note(path, "skipped", why)
    # the library's own default shard size unless one is given (the indexer never imports the store:
    # Library.index calls it)
    with (library.writer(shard_bytes=shard_bytes) if shard_bytes else library.writer()) as writer:
        if supports_feature_search(instance):  # what `vtg search` uses unless told otherwise
            library.manifest.set_settings({METHOD_SETTING: instance.name})
        rows = library.manifest.by_path()
        summary.dropped = _drop_missing(library, rows, found, note)
        session = _Session(library, writer, instance, overrides, device, progress, refresh)
        for path, st in sorted(found.videos.items()):
            row = rows.get(path_bytes(path))
            if row is not None and not refresh and row.status == "ok" \
                    and (row.size, row.mtime_ns) == (st.st_size, st.st_mtime_ns):
                summary.unchanged += 1
                note(path, "unchanged", "")
                continue
            status, detail, frames = session.run(path, st, row, refresh)
            summary.frames += frames
            counter = "errors" if status == "error" else status
            setattr(summary, counter, getattr(summary, counter) + 1)
            note(path, status, detail)
        writer.flush()
        summary.compacted = library.compact(writer)
        summary.ann = _update_ann(library)
    library.collect_garbage()
    summary.seconds = round(time.perf_counter() - start, 3)
    return summary


def _update_ann(library) -> str:
    """Bring the approximate index up to date (:func:`vtg.library.ann.update`); a one-line account
    of what it did, or a note when a big library would benefit from faiss."""
    done = ann.update(library)
    if done.action == "skipped":
        frames = sum(s.rows for s in library.view().shards)
        if ann.load_faiss() is None and frames >= ann.MIN_FRAMES:
            return f"note: {frames:,} frames are scanned exactly; `pip install 'vtg[ann]'` adds an approximate index"
        return ""
    why = f" ({done.reason})" if done.reason else ""
    return f"approximate index {done.action}{why}: +{done.added} -{done.removed} frames, {done.entries} in the index"


def _drop_missing(library, rows: dict, found, note) -> int:
    """Drop rows of files under the walked roots that are no longer there (or no longer videos)."""
    present = {path_bytes(p) for p in found.videos}
    gone = [row for key, row in rows.items() if key not in present
            and any(inside(row.path, root) for root in found.roots)]
    library.manifest.drop([row.id for row in gone])
    for row in gone:
        note(row.path, "dropped", "no longer in the folder")
    return len(gone)


class _Session:
    """The per-run state of indexing: the method, the encoder (loaded on first need), the writer."""

    def __init__(self, library, writer, method, overrides: dict, device: str, progress: bool, refresh: bool) -> None:
        self.library, self.writer, self.method = library, writer, method
        self.overrides, self.device, self.progress, self.refresh = overrides, device, progress, refresh
        self.encoders: dict[str, object] = {}

    def run(self, path: Path, st, row, refresh: bool) -> tuple[str, str, int]:
        """Bring one video up to date: ``(status, detail, frames encoded)``."""
        from vtg.features import content_hash, video_features

        try:
            key = content_hash(path)
        except OSError as exc:
            return self._error(path, st, None, f"cannot read: {exc.strerror or exc}")
        if row is not None and row.status == "ok" and row.key == key and not refresh:
            self.library.manifest.touch(row.id, st.st_size, st.st_mtime_ns)
            return "touched", "content unchanged", 0
        try:
            source = VideoSource.of(path)  # probed once for the sampling plan and the decoder
            settings = self._settings(source)
            encoder = self._encoder(settings["encoder"])
            feats = video_features(source, encoder, settings["fps"], max_frames=settings.get("max_frames"),
                                   progress=self.progress, device=self.device, refresh=refresh)
        except VideoError as exc:
            return self._error(path, st, key, str(exc))
        if len(feats) == 0 or feats.duration <= 0:
            return self._error(path, st, key, "no frames could be sampled")
        self.writer.add(path, features=feats.features, times=feats.times, duration=feats.duration,
                        encoder=feats.encoder, fps=feats.fps, key=key, size=st.st_size, mtime_ns=st.st_mtime_ns,
                        feature_entry=feats.entry)
        shape = "x".join(str(d) for d in feats.features.shape[1:])
        return "indexed", f"{len(feats)} frames [{shape}] at {feats.fps} fps, {feats.duration:.1f} s", len(feats)

    def _settings(self, path) -> dict:
        settings = {} if {"encoder", "fps"} <= set(self.overrides) else dict(self.method.feature_settings(path))
        settings.update(self.overrides)
        if settings.get("encoder") is None:
            raise UsageError(f"method {self.method.name!r} does not use a frame encoder; a library needs one "
                             "(pass --encoder and --fps)")
        if settings.get("fps") is None:
            raise UsageError(f"method {self.method.name!r} chooses its frame rate per video; pass --fps")
        return settings

    def _encoder(self, spec: str):
        """The loaded encoder for ``spec``, checked against the library's before anything is encoded."""
        if spec not in self.encoders:
            from vtg.encoders import load_encoder

            parsed = parse_spec(spec)
            self.writer.claim_encoder(parsed.canonical, lambda: fetch_fingerprint(parsed), new_weights=self.refresh)
            self.encoders[spec] = load_encoder(spec, device=self.device)
        return self.encoders[spec]

    def _error(self, path: Path, st, key: str | None, reason: str) -> tuple[str, str, int]:
        self.library.manifest.record_error(path, st.st_size, st.st_mtime_ns, key, reason)
        return "error", reason, 0

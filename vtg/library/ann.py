"""An approximate nearest-neighbour index over a library's frames (faiss IVF-PQ), for big libraries.

Why: the exact scan (:mod:`vtg.library.scan`) reads every stored frame, 2 bytes per dimension. At
10,000 hours (36 M frames at 1 fps, 512-d: 34 GiB of float16) the shards no longer fit in a small
machine's RAM and every search reads them from disk. An inverted file with product-quantised codes
(Jégou, Douze & Schmid, "Product quantization for nearest neighbor search", TPAMI 2011: IVF-ADC)
keeps 136 bytes per 16 frames in memory at 512-d (256 four-bit codes of 2-d sub-vectors, plus an
8-byte id: 8.5 bytes per frame, 306 MB at 10,000 h) and, by default, scans every list's codes
(see :func:`default_nprobe`).

An entry summarises :data:`SEGMENT` consecutive rows (their mean, see there). How search uses it
(:func:`candidate_scores`): the index proposes ``segments`` candidate segments; the ``videos``
videos whose best segment ranks highest have all their frames re-scored exactly on their stored
float16 features (one contiguous read of the memory-mapped shard each), so every score a search
returns is exact, and only which videos are looked at is approximate. Shards the
index does not cover yet (written after the last update, or by a run that crashed before updating)
are scanned exactly, so a search never misses a committed video.

Ids: an entry's id is ``shard id << 32 | first row``. A shard's frames are one id range, so removing a
dead shard is one range removal. The index records the name of every shard it covers; a shard
whose id now names another file (SQLite can reuse the largest id) counts as not covered.

On disk, ``<library>/ann/``: ``<uuid>.faiss`` (the index) and ``current.json`` (which file is
current, the shards it covers, its parameters). Both are written under temporary names, fsynced
and renamed; ``current.json`` is replaced last, so a crash at any point leaves the previous index
in use (or none), never a half-written one; files no ``current.json`` names are swept by the next
update.

Thread policy (measured on the 2-core shared machine, issue 22): building and adding (k-means,
coarse assignment, PQ encoding: large batched matrix products) use every core faiss sees; one
query's search runs on ONE thread (:data:`SEARCH_THREADS`): its work is small (a few hundred
thousand codes), and waking an OpenMP pool on a loaded machine costs more than it saves (the
torch scan slowed 35x under load, faiss 8.7x). The exact re-scoring of the candidate videos goes
through :func:`vtg.halfdot.dot_scores`, the exact scan's own product (numpy for blocks of one
video's size). faiss's global thread count is set around each call under a lock and restored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import uuid
from bisect import bisect_right
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vtg.errors import DataError
from vtg.fileio import fsync_path, read_regular_text
from vtg.halfdot import dot_scores

log = logging.getLogger(__name__)

FOLDER = "ann"
CURRENT = "current.json"
TMP_SUFFIX = ".tmp"
FORMAT = 1
#: Libraries with at least this many frames get an index when ``vtg index`` finishes, and are
#: searched through it (~555 h at 1 fps; below it the exact scan takes tens of milliseconds).
MIN_FRAMES = 2_000_000
#: Consecutive rows of a shard summarised by one index entry (their mean): frames a second apart
#: are near duplicates, and a frame-level index spends its candidates on a few videos' runs of
#: similar frames (clustered 100-h library: recall@20 of videos 0.49 with 4,096 frames). One entry
#: per 16 rows makes the index 16x smaller and faster to build, and 2,048 candidates span 32,768
#: frames, contiguous on disk, all re-scored exactly.
SEGMENT = 16
#: Candidate segments the index proposes (the default search setting).
DEFAULT_SEGMENTS = 16384
#: Videos (best candidate segment first) whose frames are all re-scored exactly. Re-scoring only
#: the candidate segments misses a video's best frame when it sits in a segment whose mean is
#: unremarkable (clustered 100-h library: recall@20 of videos 0.77-0.87 whatever the candidate
#: count); a whole video is one contiguous read, and the localiser reads the best ones anyway.
#: 128, not 64: at 10,000 h recall@20 0.993 against 0.965 (worst query 0.95 against 0.85), for
#: ~0.6-0.8 s instead of ~0.3 s when the videos are read from disk (benchmarks/bench_ann.py).
DEFAULT_VIDEOS = 128
#: The index is rebuilt (re-trained) when this fraction of its entries belongs to dead shards, or
#: when it was trained on fewer than this fraction of the frames it now holds.
MAX_DEAD = 0.3
MIN_TRAINED = 0.1
#: Threads for one query's search (see the module docstring).
SEARCH_THREADS = 1
ADD_ROWS = 1 << 16
TRAIN_SEGMENTS = 1 << 14
#: faiss's k-means wants 39 training points per centroid; with fewer it warns on stdout (and with
#: fewer points than centroids it fails). The product quantiser has 16 centroids per sub-vector.
POINTS_PER_CENTROID = 39
MIN_ENTRIES = 16 * POINTS_PER_CENTROID
_faiss_lock = threading.Lock()


def load_faiss() -> Any | None:
    """faiss, or None when it is not installed (the ``ann`` extra: ``pip install 'vtg[ann]'``)."""
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        return None
    return faiss


def frame_id(shard: int, rows: np.ndarray) -> np.ndarray:
    return (np.int64(shard) << np.int64(32)) | rows.astype(np.int64)


def parameters(entries: int, dim: int) -> dict:
    """Index shape for ``entries`` segments of ``dim``: inverted lists, a power of two up to 64 with
    enough entries to train each (every list is visited, :func:`default_nprobe`: more lists only
    add per-list work; 64 and 256 lists gave the same recall at 10,000 h), and 4-bit
    product-quantiser codes of :func:`code_dims` dimensions each ("fast scan": compared 32 codes at
    a time in SIMD registers)."""
    fit = max(1, min(64, entries // POINTS_PER_CENTROID))
    return {"nlist": 1 << (fit.bit_length() - 1), "m": dim // code_dims(dim), "nbits": 4}


def code_dims(dim: int) -> int:
    """Dimensions per 4-bit code: 2 (1 when ``dim`` is odd). Measured on the clustered 10,000-h
    library (benchmarks/bench_ann.py, 50 queries, every list visited, 64 videos re-scored):
    recall@20 of videos 0.64 with 8-d sub-vectors (this module's first codes, 2.5 bytes per frame),
    0.965-0.982 with 2-d ones (two runs); at 1,000 h 4-d ones reached 0.80 (exact segment means:
    1.00). The best videos are decided by differences of ~0.01 in cosine, which coarser codes blur."""
    return 2 if dim % 2 == 0 else 1


def default_nprobe(nlist: int) -> int:
    """Every list (a search's ``nprobe`` can ask for fewer). The 20 best *videos* are wanted,
    and most of them are far from the query (a sentence is not near any frame: on the clustered
    1,000-h library the 20th best video scores ~0.14 where the query's source frame scores ~0.55),
    so the lists nearest the query miss them: with 8-bit scalar codes, visiting half of 256 lists
    found 0.91 of them at 1,000 h, visiting all 1.00. What keeps the scan cheap is the codes: 8.5
    bytes per frame, 1/120 of the bytes an exact scan reads, and 4-bit fast-scan codes compared 32
    at a time in SIMD registers (15-20 ms for 2.3 M entries on one thread). The lists still pay:
    each entry's code is its residual to the list's centroid (finer than coding the vector), and
    a dead shard's entries leave by one id-range removal."""
    return nlist


def outdated(state: "State") -> str:
    """Why an index built by an earlier vtg should not serve a default search (empty: it may):
    coarser codes than :func:`code_dims` gives, whose recall was measured too low (above)."""
    m = int(state.params.get("m", 0))
    if m and state.dim // m > code_dims(state.dim):
        return (f"its 4-bit codes cover {state.dim // m} dimensions each, this vtg's {code_dims(state.dim)}: "
                "recall@20 0.64 against 0.99 at 10,000 h")
    return ""


@dataclass
class State:
    """What ``current.json`` records."""

    file: str
    dim: int
    params: dict
    shards: dict[int, str]            # shard id -> shard name covered by the index
    entries: int                      # segments in the index
    dead: int = 0                     # segments removed with their shards since the last training
    trained_on: int = 0               # frames in the library when the index was trained

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "file": self.file, "dim": self.dim, "params": self.params,
                           "shards": {str(k): v for k, v in self.shards.items()}, "entries": self.entries,
                           "dead": self.dead, "trained_on": self.trained_on})

    @classmethod
    def from_json(cls, text: str, where: Path) -> "State":
        try:
            d = json.loads(text)
            if d.get("format") != FORMAT:
                raise ValueError(f"format {d.get('format')!r}")
            state = cls(str(d["file"]), int(d["dim"]), dict(d["params"]),
                        {int(k): str(v) for k, v in d["shards"].items()}, int(d["entries"]), int(d.get("dead", 0)),
                        int(d.get("trained_on", 0)))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"approximate index description {where} is damaged ({exc}); "
                            "rebuild it with `vtg ann-index --library NAME --rebuild`") from None
        if not _is_index_name(state.file):
            raise DataError(f"approximate index description {where} names {state.file!r}, not an index file")
        return state


def _is_index_name(name: str) -> bool:
    stem = name[:-len(".faiss")] if name.endswith(".faiss") else ""
    return len(stem) == 32 and all(c in "0123456789abcdef" for c in stem)


def read_state(library_folder: Path) -> State | None:
    path = library_folder / FOLDER / CURRENT
    if not os.path.lexists(path):
        return None
    return State.from_json(read_regular_text(path), path)


@dataclass
class AnnIndex:
    """An index opened for searching: the faiss object and what it covers."""

    index: Any
    state: State
    nprobe: int
    segments: int = DEFAULT_SEGMENTS
    videos: int = DEFAULT_VIDEOS

    def search(self, direction: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(approximate scores, ids)`` of the ``k`` segments with the highest approximate inner
        product (id -1: fewer than ``k`` found)."""
        faiss = load_faiss()
        q = np.ascontiguousarray(direction, np.float32).reshape(1, -1)
        with _faiss_lock, _threads(faiss, SEARCH_THREADS):
            self.index.nprobe = self.nprobe
            scores, ids = self.index.search(q, int(k))
        return scores[0], ids[0]


#: The index last opened for searching, per library folder: (its file name, the faiss object).
#: A process that searches one library again (``vtg serve``, a Python loop) reads the file once
#: (306 MB at 10,000 h: 0.08 s from the page cache, up to 0.9 s from disk); an update commits a
#: new file name, so the next search reads the new file. Updates never use these shared objects.
_opened: dict[str, tuple[str, Any]] = {}
_opened_lock = threading.Lock()


def open_index(library_folder: Path, *, nprobe: int | None = None, segments: int | None = None,
               fresh: bool = False, state: State | None = None) -> AnnIndex | None:
    """The library's current index, or None when it has none or faiss is not installed.
    ``fresh``: a private copy read from the file (to modify), not the one searches share.
    ``state``: the description the caller has just read (:func:`read_state`), not read again."""
    faiss = load_faiss()
    state = state or read_state(library_folder)
    if faiss is None or state is None:
        return None
    key = os.fspath(Path(library_folder).absolute())
    with _opened_lock:
        name, index = _opened.get(key, ("", None))
        if fresh or name != state.file:
            index = _read_index(faiss, library_folder / FOLDER / state.file, state)
            if not fresh:
                _opened[key] = (state.file, index)
    return AnnIndex(index, state, int(nprobe or default_nprobe(int(state.params["nlist"]))), int(segments or DEFAULT_SEGMENTS))


def _read_index(faiss, path: Path, state: State) -> Any:
    try:
        index = faiss.read_index(os.fspath(path))
    except RuntimeError as exc:
        raise DataError(f"approximate index {path} cannot be read ({str(exc).splitlines()[0][:200]}); "
                        "rebuild it with `vtg ann-index --library NAME --rebuild`") from None
    if index.d != state.dim or index.ntotal != state.entries:
        raise DataError(f"approximate index {path} does not match its description; "
                        "rebuild it with `vtg ann-index --library NAME --rebuild`")
    return index


@contextmanager
def _threads(faiss, count: int | None) -> Iterator[None]:
    """faiss's OpenMP thread count set to ``count`` (None: every core) for the block."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count or os.cpu_count() or 1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


# --- building and updating ----------------------------------------------------------------------

@dataclass
class UpdateReport:
    """What :func:`update` did."""

    action: str                  # "built", "rebuilt", "updated", "unchanged", "skipped", "removed"
    added: int = 0
    removed: int = 0
    entries: int = 0
    reason: str = ""
    extra: dict = field(default_factory=dict)


def needs_rebuild(state: State, live_frames: int) -> str:
    """Why the index should be re-trained (empty string: it should not)."""
    if state.entries and state.dead > MAX_DEAD * (state.entries + state.dead):
        return f"{state.dead} of its entries were removed with their shards"
    if state.trained_on < MIN_TRAINED * live_frames:
        return f"trained on {state.trained_on} frames, the library has {live_frames}"
    return outdated(state)


def update(library, *, rebuild: bool = False, min_frames: int | None = None, params: dict | None = None) -> UpdateReport:
    """Bring ``library``'s index up to date: build it (when the library has ``min_frames`` frames
    or more), add shards written since, remove dead shards, or re-train it from scratch when
    ``rebuild`` or when it drifted (:func:`needs_rebuild`). Call under the library's write lock
    (``vtg index`` does, at the end of its run). Without faiss: nothing, reported as skipped."""
    faiss = load_faiss()
    if faiss is None:
        return UpdateReport("skipped", reason="faiss is not installed (pip install 'vtg[ann]')")
    view = library.view()
    if len(view.shards) and len(view.shards[0].shape) != 1:
        return UpdateReport("skipped", reason="token features (one vector per frame is needed)")
    live = {s.id: s for s in view.shards}
    frames = sum(s.rows for s in view.shards)
    state = read_state(library.folder)
    trainable = MIN_ENTRIES * SEGMENT
    min_frames = max(trainable, MIN_FRAMES if min_frames is None else min_frames)
    if state is None and frames < min_frames:
        return UpdateReport("skipped", reason=f"{frames} frames, below the threshold of {min_frames}")
    why = "asked" if rebuild else ("" if state is None else needs_rebuild(state, frames))
    if (state is None or why) and frames < trainable:  # shrunk below what trains an index: scanned
        remove(library.folder)
        return UpdateReport("removed", reason=f"{frames} frames are too few to train an index (it needs {trainable})")
    if state is None or why:
        report = _build(faiss, library, view, params, frames)
        report.action = "built" if state is None else "rebuilt"
        report.reason = why
        return report
    return _add_and_remove(faiss, library, view, state, live)


def _build(faiss, library, view, params: dict | None, frames: int) -> UpdateReport:
    dim = int(view.shards[0].shape[0])
    p = dict(parameters(-(-frames // SEGMENT), dim), **(params or {}))
    index = faiss.index_factory(dim, f"IVF{p['nlist']},PQ{p['m']}x{p['nbits']}fs", faiss.METRIC_INNER_PRODUCT)
    with _threads(faiss, None):
        sample = _training_sample(view, TRAIN_SEGMENTS * SEGMENT)
        index.train(segment_means(sample, 0, 0)[0])
        added = sum(_add_shard(index, view, s.id) for s in view.shards)
    state = State(uuid.uuid4().hex + ".faiss", dim, p, {s.id: s.name for s in view.shards}, int(index.ntotal),
                  trained_on=frames)
    _commit(faiss, library.folder, index, state)
    return UpdateReport("built", added=added, entries=state.entries)


def _add_and_remove(faiss, library, view, state: State, live: dict) -> UpdateReport:
    stale = [sid for sid, name in state.shards.items() if sid not in live or live[sid].name != name]
    fresh = [sid for sid in live if state.shards.get(sid) != live[sid].name]
    if not stale and not fresh:
        return UpdateReport("unchanged", entries=state.entries)
    index = open_index(library.folder, fresh=True)
    assert index is not None
    removed = 0
    with _threads(faiss, None):
        for sid in stale:
            removed += int(index.index.remove_ids(faiss.IDSelectorRange(sid << 32, (sid + 1) << 32)))
            del state.shards[sid]
        added = sum(_add_shard(index.index, view, sid) for sid in fresh)
    state.shards.update({sid: live[sid].name for sid in fresh})
    state.entries, state.dead = int(index.index.ntotal), state.dead + removed
    state.file = uuid.uuid4().hex + ".faiss"
    _commit(faiss, library.folder, index.index, state)
    return UpdateReport("updated", added=added, removed=removed, entries=state.entries)


def _training_sample(view, rows: int) -> np.ndarray:
    """About ``rows`` frames drawn from every shard in proportion to its size, in contiguous runs
    of 256 rows (a few large reads instead of many random ones on a library that is on disk)."""
    rng = np.random.default_rng(0)
    total = sum(s.rows for s in view.shards)
    if total <= rows:  # a small library: all of it
        return np.concatenate([np.asarray(view.features[s.id], np.float32) for s in view.shards])
    parts = []
    for s in view.shards:
        want = min(s.rows, max(1, round(rows * s.rows / total)))
        run = min(256, want)
        space = s.rows - run + 1
        for start in rng.choice(space, size=min(space, max(1, want // run)), replace=False).tolist():
            parts.append(np.asarray(view.features[s.id][start:start + run], np.float32))
    return np.ascontiguousarray(np.concatenate(parts))


def _add_shard(index, view, sid: int) -> int:
    """Add one entry per :data:`SEGMENT` rows of the shard (their mean; the id of the first row)."""
    feats = view.features[sid]
    step = ADD_ROWS - ADD_ROWS % SEGMENT
    for b0 in range(0, len(feats), step):
        index.add_with_ids(*segment_means(feats[b0:b0 + step], b0, sid))
    return len(feats)


def segment_means(block: np.ndarray, first_row: int, sid: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 means of each :data:`SEGMENT` rows of ``block`` (the last one shorter) and their ids."""
    rows = len(block)
    full = rows - rows % SEGMENT
    x = np.asarray(block, np.float32)
    means = x[:full].reshape(-1, SEGMENT, x.shape[1]).mean(axis=1)
    if full < rows:
        means = np.concatenate([means, x[full:].mean(axis=0, keepdims=True)])
    starts = np.arange(first_row, first_row + rows, SEGMENT)
    return np.ascontiguousarray(means), frame_id(sid, starts)


def _commit(faiss, library_folder: Path, index, state: State) -> None:
    """Write the index file, then ``current.json`` naming it (each to a temporary name, fsynced,
    renamed), then delete index files nothing names (see the module docstring)."""
    folder = library_folder / FOLDER
    folder.mkdir(exist_ok=True)
    final = folder / state.file
    tmp = final.with_name(final.name + TMP_SUFFIX)
    committed = False
    try:
        faiss.write_index(index, os.fspath(tmp))
        fsync_path(tmp)
        os.replace(tmp, final)
        committed = _write_durably(folder / CURRENT, state.to_json())
    finally:
        if not committed:
            tmp.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
    sweep(library_folder)


def _write_durably(path: Path, text: str) -> bool:
    """Replace ``path`` with ``text`` atomically; True once the rename happened."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    try:
        fsync_path(path.parent)
    except OSError:  # renamed already: the new description is the current one
        pass
    return True



def sweep(library_folder: Path) -> list[str]:
    """Delete index files and temporaries the current description does not name (crash leftovers);
    only names this module writes are touched."""
    folder = library_folder / FOLDER
    if not folder.is_dir():
        return []
    try:
        state = read_state(library_folder)
    except DataError:
        return []
    keep = {state.file} if state else set()
    removed = []
    for path in folder.iterdir():
        name = path.name
        base = name[:-len(TMP_SUFFIX)] if name.endswith(TMP_SUFFIX) else name
        if (_is_index_name(base) and (name != base or name not in keep)) or name == CURRENT + TMP_SUFFIX:
            path.unlink(missing_ok=True)
            removed.append(name)
    return removed


def remove(library_folder: Path) -> bool:
    """Forget the index (``current.json`` first, so nothing half-removed is ever used)."""
    path = library_folder / FOLDER / CURRENT
    if not os.path.lexists(path):
        return False
    path.unlink()
    sweep(library_folder)
    return True


# --- searching --------------------------------------------------------------------------------

def candidate_scores(view, direction: np.ndarray, ann: AnnIndex, scan_score) -> tuple[dict[int, float], dict]:
    """Best frame score per video, as :func:`vtg.library.scan.scan` returns it, from the index's
    candidates re-scored exactly, plus an exact scan of the shards the index does not cover."""
    from vtg.library.scan import scan

    covered = {s.id for s in view.shards if ann.state.shards.get(s.id) == s.name}
    by_shard: dict[int, list] = {}
    for v in view.videos:
        by_shard.setdefault(v.shard, []).append(v)
    rest = [s for s in view.shards if s.id not in covered]
    best: dict[int, float] = {}
    if rest:
        rest_ids = {s.id for s in rest}
        sub = dataclasses.replace(view, shards=rest, videos=[v for v in view.videos if v.shard in rest_ids])
        best, _ = scan(sub, scan_score)
    approx, ids = ann.search(direction, ann.segments)
    found = ids >= 0
    approx, ids = approx[found], ids[found]
    shard_of, first_of = ids >> 32, ids & 0xFFFFFFFF
    members = {sid: sorted(by_shard[sid], key=lambda v: v.row_start) for sid in by_shard}
    chosen = _pick_videos(shard_of, first_of, members, covered, ann.videos)
    picked = sorted(((sid, members[sid][index]) for sid, index in chosen), key=lambda p: (p[0], p[1].row_start))
    rescored = _rescore(view, picked, direction, best)
    return best, {"ann_candidates": int(len(ids)), "rescored": rescored, "scanned_shards": len(rest)}


def _rescore(view, picked: list, direction: np.ndarray, best: dict[int, float]) -> int:
    """Set ``best[video id]`` to the exact best frame score of every ``(shard id, video)`` in
    ``picked`` (in shard and row order: sequential reads); returns the frames scored. The videos'
    rows are copied once into one float16 block and scored by one product: per-shard or per-video
    products were each too small for the float16 product and widened to float32 instead (1,000 h
    in the page cache: 500 ms a query, more than the exact scan's 166 ms)."""
    if not picked:
        return 0
    first = view.features[picked[0][0]]
    block = np.empty((sum(v.frames for _, v in picked), first.shape[1]), first.dtype)
    pos = 0
    for sid, video in picked:
        block[pos:pos + video.frames] = view.features[sid][video.row_start:video.row_start + video.frames]
        pos += video.frames
    scores = np.asarray(dot_scores(block, np.asarray(direction, np.float32)), np.float32)
    bounds = np.cumsum([0] + [v.frames for _, v in picked[:-1]])
    for (_, video), peak in zip(picked, np.maximum.reduceat(scores, bounds).tolist()):
        best[video.id] = float(peak)
    return pos


def _pick_videos(shard_of: np.ndarray, first_of: np.ndarray, members: dict, covered: set,
                 videos: int) -> list[tuple[int, int]]:
    """(shard id, member index) of the ``videos`` best videos by their best candidate segment
    (faiss returns candidates best first). A segment counts for the video of its first row."""
    chosen: dict[tuple[int, int], None] = {}
    starts_of = {sid: [v.row_start for v in members[sid]] for sid in set(shard_of.tolist()) & set(members)}
    for sid, first in zip(shard_of.tolist(), first_of.tolist()):
        if sid not in covered or sid not in starts_of:
            continue
        member = bisect_right(starts_of[sid], first) - 1
        video = members[sid][member] if member >= 0 else None
        if video is None or first >= video.row_start + video.frames:  # rows of a dropped video
            continue
        chosen[(sid, member)] = None
        if len(chosen) >= videos:
            break
    return list(chosen)

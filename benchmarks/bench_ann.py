"""Exact scan vs the approximate index (vtg.library.ann) at 10 / 100 / 1,000 / 10,000 hours.

    python benchmarks/bench_ann.py --folder /work/ann_bench                   # 10 / 100 / 1,000 h
    python benchmarks/bench_ann.py --folder /work/ann_bench --hours 1000 10000 --queries 50 --rounds 3 \
        --exact-queries 2 --settings 0:0 0:16384:128 32:16384:64    # docs/library.md's table (~20 min)

Libraries are synthetic but clustered like real video features (benchmarks/synthetic_library.py:
videos are random walks around centres grouped by topic; iid noise would make recall
meaningless), 1 fps, 512-d, written through the library's shard writer. Per size it prints:

* ``build s``: writing the library's shards; ``index s``: building its IVF-PQ index
  (:func:`vtg.library.ann.update`, every core); ``load s``: reading the index file;
* ``exact ms``: the exact scan (:func:`vtg.library.scan.scan`) as a search runs it (torch loaded),
  median over ``--exact-queries`` x ``--rounds``;
* ``ann ms``: candidate videos from the index (one-thread faiss search of ``DEFAULT_SEGMENTS``
  segments of 16 frames + exact re-scoring of the chosen videos' frames on the memory-mapped
  shards), median over every query and round, per ``--settings`` entry ``NPROBE:SEGMENTS:VIDEOS``
  (0: the default; ``0:0`` is what a search runs);
* ``recall@20``: mean over ``--queries`` queries of |exact top-20 videos & approximate top-20| / 20,
  where a video's score is its best frame's similarity (what picks the videos a search localises);
  the exact side comes from one multi-query pass over every frame;
* ``B/frame``: index bytes per frame (the index is held in RAM while searching; the exact scan
  needs the float16 shards, 1,024 B/frame at 512-d, in the page cache to be fast).

The load average is printed before and after. A library over ~50% of RAM does not stay in the
page cache, so its exact scan reads from disk. ``--delete`` removes each library after its row
(use it for 10,000 h: 34 GiB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import synthetic_library  # noqa: E402
from vtg.library import ann, open_library  # noqa: E402
from vtg.halfdot import dot_scores  # noqa: E402
from vtg.library.scan import scan  # noqa: E402


def exact_best(view, queries: np.ndarray) -> np.ndarray:
    """[videos, queries] best-frame similarity, one pass over every frame for all queries."""
    import torch

    col = {v.id: i for i, v in enumerate(view.videos)}
    best = np.full((len(view.videos), len(queries)), -np.inf, np.float32)
    qt = torch.from_numpy(queries.T.astype(np.float16).copy())
    for s in view.shards:
        members = sorted((v for v in view.videos if v.shard == s.id), key=lambda v: v.row_start)
        feats = view.features[s.id]
        for v in members:
            block = torch.from_numpy(np.ascontiguousarray(feats[v.row_start:v.row_start + v.frames]))
            best[col[v.id]] = (block @ qt).float().max(dim=0).values.numpy()
    return best


def top_ids(scores: dict[int, float], k: int) -> set[int]:
    return set(sorted(scores, key=lambda vid: (-scores[vid], vid))[:k])


def measure(folder: Path, hours: float, args) -> dict:
    row: dict = {"hours": hours}
    if not (folder / "manifest.sqlite").is_file():
        row.update(synthetic_library.build(folder, hours, seed=int(hours)))
    lib = open_library(folder)
    try:
        view = lib.view()
        row["frames"] = sum(v.frames for v in view.videos)
        row["videos"] = len(view.videos)
        t0 = time.perf_counter()
        with lib.exclusive():
            done = ann.update(lib, min_frames=0)
        row["index_s"] = round(time.perf_counter() - t0, 1) if done.action != "unchanged" else None
        t0 = time.perf_counter()
        index = ann.open_index(lib.folder)
        assert index is not None
        row["load_s"] = round(time.perf_counter() - t0, 2)
        row["params"] = dict(index.state.params, nprobe=index.nprobe, segments=index.segments, segment=ann.SEGMENT)
        row["bytes_per_frame"] = round((lib.folder / ann.FOLDER / index.state.file).stat().st_size / row["frames"], 1)
        queries = synthetic_library.queries(view, args.queries, seed=7)
        t0 = time.perf_counter()
        truth = exact_best(view, queries)
        row["truth_pass_s"] = round(time.perf_counter() - t0, 1)
        ids = [v.id for v in view.videos]
        exact_ms: list[float] = []
        for r in range(args.rounds):
            for q in queries[:args.exact_queries]:
                t0 = time.perf_counter()
                scan(view, lambda block: dot_scores(block, q))
                exact_ms.append(1000 * (time.perf_counter() - t0))
        row.update(exact_ms=round(statistics.median(exact_ms), 1), exact_runs=len(exact_ms), rounds=args.rounds)
        row["settings"] = []
        for setting in args.settings:  # "NPROBE:SEGMENTS[:VIDEOS]", 0 = the default
            nprobe, segments, videos = (int(x) for x in (setting + ":0:0").split(":")[:3])
            index.videos = videos or ann.DEFAULT_VIDEOS
            index.nprobe = min(index.state.params["nlist"], nprobe) if nprobe else ann.default_nprobe(index.state.params["nlist"])
            index.segments = segments or ann.DEFAULT_SEGMENTS
            recalls, ann_ms = [], []
            for r in range(args.rounds):
                for qi, q in enumerate(queries):
                    t0 = time.perf_counter()
                    approx, _ = ann.candidate_scores(view, q, index, None)
                    ann_ms.append(1000 * (time.perf_counter() - t0))
                    if r == 0:
                        exact = top_ids(dict(zip(ids, truth[:, qi].tolist())), args.k)
                        recalls.append(len(exact & top_ids(approx, args.k)) / len(exact))  # < k videos: all of them
            row["settings"].append(dict(nprobe=index.nprobe, segments=index.segments, videos=index.videos,
                                        ann_ms=round(statistics.median(ann_ms), 1),
                                        ratio=round(statistics.median(exact_ms) / statistics.median(ann_ms), 1),
                                        recall=round(float(np.mean(recalls)), 4), recall_min=round(float(np.min(recalls)), 2),
                                        ann_runs=len(ann_ms)))
    finally:
        lib.close()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--folder", type=Path, required=True, help="Where the libraries are built (and kept, unless --delete).")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--exact-queries", type=int, default=3, help="Queries whose exact scan is timed, per round.")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--settings", nargs="+", default=["0:0"],
                    help="Search settings to measure, NPROBE:SEGMENTS[:VIDEOS] (0: the default).")
    ap.add_argument("--delete", action="store_true", help="Delete each library once measured.")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import torch  # noqa: F401  (a real search has it loaded: the scan's float16 product)

    args.folder.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}", flush=True)
    rows = []
    for hours in args.hours:
        folder = args.folder / f"lib-{hours:g}h"
        need = hours * 3600 * 512 * 2 * 1.1
        if not folder.exists() and need > shutil.disk_usage(args.folder).free - (20 << 30):
            sys.exit(f"{hours:g} h needs {need / 2**30:.0f} GiB and would leave under 20 GB free in {args.folder}")
        try:
            rows.append(measure(folder, hours, args))
            print(json.dumps(rows[-1]), flush=True)
        finally:
            if args.delete:
                shutil.rmtree(folder, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")
    print(f"\nexact scan vs IVF-PQ + exact re-rank, 1 fps, 512-d, {args.queries} queries, recall@{args.k} of videos")
    print(f"{'hours':>6} {'frames':>10} {'exact ms':>9} {'nprobe':>6} {'segments':>8} {'videos':>6} {'ann ms':>7} {'ratio':>6} "
          f"{'recall':>7} {'min':>5} {'B/frame':>8} {'build s':>8} {'index s':>8} {'load s':>7}")
    for r in rows:
        for st in r["settings"]:
            print(f"{r['hours']:>6g} {r['frames']:>10} {r['exact_ms']:>9} {st['nprobe']:>6} {st['segments']:>8} {st['videos']:>6} "
                  f"{st['ann_ms']:>7} {st['ratio']:>6} {st['recall']:>7} {st['recall_min']:>5} {r['bytes_per_frame']:>8} "
                  f"{str(r.get('build_s', '-')):>8} {str(r['index_s']):>8} {r['load_s']:>7}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

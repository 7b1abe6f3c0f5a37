"""Library search at 10, 100 and 1,000 hours of video, on synthetic features (no encoder needed).

    python benchmarks/bench_library.py                          # 10 / 100 / 1,000 h at 1 fps, D=512
    python benchmarks/bench_library.py --hours 10 100 --dim 256 --rounds 3 --json out.json

Each library is built through the library's own writer (:class:`vtg.library.ShardWriter`): videos
of ``--video-minutes`` at 1 fps, random unit float16 features of ``--dim`` (drawn from a pool, so
building 3.6 M frames is fast), shards of the default size. Then, in one warm process, rounds
alternate over the sizes (so a burst of load on the shared machine hits every size alike) and time

* ``scan``: the exact similarity scan of every frame (the part that grows with the library), as a
  search runs it (torch is loaded by the text encoder, so its float16 matrix-vector product reads
  the mapped shards without a float32 copy), and ``scan numpy``: the same scan without torch,
  widening each block to float32 first (the baseline, in the same rounds);
* ``search``: scan + TFVTG localisation of the candidate videos + ranking (``vtg.library.search``
  minus the text encoding, which does not depend on the library's size), ``--top 20``, at most 3
  moments per video (so 14 candidate videos are localised).

It prints medians, the growth ratios 100h/10h and 1000h/100h (linear growth: ~10), frames scanned
per second, and the peak heap memory of one search and of one numpy-path scan (tracemalloc:
numpy's allocations, without the file-backed pages of the memory-mapped shards, which are the OS
page cache) next to the size of one shard's float32 copy and of the whole library in float32. The shards stay in the page cache between
rounds when memory allows ("warm"); the figures say so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vtg.library import open_library  # noqa: E402
from vtg.library.scan import BLOCK_BYTES, dot_scores, scan  # noqa: E402
from vtg.library.search import default_candidates, rank  # noqa: E402
from vtg.library.store import DEFAULT_SHARD_BYTES  # noqa: E402
from vtg.llm.types import Decomposition  # noqa: E402
from vtg.methods.tfvtg import TFVTG  # noqa: E402
from vtg.methods.tfvtg.encoded import TFVTGQuery  # noqa: E402


def unit_pool(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


def build(folder: Path, hours: int, dim: int, video_minutes: int, seed: int) -> dict:
    """A library of ``hours`` of 1-fps video written through the shard writer."""
    pool = unit_pool(20_000, dim, seed)
    rng = np.random.default_rng(seed + hours)
    frames = video_minutes * 60
    videos = max(1, round(hours * 60 / video_minutes))
    t0 = time.perf_counter()
    with open_library(folder, create=True) as lib, \
            lib.writer(encoder="synthetic", fingerprint="0", max_age=float("inf")) as w:  # full shards only
        for i in range(videos):
            feats = pool[rng.integers(0, len(pool), frames)]
            w.add(Path(f"/synthetic/{hours}h/video{i:05d}.mp4"), features=feats,
                  times=np.arange(frames, dtype=np.float64), duration=float(frames), encoder="synthetic", fps=1.0,
                  key=f"{i}", size=frames, mtime_ns=i)
    shards = len(list((folder / "shards").glob("*.times.npy")))
    nbytes = sum(p.stat().st_size for p in (folder / "shards").iterdir())
    return {"hours": hours, "videos": videos, "frames": videos * frames, "shards": shards,
            "bytes": nbytes, "build_s": round(time.perf_counter() - t0, 2)}


def prepared_query(dim: int, seed: int) -> TFVTGQuery:
    """What ``TFVTG.encode_query`` returns for a one-sentence query, with a random text vector."""
    q = np.random.default_rng(seed).standard_normal((1, dim)).astype(np.float32)
    q /= np.linalg.norm(q)
    return TFVTGQuery("synthetic query", q, Decomposition.whole("synthetic query", "rules"), "minmax",
                         lambda feats, cols: feats @ cols.T, False)


def one_search(view, searcher, prepared, top: int):
    return rank(view, searcher, prepared, top=top, candidates=default_candidates(top, 3), per_video=3,
                library="bench", encoder="synthetic")


def peak_heap(fn) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--video-minutes", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--folder", type=Path, default=None, help="Where to build the libraries (default: a temp folder, removed).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--skip-numpy", action="store_true", help="Do not time the scan without torch.")
    args = ap.parse_args()
    try:
        import torch  # noqa: F401  (a real search has it loaded: the text encoder needs it)
    except ImportError:
        print("torch is not installed: the scan widens blocks to float32 (numpy path)")

    need = sum(h * 3600 * args.dim * 2 for h in args.hours)
    base = args.folder or Path(tempfile.mkdtemp(prefix="vtg-bench-library-"))
    base.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(base).free
    if need > 0.9 * free:
        sys.exit(f"needs {need / 2**30:.1f} GiB of float16 shards, {free / 2**30:.1f} GiB free in {base}; "
                 "use a smaller --dim or fewer --hours")
    searcher = TFVTG()
    prepared = prepared_query(args.dim, args.seed + 1)
    libs, info = {}, {}
    try:
        for hours in args.hours:
            folder = base / f"lib-{hours}h-d{args.dim}"
            if not (folder / "manifest.sqlite").is_file():
                info[hours] = build(folder, hours, args.dim, args.video_minutes, args.seed)
                print(f"built {hours} h: {info[hours]}", flush=True)
            lib = open_library(folder)
            libs[hours] = lib
            view = lib.view()
            info.setdefault(hours, {"hours": hours, "videos": len(view.videos),
                                    "frames": sum(v.frames for v in view.videos), "shards": len(view.shards)})
            one_search(view, searcher, prepared, args.top)   # warm: page cache, window grids
        direction = prepared.direction()
        times = {h: {"scan": [], "numpy": [], "search": []} for h in args.hours}
        for _ in range(args.rounds):
            for hours in args.hours:
                view = libs[hours].view()
                t0 = time.perf_counter()
                scan(view, prepared.relevance)
                t1 = time.perf_counter()
                hits = one_search(view, searcher, prepared, args.top)
                t2 = time.perf_counter()
                if not args.skip_numpy:
                    scan(view, lambda block: dot_scores(block, direction, use_torch=False))
                t3 = time.perf_counter()
                times[hours]["scan"].append(t1 - t0)
                times[hours]["search"].append(t2 - t1)
                times[hours]["numpy"].append(t3 - t2)
        shard_rows = DEFAULT_SHARD_BYTES // (2 * args.dim)
        results = []
        for hours in args.hours:
            view = libs[hours].view()
            peak = peak_heap(lambda: one_search(view, searcher, prepared, args.top))
            numpy_peak = peak_heap(lambda: scan(view, lambda block: dot_scores(block, direction, use_torch=False)))
            largest_shard = max(s.rows for s in view.shards) * args.dim * 4
            row = dict(info[hours], dim=args.dim,
                       scan_ms=round(1000 * statistics.median(times[hours]["scan"]), 1),
                       search_ms=round(1000 * statistics.median(times[hours]["search"]), 1),
                       numpy_scan_ms=None if args.skip_numpy else round(1000 * statistics.median(times[hours]["numpy"]), 1),
                       mframes_per_s=round(info[hours]["frames"] / statistics.median(times[hours]["scan"]) / 1e6, 1),
                       peak_heap_mib=round(peak / 2**20, 1), numpy_peak_heap_mib=round(numpy_peak / 2**20, 1),
                       shard_f32_mib=round(largest_shard / 2**20, 1),
                       block_f32_mib=round(min(largest_shard, BLOCK_BYTES) / 2**20, 1),
                       library_f32_mib=round(info[hours]["frames"] * args.dim * 4 / 2**20, 1),
                       hits=sum(len(g.moments) for g in hits), rounds=args.rounds)
            results.append(row)
        ratios = {}
        for a, b in zip(args.hours, args.hours[1:]):
            ra = [tb / ta for ta, tb in zip(times[a]["search"], times[b]["search"])]
            rs = [tb / ta for ta, tb in zip(times[a]["scan"], times[b]["scan"])]
            ratios[f"{b}h/{a}h"] = {"search": round(statistics.median(ra), 2), "scan": round(statistics.median(rs), 2),
                                    "size": round(b / a, 2)}
            if not args.skip_numpy:
                rn = [tb / ta for ta, tb in zip(times[a]["numpy"], times[b]["numpy"])]
                ratios[f"{b}h/{a}h"]["numpy_scan"] = round(statistics.median(rn), 2)
        print(f"\nlibrary search, 1 fps, D={args.dim}, float16 shards ({shard_rows} frames each), "
              f"top {args.top}, medians of {args.rounds} alternating rounds, warm process and page cache")
        print(f"{'hours':>6} {'frames':>10} {'shards':>6} {'scan ms':>9} {'search ms':>10} {'Mframes/s':>9} "
              f"{'numpy scan ms':>13} {'peak heap MiB':>13} {'numpy peak MiB':>14} {'1 shard f32 MiB':>15} "
              f"{'library f32 MiB':>15}")
        for r in results:
            print(f"{r['hours']:>6} {r['frames']:>10} {r['shards']:>6} {r['scan_ms']:>9} {r['search_ms']:>10} "
                  f"{r['mframes_per_s']:>9} {str(r['numpy_scan_ms']):>13} {r['peak_heap_mib']:>13} "
                  f"{r['numpy_peak_heap_mib']:>14} "
                  f"{r['shard_f32_mib']:>15} {r['library_f32_mib']:>15}")
        for k, v in ratios.items():
            extra = f", numpy scan x{v['numpy_scan']}" if "numpy_scan" in v else ""
            print(f"growth {k}: search x{v['search']}, scan x{v['scan']}{extra} (library x{v['size']})")
        if args.json:
            args.json.write_text(json.dumps({"results": results, "ratios": ratios}, indent=1))
    finally:
        for lib in libs.values():
            lib.close()
        if args.folder is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

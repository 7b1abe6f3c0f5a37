"""Benchmark many queries through the Python API against `vtg batch`, per query, warm.

The README says models stay warm in the process, so a user with many sentences may write a loop
of ``vtg.ground`` calls, call ``vtg.ground(video, [q1, q2, ...])`` once per video, or write a
JSONL file for ``vtg batch``. This script indexes 3 synthetic clips (ffmpeg testsrc2, 480x270,
30 fps, H.264) with a tiny randomly initialised CLIP (vtg.encoders.testing; the figures measure
vtg's per-query machinery, not a large model), then alternates, in one process, rounds of

* ``batch``: :func:`vtg.batch.run_batch` over a JSONL of the 90 (video, sentence) pairs (what
  ``vtg batch`` runs, minus the interpreter start-up; it fsyncs every record by default),
* ``batch-nofsync``: the same with ``fsync=False`` (``vtg batch --no-fsync``), the cheaper baseline,
* ``loop``: 90 calls ``vtg.ground(video_path, sentence, encoder=..., device="cpu")``,
* ``multi``: 3 calls ``vtg.ground(video_path, [30 sentences], ...)``,

all on cached features (every round clears the text-embedding cache first, so every sentence
runs through the text tower). It prints each one's median ms per query over ``--rounds`` rounds,
wall clock and CPU time of this process (all its threads; steadier on a shared machine), and the
ratios to batch (medians of the per-round ratios; goal for ``loop``: at most 2x).

    python benchmarks/bench_api_loop.py
    python benchmarks/bench_api_loop.py --rounds 9
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

SUBJECTS = ["a person", "a man", "a woman", "someone", "a child", "the cook"]
ACTIONS = ["opens the door", "sits down", "walks to the table", "picks up a phone", "drinks from a cup"]
PLACES = ["", " in the kitchen", " near the window"]


def sentences(n: int) -> list[str]:
    """``n`` distinct sentences (single events: rules decomposition keeps them whole)."""
    combos = itertools.product(SUBJECTS, ACTIONS, PLACES)
    out = [f"{s} {a}{p}" for s, a, p in combos]
    if len(out) < n:
        raise SystemExit(f"only {len(out)} distinct sentences available")
    return out[:n]


def make_videos(root: Path, count: int, duration: float) -> list[Path]:
    import imageio_ffmpeg

    videos = []
    for v in range(count):
        path = root / f"clip{v}.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                        "-i", f"testsrc2=size=480x270:rate=30:duration={duration}", "-vf", f"hue=h={v * 40}",
                        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)], check=True)
        videos.append(path)
    return videos


def per_video(videos: list[Path], texts: list[str]) -> dict[Path, list[str]]:
    share = len(texts) // len(videos)
    return {v: texts[i * share:(i + 1) * share] for i, v in enumerate(videos)}


def run_batch_round(src: Path, out: Path, options: dict, fsync: bool = True) -> float:
    from vtg.batch import run_batch

    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    summary = run_batch(src, out, method="tfvtg", options=options, fsync=fsync)
    spent = time.perf_counter() - t0
    assert summary.ok == summary.lines, f"{summary.failed} lines failed: see {out}"
    return spent


def run_loop_round(work: dict[Path, list[str]], options: dict) -> float:
    import vtg

    t0 = time.perf_counter()
    for video, texts in work.items():
        for text in texts:
            vtg.ground(str(video), text, **options)
    return time.perf_counter() - t0


def run_multi_round(work: dict[Path, list[str]], options: dict) -> float:
    import vtg

    t0 = time.perf_counter()
    for video, texts in work.items():
        results = vtg.ground(str(video), texts, **options)
        assert len(results) == len(texts)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--queries", type=int, default=90)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per clip")
    ap.add_argument("--no-multi", action="store_true", help="skip the multi-query call (an older vtg)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vtg-bench-api-") as tmp:
        root = Path(tmp)
        os.environ["VTG_CACHE_DIR"] = str(root / "cache")
        from vtg.encoders.testing import tiny_hf_clip
        from vtg.engine import default_manager
        from vtg.registry import load_method

        options = {"encoder": str(tiny_hf_clip(root / "tiny-clip")), "device": "cpu"}
        videos = make_videos(root, args.videos, args.duration)
        method = load_method("tfvtg", **options)
        for v in videos:  # index once: every round below reads cached features
            method.prepare(v)
        work = per_video(videos, sentences(args.queries))
        src = root / "queries.jsonl"
        src.write_text("".join(json.dumps({"qid": f"q{i}", "video": str(v), "query": t}) + "\n"
                               for i, (v, t) in enumerate((v, t) for v, ts in work.items() for t in ts)))
        n = sum(len(t) for t in work.values())
        runs = {"batch": lambda: run_batch_round(src, root / "out.jsonl", options),
                "batch-nofsync": lambda: run_batch_round(src, root / "out.jsonl", options, fsync=False),
                "loop": lambda: run_loop_round(work, options)}
        if not args.no_multi:
            runs["multi"] = lambda: run_multi_round(work, options)
        for fn in runs.values():  # warm-up: torch, the text tower, the rules backend
            fn()
        ms: dict[str, list[float]] = {k: [] for k in runs}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.rounds):
            for name, fn in runs.items():
                default_manager().text_cache.clear()
                before = time.process_time()
                ms[name].append(1000 * fn() / n)
                cpu[name].append(1000 * (time.process_time() - before) / n)
        load = os.getloadavg()
        print(f"{n} distinct sentences over {args.videos} indexed clips, tfvtg + tiny CLIP on cpu, "
              f"{args.rounds} alternating rounds, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        for label, table in (("wall", ms), ("cpu", cpu)):
            print(f"{label + ' ms/query':<15}{'median':>9}{'x batch':>9}{'x batch-nofsync':>17}"
                  "   (ratios: medians of per-round ratios)")
            for name, values in table.items():
                ratios = [statistics.median(v / b for v, b in zip(values, table[base]))
                          for base in ("batch", "batch-nofsync")]
                print(f"  {name:<13}{statistics.median(values):>9.2f}{ratios[0]:>9.2f}{ratios[1]:>17.2f}   rounds: "
                      + " ".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    main()

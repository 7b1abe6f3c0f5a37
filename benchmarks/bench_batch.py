"""Benchmark `vtg batch`: queries per second and the share of time spent decoding, per engine.

Builds 20 synthetic videos (ffmpeg testsrc2, 480x270, 30 fps, H.264, default 20 s each) and 200
queries (10 per video), then runs the same input through the local engine (1 and 2 workers) and
the Ray engine (2 actors on a local cluster), each with a cold feature cache. torch runs one
intra-op thread per process/actor by default (``--torch-threads``), as Ray gives its 1-CPU actors:
on an oversubscribed machine torch's OpenMP pool in the main thread otherwise dominates the
timings. The method is the real TFVTG (default preset, rules decomposition) with a tiny randomly
initialised CLIP encoder (vtg.encoders.testing), so the figures measure the batch machinery plus
real decoding, not a large model; its subclass here adds the ``prepare`` hook that ``--workers``
uses to prefetch features. Decode time is measured inside every process (threads, Ray actors) by
timing the frame iterator, and summed.

    python benchmarks/bench_batch.py                    # the figures in docs/batch.md
    python benchmarks/bench_batch.py --videos 4 --queries 20 --duration 5 --engines local
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUERIES = ["a person opens the door", "a man walks", "a woman sits down", "a dog runs", "person picks phone",
           "a person stands up", "red car", "a cat walks", "a man closes the door", "woman walks kitchen table"]


def install_decode_timer() -> None:
    """Time every step of vtg.video.iter_frames in this process; append totals to $BENCH_DECODE_LOG."""
    import vtg.features
    import vtg.video

    if getattr(vtg.video.iter_frames, "_bench_timed", False):
        return
    original = vtg.video.iter_frames

    def timed(*args, **kwargs):
        it = original(*args, **kwargs)
        spent = 0.0
        try:
            while True:
                t0 = time.perf_counter()
                try:
                    batch = next(it)
                except StopIteration:
                    break
                spent += time.perf_counter() - t0
                yield batch
        finally:
            with open(os.environ["BENCH_DECODE_LOG"], "a") as fh:
                fh.write(f"{spent}\n")

    timed._bench_timed = True
    vtg.video.iter_frames = timed


from vtg.methods.tfvtg.method import TFVTG  # noqa: E402


class TimedTFVTG(TFVTG):
    """TFVTG with decode timing and the ``prepare`` hook (features cached ahead of the queries)."""

    name = "tfvtg-timed"

    def __init__(self, *args, **kwargs):
        install_decode_timer()
        super().__init__(*args, **kwargs)

    def prepare(self, video, *, progress: bool = False) -> None:
        from vtg.encoders import load_encoder
        from vtg.features import video_features
        from vtg.methods.tfvtg.presets import get_preset

        fps = float(self.config.fps or get_preset(self.config.preset).fps)
        video_features(video, load_encoder(self.config.encoder, device=self.config.device), fps)


def make_inputs(root: Path, n_videos: int, n_queries: int, duration: float) -> Path:
    import imageio_ffmpeg

    lines = []
    for v in range(n_videos):
        path = root / f"video{v:02d}.mp4"
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
               "-i", f"testsrc2=size=480x270:rate=30:duration={duration}", "-vf", f"hue=h={v * 17}",
               "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)]
        subprocess.run(cmd, check=True)
        for q in range(n_queries // n_videos):
            lines.append({"qid": f"v{v}-q{q}", "video": str(path), "query": QUERIES[q % len(QUERIES)]})
    src = root / "queries.jsonl"
    src.write_text("".join(json.dumps(l) + "\n" for l in lines))
    return src


def run_once(src: Path, root: Path, encoder: str, engine: str, workers: int, tag: str = "") -> dict:
    from vtg.batch import run_batch

    tag = tag or f"{engine}-{workers}"
    os.environ["VTG_CACHE_DIR"] = str(root / f"cache-{tag}")  # cold cache for every run
    os.environ["BENCH_DECODE_LOG"] = str(root / f"decode-{tag}.log")
    from vtg.batch.journal import Journal

    first: list[float] = []
    append = Journal.append

    def timed_append(self, record):  # when the first result reaches the output
        if not first:
            first.append(time.perf_counter())
        append(self, record)

    Journal.append = timed_append
    start = time.perf_counter()
    try:
        summary = run_batch(src, root / f"out-{tag}.jsonl", engine=engine, method="tfvtg-timed",
                            options={"encoder": encoder, "device": "cpu"}, workers=workers)
    finally:
        Journal.append = append
    wall = time.perf_counter() - start
    decode = sum(float(x) for x in Path(os.environ["BENCH_DECODE_LOG"]).read_text().split())
    assert summary.ok == summary.lines, f"{summary.failed} lines failed: see {root / f'out-{tag}.jsonl'}"
    return {"engine": engine, "workers": workers, "queries": summary.lines, "wall_s": round(wall, 2),
            "queries_per_s": round(summary.lines / wall, 2), "decode_s": round(decode, 2),
            "decode_fraction": round(decode / (wall * workers), 3), "first_result_s": round(first[0] - start, 2)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per video")
    ap.add_argument("--engines", default="local:1,local:2,ray:2", help="engine:workers,...")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch intra-op threads in this process (Ray gives each 1-CPU actor 1 thread)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.torch_threads)

    sys.path.insert(0, str(HERE))
    from vtg.encoders.testing import tiny_hf_clip
    from vtg.registry import RUNTIME_METHODS

    RUNTIME_METHODS["tfvtg-timed"] = "bench_batch:TimedTFVTG"
    with tempfile.TemporaryDirectory(prefix="vtg-bench-batch-") as tmp:
        root = Path(tmp)
        encoder = str(tiny_hf_clip(root / "tiny-clip"))
        src = make_inputs(root, args.videos, args.queries, args.duration)
        os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
        warm = root / "warm.jsonl"  # load torch, the encoder and the LLM rules once, outside the timings
        warm.write_text(src.read_text().splitlines()[0] + "\n")
        run_once(warm, root, encoder, "local", 1, tag="warm-up")
        rows = []
        for i, spec in enumerate(args.engines.split(",")):
            engine, _, workers = spec.partition(":")
            tag = f"{i}-{engine}-{workers}"
            if engine == "ray":
                rows.append(run_ray(src, root, encoder, int(workers or 2), tag))
            else:
                rows.append(run_once(src, root, encoder, engine, int(workers or 1), tag))
            print(json.dumps(rows[-1]), flush=True)
        print(f"\n{args.queries} queries over {args.videos} videos of {args.duration:g} s (480x270, 30 fps), "
              f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}), tfvtg + tiny CLIP on cpu, "
              f"{args.torch_threads} torch thread(s)")
        print(f"{'engine':<10}{'workers':>8}{'wall s':>9}{'queries/s':>11}{'decode s':>10}{'decode share':>14}"
              f"{'first result s':>16}")
        for r in rows:
            print(f"{r['engine']:<10}{r['workers']:>8}{r['wall_s']:>9}{r['queries_per_s']:>11}{r['decode_s']:>10}"
                  f"{r['decode_fraction']:>14.1%}{r['first_result_s']:>16}")


def run_ray(src: Path, root: Path, encoder: str, workers: int, tag: str) -> dict:
    """Start the local cluster first (its start-up, ~10 s, is reported apart from the batch)."""
    import ray

    # Ray workers inherit the environment at start-up: point them at this run's cache and log first
    os.environ["VTG_CACHE_DIR"] = str(root / f"cache-{tag}")
    os.environ["BENCH_DECODE_LOG"] = str(root / f"decode-{tag}.log")
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="warning")
    print(f"ray start-up: {time.perf_counter() - t0:.1f} s", flush=True)
    try:
        return run_once(src, root, encoder, "ray", workers, tag)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()

"""Benchmark `vtg batch`: queries per second and the share of time spent decoding, per engine.

Builds 20 synthetic videos (ffmpeg testsrc2, 480x270, 30 fps, H.264, default 20 s each) and 200
queries (10 per video), then runs the same input through the local engine (1 and 2 workers) and
the Ray engine (2 actors on a local cluster), each with a cold feature cache. The method is the
real TFVTG (default preset, rules decomposition) with a tiny randomly initialised CLIP encoder
(vtg.encoders.testing), so the figures measure the batch machinery plus real decoding, not a
large model. Decode time is measured inside every process (threads, Ray actors) by timing the
frame iterator, and summed.

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


def run_once(src: Path, root: Path, encoder: str, engine: str, workers: int) -> dict:
    from vtg.batch import run_batch

    tag = f"{engine}-{workers}"
    os.environ["VTG_CACHE_DIR"] = str(root / f"cache-{tag}")  # cold cache for every run
    os.environ["BENCH_DECODE_LOG"] = str(root / f"decode-{tag}.log")
    start = time.perf_counter()
    summary = run_batch(src, root / f"out-{tag}.jsonl", engine=engine, method="tfvtg-timed",
                        options={"encoder": encoder, "device": "cpu"}, workers=workers)
    wall = time.perf_counter() - start
    decode = sum(float(x) for x in Path(os.environ["BENCH_DECODE_LOG"]).read_text().split())
    assert summary.ok == summary.lines, f"{summary.failed} lines failed: see {root / f'out-{tag}.jsonl'}"
    return {"engine": engine, "workers": workers, "queries": summary.lines, "wall_s": round(wall, 2),
            "queries_per_s": round(summary.lines / wall, 2), "decode_s": round(decode, 2),
            "decode_fraction": round(decode / (wall * workers), 3)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per video")
    ap.add_argument("--engines", default="local:1,local:2,ray:2", help="engine:workers,...")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(HERE))
    from vtg.encoders.testing import tiny_hf_clip
    from vtg.methods import REGISTRY

    REGISTRY["tfvtg-timed"] = "bench_batch:TimedTFVTG"
    with tempfile.TemporaryDirectory(prefix="vtg-bench-batch-") as tmp:
        root = Path(tmp)
        encoder = str(tiny_hf_clip(root / "tiny-clip"))
        src = make_inputs(root, args.videos, args.queries, args.duration)
        os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
        rows = []
        for spec in args.engines.split(","):
            engine, _, workers = spec.partition(":")
            if engine == "ray":
                rows.append(run_ray(src, root, encoder, int(workers or 2)))
            else:
                rows.append(run_once(src, root, encoder, engine, int(workers or 1)))
            print(json.dumps(rows[-1]), flush=True)
        print(f"\n{args.queries} queries over {args.videos} videos of {args.duration:g} s (480x270, 30 fps), "
              f"{os.cpu_count()} CPUs, tfvtg + tiny CLIP on cpu")
        print(f"{'engine':<10}{'workers':>8}{'wall s':>9}{'queries/s':>11}{'decode s':>10}{'decode share':>14}")
        for r in rows:
            print(f"{r['engine']:<10}{r['workers']:>8}{r['wall_s']:>9}{r['queries_per_s']:>11}{r['decode_s']:>10}"
                  f"{r['decode_fraction']:>14.1%}")


def run_ray(src: Path, root: Path, encoder: str, workers: int) -> dict:
    """Start the local cluster first (its start-up, ~10 s, is reported apart from the batch)."""
    import ray

    os.environ["BENCH_DECODE_LOG"] = str(root / f"decode-ray-{workers}.log")
    os.environ["VTG_CACHE_DIR"] = str(root / f"cache-ray-{workers}")
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="warning")
    print(f"ray start-up: {time.perf_counter() - t0:.1f} s", flush=True)
    try:
        return run_once(src, root, encoder, "ray", workers)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()

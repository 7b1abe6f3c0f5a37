"""Benchmark frame sampling: sequential PyAV decoding vs per-timestamp seeking (and decord).

Generates a synthetic 640x360 30 fps H.264 video (ffmpeg's testsrc2, default 5 minutes, x264
``veryfast`` with B-frames, key frame every ``--gop`` frames; x264's default is 250) in a temporary
directory, then samples it at 1 and 2 fps with each method and prints the median of ``--runs``
runs: sampled frames per second of wall time, how many times faster than real time, and the
seek/sequential time ratio. All methods return the same frames (tests/test_video_editlist.py).

    python benchmarks/bench_decode.py                 # the figures in docs/video.md
    python benchmarks/bench_decode.py --duration 60 --runs 1 --gop 30
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_video(path: Path, duration: float, gop: int) -> Path:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
           "-i", f"testsrc2=size=640x360:rate=30:duration={duration}", "-c:v", "libx264",
           "-preset", "veryfast", "-g", str(gop), "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True)
    return path


def sequential(path: Path, fps: float) -> int:
    from vtg.video import iter_frames

    return sum(len(batch) for batch in iter_frames(path, fps, backend="pyav"))


def seeking(path: Path, fps: float) -> int:
    from vtg.video import pyav_backend
    from vtg.video.sampling import target_times

    info = pyav_backend.probe(path)
    return sum(1 for _ in pyav_backend.seek_decode(path, info, target_times(info.duration, fps), None))


def with_decord(path: Path, fps: float) -> int:
    from vtg.video import iter_frames

    return sum(len(batch) for batch in iter_frames(path, fps, backend="decord"))


def median_seconds(fn, path: Path, fps: float, runs: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        count = fn(path, fps)
        times.append(time.perf_counter() - start)
    return statistics.median(times), count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="video length in seconds (default 300)")
    parser.add_argument("--gop", type=int, default=250, help="key-frame interval in frames (default 250)")
    parser.add_argument("--runs", type=int, default=3, help="runs per method, median reported (default 3)")
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 2.0], help="sampling rates (fps)")
    args = parser.parse_args(argv)

    import importlib.util

    methods = [("pyav sequential", sequential), ("pyav seek/target", seeking)]
    if importlib.util.find_spec("decord") is not None:
        methods.append(("decord", with_decord))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        video = make_video(Path(tmp) / "bench.mp4", args.duration, args.gop)
        print(f"video: {args.duration:.0f} s, 640x360, 30 fps, H.264 veryfast, GOP {args.gop} "
              f"(generated in {time.perf_counter() - start:.1f} s); median of {args.runs} runs")
        print(f"{'rate':>5}  {'method':<17} {'frames':>6} {'seconds':>8} {'frames/s':>9} {'x realtime':>10}")
        for fps in args.rates:
            base = None
            for name, fn in methods:
                seconds, count = median_seconds(fn, video, fps, args.runs)
                base = base or seconds
                ratio = f"  ({seconds / base:.1f}x the sequential time)" if fn is not sequential else ""
                print(f"{fps:>5g}  {name:<17} {count:>6d} {seconds:>8.2f} {count / seconds:>9.1f} "
                      f"{args.duration / seconds:>10.1f}{ratio}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

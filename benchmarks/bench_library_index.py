"""Index throughput: one ``vtg index DIR --library`` process vs one ``vtg index FILE`` process per file.

    python benchmarks/bench_library_index.py                    # 6 synthetic 20-s clips, 3 rounds
    python benchmarks/bench_library_index.py --videos 10 --seconds 30 --rounds 3

The videos are synthetic (coloured scenes, 320x240, 10 fps) and the encoder is the tests' tiny
random CLIP (``vtg.encoders.testing.tiny_hf_clip``), so no weights are downloaded; sampling is the
TFVTG preset's 3 fps. Each round runs both ways on a fresh, empty feature cache (so both decode and
encode every file), alternating which goes first; the figure is the median per-round ratio. What
the folder run saves is the per-process cost paid once per file otherwise: interpreter and torch
start-up, model load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import scene_frame, write_video  # noqa: E402

COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (120, 120, 120)]


def make_videos(folder: Path, count: int, seconds: float) -> list[Path]:
    out = []
    for i in range(count):
        scenes = [COLORS[(i + k) % len(COLORS)] for k in range(3)]
        per = int(seconds * 10 / 3)
        frames = (scene_frame(c, (320, 240), (i + k) % 3) for k, c in enumerate(scenes) for _ in range(per))
        out.append(write_video(folder / f"clip{i:02d}.mp4", frames, 10.0))
    return out


def vtg(args: list[str], cache: Path) -> None:
    env = dict(os.environ, VTG_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1")
    subprocess.run([sys.executable, "-m", "vtg.cli.main", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from vtg.encoders.testing import tiny_hf_clip

    base = Path(tempfile.mkdtemp(prefix="vtg-bench-index-"))
    try:
        model = tiny_hf_clip(base / "clip")
        folder = base / "videos"
        folder.mkdir()
        videos = make_videos(folder, args.videos, args.seconds)
        enc = ["--encoder", str(model), "--device", "cpu", "--no-progress"]

        def library_run(r: int) -> float:
            cache = base / f"cache-lib-{r}"
            t0 = time.perf_counter()
            vtg(["index", str(folder), "--library", "bench", *enc], cache)
            return time.perf_counter() - t0

        def per_file_run(r: int) -> float:
            cache = base / f"cache-files-{r}"
            t0 = time.perf_counter()
            for v in videos:
                vtg(["index", str(v), *enc], cache)
            return time.perf_counter() - t0

        lib_s, files_s, ratios = [], [], []
        for r in range(args.rounds):
            first, second = (library_run, per_file_run) if r % 2 == 0 else (per_file_run, library_run)
            a, b = first(r), second(r)
            lib, files = (a, b) if first is library_run else (b, a)
            lib_s.append(lib)
            files_s.append(files)
            ratios.append(files / lib)
        n = args.videos
        print(f"{n} clips of {args.seconds:.0f} s (320x240, 3 fps sampled, tiny CLIP), medians of {args.rounds} alternating rounds")
        print(f"one `vtg index DIR --library` process: {statistics.median(lib_s):.1f} s "
              f"({n / statistics.median(lib_s):.2f} videos/s)")
        print(f"one `vtg index FILE` process per file: {statistics.median(files_s):.1f} s "
              f"({n / statistics.median(files_s):.2f} videos/s)")
        print(f"folder run faster by x{statistics.median(ratios):.2f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

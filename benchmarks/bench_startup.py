"""Start-up of ``vtg index`` against ``python -c "import torch"`` (issue 22 goal: <= 1.5x).

``vtg index`` here indexes a 2-second clip with a tiny random open_clip model (``--refresh``, so
the model is built and the clip decoded every time): nearly all of it is start-up (imports, model
build). Also timed: ``import torch, open_clip`` (what the indexing path imported before
vtg.encoders.open_clip_import: torchvision's model zoo, torch's compiler stack, transformers, timm).
Fresh processes, alternating, medians; the machine's load average is printed with the figures.

    python benchmarks/bench_startup.py --rounds 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_index import make_video

    from vtg.encoders.testing import random_open_clip

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        video = make_video(root / "short.mp4", 2, "320x180")
        model = random_open_clip(root / "tiny")
        env = dict(os.environ, VTG_CACHE_DIR=str(root / "cache"))
        vtg = str(Path(sys.executable).with_name("vtg"))
        cases = {"import torch": [sys.executable, "-c", "import torch"],
                 "import torch, open_clip": [sys.executable, "-c", "import torch, open_clip"],
                 "vtg index (2-s clip, tiny model)": [vtg, "index", "-e", str(model), "--fps", "1", "--refresh",
                                                      "--offline", str(video)]}
        for cmd in cases.values():  # warm the page cache
            timed(cmd, env)
        seconds: dict[str, list[float]] = {name: [] for name in cases}
        loads = []
        for _ in range(args.rounds):
            for name, cmd in cases.items():
                seconds[name].append(timed(cmd, env))
            loads.append(os.getloadavg()[0])
    med = {name: statistics.median(v) for name, v in seconds.items()}
    base = med["import torch"]
    print(f"{os.cpu_count()} cores, load average during the rounds {min(loads):.1f}-{max(loads):.1f}; "
          f"medians of {args.rounds} alternating rounds")
    print("| command | median s | / import torch |\n|---|---|---|")
    for name, value in med.items():
        print(f"| {name} | {value:.2f} | {value / base:.2f}x |")
    print("goal: vtg index start-up <= 1.5x import torch")
    return 0


if __name__ == "__main__":
    sys.exit(main())

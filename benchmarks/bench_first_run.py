"""Benchmark what a new user waits for before the first answer or the first error.

Each round runs, in fresh processes with an empty HF cache, alternating:

* ``baseline``: ``python -c "import vtg.cli.main"`` (interpreter + CLI import, the floor);
* ``offline``: ``vtg ground CLIP "..." --encoder ViT-B-32/openai --offline`` -> the one-line
  "not cached" error (checked before torch is imported);
* ``unreachable``: ``vtg models download ViT-B-32/openai`` with ``HF_ENDPOINT`` at a closed port on
  127.0.0.1 -> the one-line "cannot reach the hub" error (no retries);
* ``download``: ``vtg models download vtg-test/tiny-clip`` from ``tests/hub_server.py`` (the tiny
  test model, so this measures the client's round trips, not bandwidth).

It prints the median wall time of each over ``--rounds`` and its ratio to the baseline measured in
the same run. No real network is used.

    python benchmarks/bench_first_run.py --rounds 5
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CLIP = ROOT.parent / "shared" / "data" / "videos" / "charades_example.mp4"


def timed(args: list[str], env: dict) -> tuple[float, int, str]:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    return time.perf_counter() - start, proc.returncode, proc.stderr.strip().splitlines()[-1:] and proc.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from hub_server import LocalHub, closed_port_url
    from vtg.encoders.testing import tiny_hf_clip

    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp, LocalHub({"vtg-test/tiny-clip": tiny_hf_clip(Path(tmp) / "clip")}) as hub:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_OFFLINE"))}
        video = str(CLIP) if CLIP.is_file() else __file__  # the offline check runs before decoding either way
        cases = {
            "baseline": ([py, "-c", "import vtg.cli.main"], {}),
            "offline": ([py, "-m", "vtg.cli.main", "ground", video, "a person sits down on the floor",
                         "--encoder", "ViT-B-32/openai", "--offline"], {}),
            "unreachable": ([py, "-m", "vtg.cli.main", "models", "download", "ViT-B-32/openai"],
                            {"HF_ENDPOINT": closed_port_url()}),
            "download": ([py, "-m", "vtg.cli.main", "models", "download", "vtg-test/tiny-clip"], {"HF_ENDPOINT": hub.url}),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        last: dict[str, str] = {}
        for r in range(args.rounds):
            for name, (cmd, extra) in cases.items():
                env = dict(base, HF_HOME=str(Path(tmp) / f"hf-{name}-{r}"), HOME=str(Path(tmp) / "home"),
                           VTG_CACHE_DIR=str(Path(tmp) / "vtg"), **extra)
                seconds, code, line = timed(cmd, env)
                times[name].append(seconds)
                last[name] = f"exit {code}: {line[:110]}"
        floor = statistics.median(times["baseline"])
        print(f"{'case':<12} {'median s':>9} {'x baseline':>11}  last stderr line")
        for name, values in times.items():
            med = statistics.median(values)
            print(f"{name:<12} {med:9.2f} {med / floor:11.2f}  {last[name]}")


if __name__ == "__main__":
    main()

"""Benchmark: what running CPU forward passes at one fixed thread count (vtg.determinism) costs.

Encodes the same frames with open_clip's full-size ViT-B/32 (random weights: speed does not depend
on their values) twice per round: with vtg's fixed single-thread forward (what vtg does) and with
torch's default intra-op threads (what vtg did before, results depending on the thread count).
Rounds alternate the two modes so a busy machine's load hits both alike; medians and their ratio.
Also reports whether the two modes gave the same features (they need not: that is the point).

    python benchmarks/bench_determinism.py                # 64 frames, 5 rounds
    python benchmarks/bench_determinism.py --frames 256 --rounds 3
    python benchmarks/bench_determinism.py --concurrent 2 # N threads encoding at once (--workers)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def encode_seconds(enc, frames: np.ndarray, concurrent: int) -> float:
    """Wall seconds for ``concurrent`` threads each encoding ``frames``."""
    threads = [threading.Thread(target=enc.encode_images, args=(frames,)) for _ in range(concurrent)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def main() -> None:
    import open_clip
    import torch

    from vtg import determinism
    from vtg.encoders import load_encoder
    from vtg.encoders.testing import random_open_clip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrent", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        enc = load_encoder(str(random_open_clip(Path(tmp) / "vitb32", open_clip.get_model_config("ViT-B-32"))),
                           device="cpu")
    frames = np.random.default_rng(0).integers(0, 256, (args.frames, 224, 224, 3), dtype=np.uint8)
    default_threads = torch.get_num_threads()
    enc.encode_images(frames[:4])  # warm-up: first-call allocations and kernels
    times: dict[str, list[float]] = {"fixed": [], "default": []}
    outputs = {}
    for _ in range(args.rounds):
        for mode in ("fixed", "default"):
            determinism.FORWARD_THREADS = 1 if mode == "fixed" else default_threads
            times[mode].append(encode_seconds(enc, frames, args.concurrent))
            outputs[mode] = enc.encode_images(frames[:7])  # a partial batch, where threads mattered
    fixed, default = statistics.median(times["fixed"]), statistics.median(times["default"])
    n = args.frames * args.concurrent
    print(f"ViT-B/32 fp32 on CPU, {n} frames ({args.concurrent} thread(s) at once), torch default "
          f"{default_threads} intra-op threads, median of {args.rounds} rounds")
    print(f"  fixed 1 thread per forward: {fixed:.2f} s ({n / fixed:.1f} frames/s)")
    print(f"  default threads:            {default:.2f} s ({n / default:.1f} frames/s)")
    print(f"  cost of determinism: {fixed / default:.2f}x the time")
    print(f"  same 7-frame features in both modes: {np.array_equal(outputs['fixed'], outputs['default'])}")


if __name__ == "__main__":
    main()

"""Inference cost of the DETR family (released sizes, random weights) and of SlowFast R50 features.

    python benchmarks/bench_detr.py [--threads 2] [--repeats 20]

Prints the median forward time of Moment-DETR / QD-DETR / CG-DETR on 75 clips (150 s) and 20
query tokens, with the windowed path on 30 min of video (900 clips), and the median time of
SlowFast 8x8 R50 per 2-s clip. Timings go here, not in tests (the machine is shared).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from vtg.methods.detr.config import DetrConfig
from vtg.methods.detr.decode import clip_windows
from vtg.methods.detr.method import run_network
from vtg.methods.detr.weights import build_network
from vtg.slowfast.network import SlowFastR50

RELEASED = {"moment_detr": {}, "qd_detr": {}, "cg_detr": dict(enc_layers=3, dec_layers=3, num_prompts=1)}


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(20, 512)).astype(np.float32)
    for family, extra in RELEASED.items():
        net = build_network(DetrConfig(family=family, **extra)).eval()
        params = sum(p.numel() for p in net.parameters()) / 1e6
        clips = rng.normal(size=(75, 514)).astype(np.float32)
        one = median_ms(lambda: run_network(net, clips, tokens, "cpu"), args.repeats)
        pieces = clip_windows(900, 75)
        long = median_ms(lambda: [run_network(net, clips, tokens, "cpu") for _ in pieces], max(3, args.repeats // 5))
        print(f"{family:12s} {params:5.1f} M params: 75 clips {one:7.1f} ms; 30 min ({len(pieces)} windows) {long:8.1f} ms")
    sf = SlowFastR50().eval()
    fast = torch.randn(1, 3, 32, 224, 224)
    slow = fast[:, :, torch.linspace(0, 31, 8).long()]
    with torch.inference_mode():
        ms = median_ms(lambda: sf(slow, fast), max(3, args.repeats // 5))
    print(f"SlowFast R50 {sum(p.numel() for p in sf.parameters()) / 1e6:5.1f} M params: {ms:7.1f} ms per 2-s clip "
          f"({2000 / ms:.1f}x real time) on {args.threads} threads")


if __name__ == "__main__":
    main()

"""TFVTG's localizer on a similarity curve you computed yourself (no model, runs offline).

Researchers often have their own per-frame query similarity (from any vision-language model).
`vtg.methods.tfvtg.localize` turns such a curve into ranked moments with TFVTG's static and
dynamic scores and NMS. Here the curve is synthetic: a 30 s clip sampled at 3 fps whose
similarity rises around 12-18 s, the shape BLIP-2 gives for a matching event.

Scores are confidences relative to the best window (1.0). TFVTG's static score is the mean
similarity inside a window minus the mean of the above-mask frames outside it, so a window that
cuts the one event in half scores below zero: here only #1 is supported, and the negative
confidences of #2 and #3 say so (the reference code ranks them the same way).
"""

import numpy as np

from vtg.methods.tfvtg import localize


def main() -> None:
    duration, fps = 30.0, 3.0
    t = np.arange(int(duration * fps)) / fps
    rng = np.random.default_rng(0)
    similarity = 0.18 + 0.22 * np.exp(-(((t - 15.0) / 3.0) ** 4)) + rng.normal(0, 0.005, t.size)

    for rank, m in enumerate(localize(similarity, duration, preset="charades", top_k=3), 1):
        print(f"#{rank}: {m.start:5.1f} s - {m.end:5.1f} s   score {m.score:.3f}")


if __name__ == "__main__":
    main()

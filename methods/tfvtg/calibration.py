"""Putting similarity curves from other encoders on the scale TFVTG's thresholds expect.

The mask (0.2) and rise (0.0005) thresholds of the reference were set on BLIP-2 ITC similarities
(max over the 32 Q-Former query tokens). The localiser's ranking is invariant to a positive
rescaling of the curve *if the thresholds rescale with it*, but the two thresholds are absolute
numbers, and encoders live on very different scales: CLIP text-image cosines sit around 0.2-0.35
for matches and non-matches alike (a 0.2 mask keeps nearly everything), SigLIP's sit near 0 (a 0.2
mask removes everything), and an image query gives 1.0 for identical frames and often > 0.8 for
unrelated ones. Reusing 0.2 there is meaningless, so curves are recalibrated:

* ``none``: the raw similarity (BLIP-2 with a text query: the reference setting);
* ``minmax``: per curve, ``(s - min) / (max - min)``, so the least similar frame is 0 and the most
  similar 1. The mask then removes the bottom fifth of the video's own similarity range, masked
  frames sit at 0 below every kept frame as in the reference, and the rise threshold is a noise
  floor of 0.05 % of the range. It needs no per-encoder constants, works for image queries, and
  keeps rankings of windows unchanged under any affine change of the encoder's scale. Its price:
  a video that does not contain the query still gets a full 0..1 range, so there is always an
  answer (as with the reference on most videos);
* ``affine:a,b``: ``a * s + b`` with constants the user fitted on their own data (for instance by
  mapping their encoder's typical non-match and match similarities onto BLIP-2's), when absolute
  evidence should be kept.

``auto`` picks ``none`` for BLIP-2 text queries and ``minmax`` for every other encoder and for
image queries.
"""

from __future__ import annotations

import numpy as np

from vtg.errors import UsageError

CALIBRATIONS = ("auto", "none", "minmax", "affine:<scale>,<shift>")


def resolve(spec: str, family: str, image_query: bool) -> str:
    """The concrete calibration for ``auto`` (see module docstring)."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return "none" if family == "blip2" and not image_query else "minmax"
    parse(spec)
    return spec


def check(spec: str) -> None:
    """Raise UsageError now for a calibration that :func:`resolve` would reject later."""
    if (spec or "auto").strip().lower() != "auto":
        parse(spec)


def parse(spec: str) -> tuple[str, float, float]:
    """``(kind, scale, shift)``; raises UsageError for an unknown spec."""
    spec = spec.strip().lower()
    if spec in ("none", "minmax"):
        return spec, 1.0, 0.0
    if spec.startswith("affine:"):
        try:
            scale, shift = (float(v) for v in spec.split(":", 1)[1].split(","))
        except ValueError:
            raise UsageError(f"calibration {spec!r} must look like affine:<scale>,<shift>, e.g. affine:2.0,-0.2") from None
        if scale <= 0:
            raise UsageError(f"calibration scale must be positive, got {scale}")
        return "affine", scale, shift
    raise UsageError(f"unknown calibration {spec!r}; choose one of: {', '.join(CALIBRATIONS)}")


def calibrate(scores, spec: str = "minmax") -> np.ndarray:
    """Recalibrated copy of a 1-D similarity curve. A flat curve maps to all ones.

    ``none`` keeps a float32 curve in float32: the reference compares its float32 similarities
    with the 0.2 mask in float32, where a frame at exactly ``float32(0.2)`` (0.2000000030) is
    masked; widened to float64 it would lie above 0.2 and be kept. The others return float64.
    """
    kind, scale, shift = parse(spec)
    if kind == "none":
        raw = np.asarray(scores)
        return np.array(raw, dtype=np.result_type(raw.dtype, np.float32), copy=True)
    s = np.asarray(scores, dtype=np.float64)
    if kind == "affine":
        return scale * s + shift
    if s.size == 0:
        return s.copy()
    lo, hi = float(s.min()), float(s.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.ones_like(s)
    return (s - lo) / (hi - lo)

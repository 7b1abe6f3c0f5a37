"""The plan line: how many frames, with which model, on which device, and about how long.

A 10-minute video at TFVTG's 3 fps preset is 1,845 frames, eleven minutes of ViT-B/32 on a CPU and
hours of BLIP-2: the user should know before the wait starts, and learn that ``--fps`` trades
temporal resolution for time. The estimate comes from, in order:

1. this machine's own record: the feature cache's entries for the same encoder store how many
   frames took how long (median frames per second of up to 20 recent entries made on the same
   kind of device in the same precision, ``vtg --precision``);
2. a table: image-tower GFLOPs per frame of known model sizes (ViT-B/32 4.4 ... ViT-g/14 268,
   the published profiles of these architectures) over an effective throughput per device kind
   (CPU 12 GFLOP/s, the ViT-B/32 rate measured on this project's 2-core CI machine; CUDA
   20 TFLOP/s, fp16; bf16 on a CPU with bf16 units 3.5x the CPU figure), combined with decoding
   at ~150 frames/s.

It is printed as an estimate; models the table does not know get no time, only the frame count.
"""

from __future__ import annotations

import json
import math
import re
import statistics

from vtg.device import default_precision, encoder_precision
from vtg.encoders.specs import parse_spec
from vtg.errors import VtgError
from vtg.features import features_dir
from vtg.fileio import read_regular_text
from vtg.settings import current_settings

#: Image-tower GFLOPs per 224-px frame, matched against the lower-cased canonical spec in order.
GFLOPS = (
    (r"blip2|vit-g|vitg|giant|eva", 268.0),
    (r"so400m", 106.0),
    (r"vit-h|huge", 167.0),
    (r"l-14-336|patch14-336", 191.0),
    (r"vit-l|large", 81.0),
    (r"b-16|b16|patch16|siglip-base", 17.6),
    (r"b-32|b32|patch32", 4.4),
    (r"rn50", 5.4),
)
#: Effective encoder throughput (GFLOP/s) per device kind, and decoding (frames/s).
THROUGHPUT = {"cpu": 12.0, "cuda": 20000.0}
#: Encoder speed-up of bf16 over fp32 on a CPU with bf16 units (ViT-B/32, open_clip's mixed
#: precision, avx512_bf16, this project's 2-core machine: 70.5 vs 19.8 frames/s).
CPU_BF16_SPEEDUP = 3.5
#: Lowest cosine of bf16 ViT-B/32 features to fp32 ones measured (bench_index.py, 60-120 frames).
BF16_MIN_COSINE = 0.9999
DECODE_FPS = 150.0
#: Beyond this many seconds the plan suggests a lower --fps.
LONG_SECONDS = 120.0
FPS_CHOICES = (2.0, 1.0, 0.5, 0.25, 0.1)


def describe(frames: int | None, duration: float, fps: float | None, encoder: str,
             device: str) -> tuple[list[str], bool]:
    """(lines to print, whether the estimate is long) for sampling ``frames`` of a video."""
    rate, source = frames_per_second(encoder, device)
    count = f"{frames:,} frames" if frames is not None else "every frame"
    sampling = f"{fps:g} fps over {clock(duration)}" if fps is not None else f"all of {clock(duration)}"
    precision = encoder_precision(device)
    shown = "" if precision == default_precision(device) else f" ({precision})"
    head = f"vtg: plan: {count} ({sampling}) with {encoder} on {device}{shown}"
    if rate is None or frames is None:
        return [head + "; no time estimate for this model"], False
    seconds = frames / rate
    lines = [f"{head}; estimated {span(seconds)} ({source}, ~{rate:.3g} frames/s)"]
    long = seconds > LONG_SECONDS
    if long and fps is not None:
        better = suggest_fps(fps, duration, rate)
        if better is not None:
            lines.append(f"vtg: hint: --fps {better:g} would sample {math.ceil(duration * better):,} frames "
                         f"(~{span(math.ceil(duration * better) / rate)}), at a coarser time resolution")
    if long and bf16_would_help(device):
        lines.append(f"vtg: hint: this CPU has bf16 units: vtg --precision bf16 encodes ~{CPU_BF16_SPEEDUP:g}x faster, "
                     f"features within a cosine of {BF16_MIN_COSINE} of fp32 (~3 significant digits; "
                     "results can differ from fp32 ones)")
    return lines, long


def bf16_would_help(device: str) -> bool:
    """Whether to point at ``--precision bf16``: the CPU default (fp32) is in use because nothing
    chose a precision, and this CPU has bf16 units. Why a hint and not the default: see
    :func:`vtg.device.encoder_precision`."""
    from vtg.device import device_kind, emulated_on_cpu

    return (device_kind(device) == "cpu" and current_settings().precision is None  # --precision / $VTG_PRECISION
            and not emulated_on_cpu("bf16"))


def frames_per_second(encoder: str, device: str) -> tuple[float | None, str]:
    """(decode+encode frames per second, where the figure comes from) for ``encoder`` on ``device``
    in the precision it will run in (:func:`vtg.device.encoder_precision`)."""
    from vtg.device import device_kind, emulated_on_cpu, encoder_precision

    kind = device_kind(device)
    precision = encoder_precision(device)
    measured = measured_rate(encoder, computed={"device": kind, "precision": precision})
    if measured is not None:
        return measured
    gflops = model_gflops(encoder)
    if gflops is None:
        return None, ""
    encode = THROUGHPUT[kind] / gflops
    if kind == "cpu" and precision == "bf16" and not emulated_on_cpu(precision):
        encode *= CPU_BF16_SPEEDUP
    return 1.0 / (1.0 / encode + 1.0 / DECODE_FPS), f"rough estimate for this model size on a {kind.upper()}"


def model_gflops(encoder: str) -> float | None:
    text = encoder.lower()
    for pattern, gflops in GFLOPS:
        if re.search(pattern, text):
            return gflops
    return None


def measured_rate(encoder: str, cache_dir=None, limit: int = 20, computed: dict | None = None) -> tuple[float, str] | None:
    """Median frames/s of this machine's recent feature-cache entries for ``encoder`` (canonical),
    only those computed as ``computed`` says (device kind and precision) when given; entries
    written before vtg recorded that count as computed in the device's default precision."""
    try:
        canonical = parse_spec(encoder).canonical
    except VtgError:
        return None
    rates = []
    sidecars = sorted(features_dir(cache_dir).glob("*.json"), key=_mtime, reverse=True)
    for path in sidecars[:500]:
        try:
            meta = json.loads(read_regular_text(path))  # never waits on a FIFO planted there
            count, seconds = int(meta["count"]), float(meta["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if meta.get("encoder") == canonical and count >= 8 and seconds > 0 and _made_as(meta, computed):
            rates.append(count / seconds)
        if len(rates) >= limit:
            break
    if not rates:
        return None
    runs = len(rates)
    return statistics.median(rates), f"from {runs} earlier run{'s' * (runs != 1)} of this model here"


def _made_as(meta: dict, computed: dict | None) -> bool:
    if computed is None:
        return True
    made = meta.get("computed")
    if not isinstance(made, dict):  # older entries: the device is unknown, the precision its default
        return computed["precision"] == default_precision(computed["device"])
    return made.get("device") == computed["device"] and made.get("precision") == computed["precision"]


def suggest_fps(fps: float, duration: float, rate: float) -> float | None:
    """The highest of :data:`FPS_CHOICES` below ``fps`` whose estimate is not long (else the lowest)."""
    lower = [f for f in FPS_CHOICES if f < fps]
    for f in lower:
        if math.ceil(duration * f) / rate <= LONG_SECONDS:
            return f
    return lower[-1] if lower else None


def clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def span(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _mtime(path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


"""Sampling and window presets of TFVTG, and how the window grid follows from them.

The three dataset presets are the reference configuration of Zheng et al. (ECCV 2024, Sec. 4.1 and
the released ``data_configs.py``): features at 3 frames per second, window lengths that are
multiples of a stride (in frames) up to a fraction of the video.

They were tuned for clips of 30 s to 2.5 min. For an hour of video at 3 fps the grid would hold
millions of windows whose shortest length (6.7 s) is far finer than anything an hour-long search
needs, and encoding 10,800 frames dominates the run. The ``long`` preset (ours, not the paper's)
therefore samples 1 frame per second, uses a 10-second stride and windows up to a quarter of the
video; :func:`auto_preset` switches to it for videos longer than 20 minutes, which is beyond every
video of the three benchmarks (Charades-STA <= 72 s, QVHighlights 150 s, ActivityNet <= 12.5 min),
so published numbers are untouched. A video of 1 hour then has 3,600 frames and ~280k windows,
scored in about 5-15 ms per description (docs/tfvtg.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from vtg.errors import UnknownNameError, UsageError


@dataclass(frozen=True)
class Preset:
    """Sampling rate (frames/s), stride (frames at that rate) and the longest window (fraction)."""

    name: str
    fps: float
    stride: int
    max_window_fraction: float
    summary: str


PRESETS: dict[str, Preset] = {
    "charades": Preset("charades", 3.0, 20, 0.5, "Charades-STA (clips of ~30 s): 3 fps, stride 20, windows up to 1/2"),
    "activitynet": Preset("activitynet", 3.0, 40, 1.0, "ActivityNet Captions (~2 min): 3 fps, stride 40, windows up to the whole video"),
    "qvhighlights": Preset("qvhighlights", 3.0, 50, 0.5, "QVHighlights (150 s): 3 fps, stride 50, windows up to 1/2"),
    "long": Preset("long", 1.0, 10, 0.25, "videos over 20 min (ours): 1 fps, stride 10 (10 s), windows up to 1/4"),
}

#: Videos longer than this (seconds) use the ``long`` preset unless the user fixed the sampling.
LONG_VIDEO_SECONDS = 1200.0


def get_preset(name: str | Preset) -> Preset:
    if isinstance(name, Preset):
        return name
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    aliases = {"charadessta": "charades", "anet": "activitynet", "qvhighlight": "qvhighlights", "qvh": "qvhighlights"}
    key = aliases.get(key, key)
    if key not in PRESETS:
        raise UnknownNameError("TFVTG preset", str(name), list(PRESETS))
    return PRESETS[key]


def auto_preset(name: str | Preset, duration: float, long_after: float = LONG_VIDEO_SECONDS) -> Preset:
    """``name``'s preset, or ``long`` when the video is longer than ``long_after`` seconds (0 = never)."""
    preset = get_preset(name)
    if long_after and duration > long_after and preset.name != "long":
        return PRESETS["long"]
    return preset


def window_lengths(n: int, duration: float, preset: str | Preset = "charades", *,
                   stride: int | None = None, max_window_fraction: float | None = None) -> tuple[int, list[int]]:
    """``(stride, lengths)`` in frames for ``n`` frames spread over ``duration`` seconds.

    A preset's stride is given in frames at the preset's rate; when the scores were sampled at
    another rate it is rescaled (and rounded) so it spans the same seconds: at 3 fps the reference
    strides come out unchanged. An explicit ``stride`` is taken as frames as is. As in the
    reference the stride is capped at half the frames and lengths run over multiples of it up to
    ``int(n * max_window_fraction)``. Where the reference finds no length at all (a tiny fraction,
    or a single frame, where it crashes), one window of ``stride`` frames is used.
    """
    p = get_preset(preset)
    if n <= 0:
        return 1, []
    if stride is None:
        rate = n / duration if duration > 0 else p.fps
        stride = int(round(p.stride * rate / p.fps))
    stride = int(stride)
    if stride < 1:
        raise UsageError(f"TFVTG stride must be a positive number of frames, got {stride}")
    fraction = p.max_window_fraction if max_window_fraction is None else float(max_window_fraction)
    if not 0 < fraction <= 1:
        raise UsageError(f"max_window_fraction must be in (0, 1], got {fraction}")
    stride = max(1, min(stride, n // 2))
    longest = min(n, int(n * fraction))
    lengths = list(range(stride, longest + 1, stride)) or [stride]
    return stride, lengths

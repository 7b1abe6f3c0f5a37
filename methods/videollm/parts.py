"""The parts of a Video-LLM prompt: text, single frames (:class:`Image`) and frame sequences
(:class:`Video`) with their true times.

Methods build prompts from them, the families (:mod:`~vtg.methods.videollm.families`) turn them
into chat content and pixels, and the runner (:mod:`~vtg.methods.videollm.runner`) sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np


@dataclass(frozen=True)
class Image:
    """One frame (uint8 [H, W, 3] RGB) placed at this point of the prompt."""

    frame: np.ndarray


@dataclass(frozen=True)
class Video:
    """Frames (uint8 [N, H, W, 3]) given to the model as one video, with their true times."""

    frames: np.ndarray
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def sampled_fps(self) -> float:
        """Average sampling rate (Qwen2.5-VL aligns its temporal positions to it)."""
        t = np.asarray(self.times, dtype=np.float64)
        if t.size < 2 or t[-1] <= t[0]:
            return 1.0
        return float((t.size - 1) / (t[-1] - t[0]))


Part = Union[str, Image, Video]

"""A small deterministic grounding method for batch tests, importable in subprocesses and Ray workers.

``ColourMethod`` decodes real frames (vtg.video through the real feature cache, vtg.features)
with a colour "encoder" (mean RGB of each frame) and scores frames against a colour named in the
query ("red", "green", "blue"). Every cache miss (a real decode + encode) is appended to the file
named by ``$VTG_TEST_DECODE_LOG``, so tests can count how often each video was decoded, across
processes. ``sleep`` slows each query down so a batch can be killed mid-run.

Run ``python -m batch_helpers <vtg args>`` (with this folder on PYTHONPATH) to use the real CLI
with the method registered as ``colour-test``.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from vtg.encoders.base import Encoder
from vtg.method import Method
from vtg.types import Query
from vtg.types import Grounding, Moment, Saliency

COLOURS = {"red": (1.0, 0.1, 0.1), "green": (0.1, 1.0, 0.1), "blue": (0.1, 0.1, 1.0)}


class ColourEncoder(Encoder):
    """Mean RGB of each frame, L2-normalised: a real, tiny, deterministic frame encoder."""

    family = "test"

    def __init__(self) -> None:
        super().__init__("test:colour", "cpu", None, 3, batch_size=64, fingerprint="colour-v1")

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        x = np.asarray(frames, np.float32).reshape(len(frames), -1, 3).mean(axis=1) + 1.0
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    def encode_texts(self, texts: list[str] | str) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else texts
        rows = [next((COLOURS[w] for w in t.lower().split() if w in COLOURS), (1.0, 1.0, 1.0)) for t in texts]
        x = np.asarray(rows, np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


class ColourMethod(Method):
    name = "colour-test"
    summary = "test method: finds the frames closest to a named colour"

    @dataclass(frozen=True)
    class Config:
        fps: float = 2.0
        sleep: float = 0.0
        line_options: ClassVar[frozenset[str]] = frozenset({"fps", "sleep"})

    def __init__(self, config=None, **options) -> None:
        super().__init__(config, **options)
        self.encoder = ColourEncoder()

    def features(self, video):
        from vtg.features import video_features

        feats = video_features(video, self.encoder, self.config.fps)
        log = os.environ.get("VTG_TEST_DECODE_LOG")
        if log and not feats.cached:
            with open(log, "a") as fh:
                fh.write(f"{Path(video).name}\n")
        return feats

    def prepare(self, video, *, progress: bool = False) -> None:
        self.features(video)

    def ground(self, video, query: Query, *, progress: bool = False) -> Grounding:
        feats = self.features(video)
        if self.config.sleep:
            time.sleep(self.config.sleep)
        scores = feats.features @ self.encoder.encode_texts([query.text or ""])[0]
        moments = runs_above(feats.times, scores, step=1.0 / self.config.fps)
        return Grounding(query.label, str(video), feats.duration, moments, Saliency(feats.times, scores),
                         self.name, {"fps": self.config.fps})


def runs_above(times: np.ndarray, scores: np.ndarray, step: float) -> list[Moment]:
    """Contiguous runs of frames scoring above the midpoint of the range, best mean first."""
    if len(scores) == 0:
        return []
    mask = scores >= (scores.min() + scores.max()) / 2
    out, start = [], None
    for i, on in enumerate(list(mask) + [False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            out.append(Moment(times[start], times[i - 1] + step, float(scores[start:i].mean())))
            start = None
    return sorted(out, key=lambda m: -m.score)


def register() -> None:
    """Make ``colour-test`` a known method in this process."""
    from vtg.registry import RUNTIME_METHODS

    RUNTIME_METHODS["colour-test"] = "batch_helpers:ColourMethod"


if __name__ == "__main__":
    register()
    from vtg.cli.main import main

    sys.exit(main(sys.argv[1:]))

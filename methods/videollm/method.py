"""What NumPro, TimeMarker and VTG-LLM share: sample -> prompt -> generate -> parse -> Grounding.

Each method only says how time goes into the model's input (:meth:`VideoLLMMethod.build_prompt`)
and how it comes back out of the answer (:meth:`VideoLLMMethod.read_answer`). The saliency curve
is over the sampled frames' true times: 1 inside the answered intervals, 0 outside (the models are
asked for intervals, not per-frame scores). An answer with no interval gives no moments, an
all-zero curve and ``meta["status"] = "no moment found"`` with the raw answer kept in ``meta``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from vtg.errors import VideoError
from vtg.methods.base import Method, Query
from vtg.methods.videollm.frames import Sampled, sample_video
from vtg.methods.videollm.runner import DEFAULT_MODEL, Part, VideoLLM, load_videollm
from vtg.types import Grounding, Moment, Saliency


@dataclass(frozen=True)
class VideoLLMConfig:
    """Options every Video-LLM method takes (``--model``, ``--device``, ``-O dtype=bf16`` ...)."""

    model: str = DEFAULT_MODEL
    device: str = "auto"
    dtype: str = "auto"
    max_new_tokens: int = 64

    #: What a line of a batch file may set (none of the base options: ``model`` names files or
    #: downloads, ``device``/``dtype`` pick hardware, ``max_new_tokens`` bounds generation time).
    line_options: ClassVar[frozenset[str]] = frozenset()


def saliency_inside(times: np.ndarray, moments: Sequence[Moment]) -> np.ndarray:
    """1.0 at sampled times inside any moment (ends included), 0.0 elsewhere."""
    times = np.asarray(times, dtype=np.float64)
    scores = np.zeros(times.shape)
    for m in moments:
        scores[(times >= m.start - 1e-6) & (times <= m.end + 1e-6)] = 1.0
    return scores


def prompt_text(parts: Sequence[Part]) -> str:
    """The prompt's text with frames shown as ``<image>`` / ``<video>`` (kept in meta)."""
    return "".join(p if isinstance(p, str) else f"<{type(p).__name__.lower()}>" for p in parts)


class VideoLLMMethod(Method):
    """Base class of the Video-LLM grounding methods."""

    Config = VideoLLMConfig

    # -- what subclasses provide ------------------------------------------------------------
    def sample(self, video: str | Path) -> Sampled:
        """Frames with their true times, sampled and resized as the method's paper says."""
        raise NotImplementedError

    def build_prompt(self, sampled: Sampled, query: str, llm: VideoLLM) -> list[Part]:
        raise NotImplementedError

    def read_answer(self, answer: str, sampled: Sampled) -> tuple[list[Moment], np.ndarray]:
        """Moments in seconds and the saliency scores over ``sampled.times``."""
        raise NotImplementedError

    # -- shared path ------------------------------------------------------------------------
    def runner(self) -> VideoLLM:
        cfg = self.config
        return load_videollm(cfg.model, cfg.device, None if cfg.dtype == "auto" else cfg.dtype)

    def ground(self, video: str | Path, query: Query, *, progress: bool = False) -> Grounding:
        query = Query.of(query)
        self.check_query(query)
        return self.ground_frames(self.sample(video), query.text, video=video)

    def ground_frames(self, sampled: Sampled, query: str, *, video: str | Path = "") -> Grounding:
        """Ground ``query`` in already sampled frames (the part of :meth:`ground` after decoding)."""
        if len(sampled.times) == 0:
            raise VideoError(f"no frames could be sampled from {video or 'the video'}")
        llm = self.runner()
        parts = self.build_prompt(sampled, query, llm)
        answer = llm.generate(parts, max_new_tokens=self.config.max_new_tokens)
        moments, scores = self.read_answer(answer, sampled)
        meta = {
            "answer": answer,
            "model": llm.model_id,
            "status": "ok" if moments else "no moment found",
            "num_frames": int(len(sampled.times)),
            "prompt": prompt_text(parts),
        }
        return Grounding(query=query, video=str(video), duration=sampled.duration, moments=moments,
                         saliency=Saliency(sampled.times, scores), method=self.name, meta=meta)


"""TimeMarker: temporal separator tokens ``Second{t}`` interleaved with the frames.

Chen et al., "TimeMarker: A Versatile Video-LLM for Long and Short Video Understanding with
Superior Temporal Localization Ability", 2024. Each frame's visual tokens are preceded by the text
``Second{t}`` giving its time (Sec. 3, temporal separator tokens); frames come from AnyLength
sampling (Sec. 3): 2 fps for videos shorter than 8 s, otherwise one frame every
``ceil(duration / max_frames)`` seconds (``max_frames`` 128), with fewer visual tokens per frame
the more frames there are (adaptive token compression).

No official TimeMarker weights are published, so this runs training-free on the shared runner's
model (Qwen2-VL by default): the separators and sampling are TimeMarker's, the model is not.
Token compression is done by resizing each frame to a per-frame token budget (Qwen2-VL spends one
token per 28x28 pixels, so shrinking a frame's area by k pools its tokens k-fold; each family says
its own rate through ``VideoLLM.pixels_for_tokens``) because the backend has no hook for pooling
inside the vision tower; fixed-size families spend their fixed count on every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, ClassVar

from vtg.methods.videollm.frames import Sampled
from vtg.methods.videollm.method import VideoLLMConfig, VideoLLMMethod, saliency_inside
from vtg.methods.videollm.parsing import seconds_answer
from vtg.methods.videollm.runner import Image, Part, VideoLLM
from vtg.options import FrameCount, Fps, PositiveSeconds, Range
from vtg.types import Moment

INSTRUCTION = ("Each video frame is preceded by its time in seconds, written as Second{t}. "
               "When does \"{query}\" happen in the video? "
               "Answer with the start and end time in the format 'second{start} - second{end}'.")


@dataclass(frozen=True)
class TimeMarkerConfig(VideoLLMConfig):
    max_frames: FrameCount = 128
    #: Rate for videos shorter than ``short_video`` seconds (AnyLength).
    short_fps: Fps = 2.0
    short_video: PositiveSeconds = 8.0
    #: Visual-token budget for all frames together, and per-frame bounds (Qwen2-VL tokens).
    visual_tokens: Annotated[int, Range(1, 1_000_000, unit="tokens")] = 8192
    max_frame_tokens: Annotated[int, Range(1, 16_384, unit="tokens")] = 256
    min_frame_tokens: Annotated[int, Range(1, 16_384, unit="tokens")] = 16

    line_options: ClassVar[frozenset[str]] = VideoLLMConfig.line_options | {
        "max_frames", "short_fps", "short_video", "visual_tokens", "max_frame_tokens", "min_frame_tokens"}


def anylength_fps(duration: float, max_frames: int = 128, short_fps: float = 2.0,
                  short_video: float = 8.0) -> float:
    """AnyLength sampling rate: ``short_fps`` under ``short_video`` s, else one frame every
    ``ceil(duration / max_frames)`` seconds."""
    if duration < short_video:
        return short_fps
    return 1.0 / max(1, math.ceil(duration / max(1, max_frames)))


def frame_tokens(num_frames: int, budget: int = 8192, most: int = 256, least: int = 16) -> int:
    """Visual tokens per frame for ``num_frames`` frames: the budget shared out, within bounds."""
    return int(min(most, max(least, budget // max(1, num_frames))))


def separator(t: float) -> str:
    """TimeMarker's temporal separator for a frame shown at ``t`` seconds."""
    return f"Second{{{t:.1f}}}"


def parse_answer(text: str, duration: float | None = None) -> list[Moment]:
    """Moments in seconds from an answer such as "second{4.0} - second{6.0}", "4 to 6 seconds" or
    "00:00:04 - 00:00:06"; clamped to ``[0, duration]`` when given. No interval: ``[]``."""
    return seconds_answer(text, duration)


class TimeMarker(VideoLLMMethod):
    """Interleave ``Second{t}`` separators with the frames; read seconds back (training-free)."""

    name = "timemarker"
    summary = "Video-LLM with Second{t} separators between frames, AnyLength sampling (training-free)"
    paper = "Chen et al., TimeMarker: A Versatile Video-LLM for Long and Short Video Understanding, 2024"
    Config = TimeMarkerConfig

    def frame_rule(self, duration: float) -> tuple[float | None, int | None]:
        cfg = self.config
        return anylength_fps(duration, cfg.max_frames, cfg.short_fps, cfg.short_video), cfg.max_frames

    def build_prompt(self, sampled: Sampled, query: str, llm: VideoLLM) -> list[Part]:
        cfg = self.config
        tokens = frame_tokens(len(sampled.frames), cfg.visual_tokens, cfg.max_frame_tokens, cfg.min_frame_tokens)
        frames = llm.fit_frames(sampled.frames, llm.pixels_for_tokens(tokens))
        parts: list[Part] = []
        for t, frame in zip(sampled.times, frames):
            parts += [separator(float(t)), Image(frame)]
        parts.append("\n" + INSTRUCTION.replace("{query}", query.rstrip(". ")))
        return parts

    def read_answer(self, answer: str, sampled: Sampled):
        moments = parse_answer(answer, sampled.duration or None)
        return moments, saliency_inside(sampled.times, moments)

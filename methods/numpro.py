"""NumPro: number the frames, ask the Video-LLM during which frames the event happens.

Wu et al., "Number it: Temporal Grounding Videos like Flipping Manga", CVPR 2025. Training-free
setting (Sec. 3): frames sampled at 1 fps, each overlaid with its index (from 0) in red in the
bottom-right corner (:mod:`vtg.overlays.numbers`, the paper's 40 px on 336x336 look), then the
instruction that the red numbers are frame numbers plus the question "during which frames ...",
answered as "From Frame x to Frame y". Frame numbers map back to seconds through the true
timestamps of the sampled frames.

Deviations, documented in docs/videollm.md: frames keep their aspect ratio at the area of a
336x336 frame (Qwen2-VL takes any multiple of 28) instead of being squashed to a square; an
answered range ``x..y`` becomes ``[t_x, t_{y+1})`` (the time frame ``y`` stops being shown, the
video's end for the last frame) rather than ``[t_x, t_y]``, so a one-frame answer is not empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, ClassVar, Sequence

import numpy as np

from vtg.errors import UsageError
from vtg.methods.videollm.frames import Sampled
from vtg.methods.videollm.method import VideoLLMConfig, VideoLLMMethod
from vtg.methods.videollm.parsing import clamp, find_ranges, single_frames
from vtg.methods.videollm.runner import Image, Part, Video, VideoLLM
from vtg.options import Choice, FrameCount, FramePixels, Fps
from vtg.types import Moment

#: The training-free prompt as the authors released it (instruction, then the question with the
#: answer format); the method depends on this wording, so it is kept verbatim.
INSTRUCTION = "The red numbers on each frame represent the frame number."
QUESTION = ("During which frames can we see {query}? "
            "Answer in the format: 'From Frame x to Frame y'.")


def numpro_question(query: str) -> str:
    """The released script's text: the instruction and the question joined with no space
    (``instruction + input_format.format(query)`` in ``eval/qwen2_vl_7b_mr.py``), the query as given."""
    return INSTRUCTION + QUESTION.format(query=query)


@dataclass(frozen=True)
class NumProConfig(VideoLLMConfig):
    fps: Fps = 1.0
    #: Cap on sampled frames; longer videos get a lower rate so the prompt fits Qwen2-VL's 32k
    #: context (384 frames x 72 tokens). None: every frame at ``fps`` whatever the length.
    max_frames: FrameCount | None = 384
    #: Pixels per frame given to the model: the paper's 336x336.
    frame_pixels: FramePixels = 336 * 336
    #: "video" (one video input) or "images" (one image per frame).
    input: Annotated[str, Choice(("video", "images"))] = "video"
    #: Drop a trailing ". " from the query before it goes into the question (a deviation: the
    #: released script puts the dataset's query in as given, "...see a man opens the door.?").
    strip_query: bool = False

    line_options: ClassVar[frozenset[str]] = VideoLLMConfig.line_options | {
        "fps", "max_frames", "frame_pixels", "input", "strip_query"}


def frame_spans(times: np.ndarray, duration: float | None) -> np.ndarray:
    """When each sampled frame stops being the current sample: the next frame's time, and for
    the last frame the video's end (or one median step after it)."""
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return times
    step = float(np.median(np.diff(times))) if times.size > 1 else 0.0
    last = duration if duration is not None and duration > times[-1] else times[-1] + step
    return np.append(times[1:], last)


def parse_answer(text: str, timestamps: Sequence[float] | np.ndarray, duration: float | None = None) -> list[Moment]:
    """Moments in seconds from a NumPro answer such as "From Frame 3 to Frame 7".

    ``timestamps`` are the true times of the numbered frames (frame ``i`` shown at
    ``timestamps[i]``). Frame numbers outside ``0..len-1`` are clamped; reversed ranges swapped;
    an answer naming one frame ("in frame 5") gives that frame's span. No interval: ``[]``.
    """
    times = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    if times.size == 0 or not isinstance(text, str):
        return []
    ranges = find_ranges(text) or [(f, f) for f in single_frames(text)]
    ends = frame_spans(times, duration)
    moments = []
    for a, b in clamp(ranges, 0, times.size - 1):
        i, j = int(round(a)), int(round(b))
        moments.append(within(times[i], max(ends[j], times[i]), duration))
    return _unique(moments)


def parse_one_per_second(text: str, duration: float) -> list[Moment]:
    """:func:`parse_answer` with frame ``i`` shown at ``i`` s for ``ceil(duration)`` frames (the
    paper's 1 fps), computed per answered range: work follows the answer, not the duration."""
    if not isinstance(text, str):
        return []
    last = max(1, math.ceil(duration)) - 1
    ranges = find_ranges(text) or [(f, f) for f in single_frames(text)]
    moments = []
    for a, b in clamp(ranges, 0, last):
        i, j = int(round(a)), int(round(b))
        moments.append(within(float(i), float(j + 1) if j < last else max(duration, float(j)), duration))
    return _unique(moments)


def within(start: float, end: float, duration: float | None) -> Moment:
    """``[start, end]`` clamped to ``[0, duration]``: timestamps a file lists may run past it."""
    if duration is not None:
        start, end = min(start, duration), min(end, duration)
    return Moment(start, max(start, end))


def _unique(moments: list[Moment]) -> list[Moment]:
    return list(dict.fromkeys(moments))


class NumPro(VideoLLMMethod):
    """Number the sampled frames and ask the Video-LLM for a frame range (training-free)."""

    name = "numpro"
    summary = "Video-LLM reads red frame numbers overlaid on the frames (training-free)"
    paper = "Wu et al., Number it: Temporal Grounding Videos like Flipping Manga, CVPR 2025"
    Config = NumProConfig

    def frame_rule(self, duration: float) -> tuple[float | None, int | None]:
        if self.config.input not in ("video", "images"):
            raise UsageError(f"numpro option input={self.config.input!r}: choose video or images")
        return self.config.fps, self.config.max_frames

    def build_prompt(self, sampled: Sampled, query: str, llm: VideoLLM) -> list[Part]:
        from vtg.overlays.numbers import number_frames

        frames = number_frames(llm.fit_frames(sampled.frames, self.config.frame_pixels))
        question = numpro_question(query.rstrip(". ") if self.config.strip_query else query)
        if self.config.input == "images":
            return [*(Image(f) for f in frames), question]
        return [Video(frames, sampled.times), question]

    def read_answer(self, answer: str, sampled: Sampled):
        from vtg.methods.videollm.answers import parse_answer as read_format

        moments = (read_format("numpro", answer, sampled.duration, sampled.times, strict=True) if self.strict()
                   else parse_answer(answer, sampled.times, sampled.duration))
        scores = np.zeros(len(sampled.times))
        ends = frame_spans(sampled.times, sampled.duration)
        for m in moments:
            scores[(sampled.times >= m.start - 1e-6) & (ends <= m.end + 1e-6)] = 1.0
        return moments, scores

"""VTG-LLM as a grounding method: frame timestamps written in the time-token format.

Guo et al., VTG-LLM (AAAI 2025). The model sees uniformly sampled frames (96, the paper's setting)
as one video; the prompt lists when each frame was shown, written in the absolute-time format
(``0002.5``), then asks the released model's moment-retrieval question (no video duration: the
released prompt gives none). The answer (``0002.5 - 0010.0 seconds``, in time tokens or plain
digits) is read back as moments. ``time_tokens``: ``auto`` uses the eleven time tokens when the model's tokenizer has
them (a VTG-LLM-style fine-tuned checkpoint) and plain digits otherwise; ``add`` adds them to an
off-the-shelf model, initialised from the digit embeddings; ``off`` always writes digits.
The official VTG-LLM weights (a VideoLLaMA-based model) are not a transformers model, so this runs
on the shared runner's model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from vtg.errors import UsageError
from vtg.methods.videollm.frames import Sampled
from vtg.methods.videollm.method import VideoLLMConfig, VideoLLMMethod, saliency_inside
from vtg.methods.videollm.parsing import seconds_answer
from vtg.methods.videollm.runner import Part, Video, VideoLLM
from vtg.methods.vtgllm.timetokens import add_time_tokens, format_time, has_time_tokens
from vtg.options import Choice, FrameCount, FramePixels
from vtg.types import Moment

#: The released VTG-LLM's frame-time message and moment-retrieval question (the frame times, and
#: only they, in the time-token format), plus an answer-format sentence of ours that an untrained
#: model needs (the fine-tuned model learnt "start - end seconds" from its data).
PROMPT = ("The video contains {n} frames sampled at {times} seconds. "
          "Find the video segment that corresponds to the given textual query '{query}' and "
          "determine its start and end seconds. "
          "Answer in the format 'start - end seconds', with times written like {example}.")


@dataclass(frozen=True)
class VTGLLMConfig(VideoLLMConfig):
    num_frames: FrameCount = 96
    #: Pixels per frame (VTG-LLM's 224x224 visual encoder input).
    frame_pixels: FramePixels = 224 * 224
    time_tokens: Annotated[str, Choice(("auto", "add", "off"))] = "auto"

    #: Not ``time_tokens``: "add" resizes the shared, loaded model's embeddings for every line.
    line_options: ClassVar[frozenset[str]] = VideoLLMConfig.line_options | {"num_frames", "frame_pixels"}


def parse_answer(text: str, duration: float | None = None) -> list[Moment]:
    """Moments in seconds from a VTG-LLM answer: time tokens (``<TIME_ZERO>...<TIME_DOT><TIME_FIVE>
    - ...``) or digits (``0002.5 - 0010.0 seconds``), clamped to ``[0, duration]`` when given."""
    return seconds_answer(text, duration)


class VTGLLM(VideoLLMMethod):
    """Timestamps in VTG-LLM's absolute-time format in the prompt; read time tokens back."""

    name = "vtgllm"
    summary = "Video-LLM with VTG-LLM absolute-time tokens for frame timestamps"
    paper = "Guo et al., VTG-LLM: Integrating Timestamp Knowledge into Video LLMs, AAAI 2025"
    Config = VTGLLMConfig

    def frame_rule(self, duration: float) -> tuple[float | None, int | None]:
        return None, self.config.num_frames

    def use_tokens(self, llm: VideoLLM) -> bool:
        mode = self.config.time_tokens
        if mode not in ("auto", "add", "off"):
            raise UsageError(f"vtgllm option time_tokens={mode!r}: choose auto, add or off")
        if mode == "add":
            add_time_tokens(llm.tokenizer, llm.model)
            return True
        return mode == "auto" and has_time_tokens(llm.tokenizer)

    def build_prompt(self, sampled: Sampled, query: str, llm: VideoLLM) -> list[Part]:
        tokens = self.use_tokens(llm)
        frames = llm.fit_frames(sampled.frames, self.config.frame_pixels)
        text = PROMPT.format(
            n=len(frames),
            times=", ".join(format_time(t, tokens) for t in sampled.times),
            query=query.rstrip(". "), example=format_time(25.0, tokens))
        return [Video(frames, sampled.times), text]

    def read_answer(self, answer: str, sampled: Sampled):
        if self.strict():
            from vtg.methods.videollm.answers import parse_answer as read_format  # not loaded by `vtg methods`

            moments = read_format("vtgllm", answer, strict=True)
        else:
            moments = parse_answer(answer, sampled.duration or None)
        return moments, saliency_inside(sampled.times, moments)

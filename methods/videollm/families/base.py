"""What a Video-LLM family must say so the shared runner can drive it.

A family is the transformers implementation behind a checkpoint (its ``config.json``
``model_type``). Families differ in four ways the methods must not care about, and each module in
this package answers them for one family:

- **frame size**: dynamic-resolution families (Qwen, VideoLLaMA3) take any frame on their token
  grid, so a method controls its visual-token cost; fixed-size families (LLaVA, InternVL) take one
  input size, so frames are resized to it before a method draws on them (NumPro's numbers land
  where the model sees them);
- **prompt**: which chat template places the frames, and whether an interleaved frame
  (TimeMarker's ``Second{t}`` + frame) goes in as an image or as a one-frame video (the LLaVA
  families tile images "anyres" into thousands of tokens; their video path is pooled);
- **frame times**: how the family itself tells the model when frames were shown (Qwen2.5-VL's
  time-aligned positions, Qwen3-VL's ``<t seconds>``, VideoLLaMA3's ``Time t s:``, LLaVA-Video's
  time instruction, nothing for the others), fed from the frames' true times;
- **frame limit**: the most frames the released checkpoints were trained on / fit in context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from vtg.methods.videollm.frames import resize_frames, smart_resize
from vtg.methods.videollm.parts import Image, Part, Video

#: Frame times reach the processors as integer frame indices over a rate: milliseconds keep them exact.
TIME_SCALE = 1000.0


@dataclass
class Prompt:
    """The chat messages plus the pixel inputs, in the order the placeholders appear."""

    content: list[dict] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    videos: list[np.ndarray] = field(default_factory=list)
    metadata: list[dict] = field(default_factory=list)


def true_time_metadata(video: Video) -> dict:
    """Processor video metadata whose ``frames_indices / fps`` are the frames' true times (s)."""
    times = np.asarray(video.times, np.float64)
    if times.size != len(video.frames):
        times = np.arange(len(video.frames), dtype=np.float64)
    indices = [int(round(t * TIME_SCALE)) for t in times]
    return {"total_num_frames": max(indices) + 1 if indices else 0, "fps": TIME_SCALE,
            "frames_indices": indices, "duration": float(times[-1]) if times.size else 0.0}


def rate_metadata(video: Video) -> dict:
    """Processor video metadata giving the sampling rate (Qwen2.5-VL aligns positions to it)."""
    n = len(video.frames)
    return {"total_num_frames": n, "fps": video.sampled_fps, "frames_indices": list(range(n))}


class Family:
    """Defaults shared by most families; a family module overrides what differs."""

    #: vtg's name (``qwen2-vl``), the label users read, and the ``model_type`` values it covers.
    name: str = ""
    label: str = ""
    model_types: tuple[str, ...] = ()
    #: Side in pixels of the square one visual token covers, for dynamic-resolution families
    #: (frames are resized to multiples of it); None: the family takes one fixed input size.
    token_side: int | None = None
    #: The most frames the released checkpoints take (their training setting or context); None: no cap.
    max_frames: int | None = None
    #: Interleaved frames go in as one-frame videos rather than images (see the module docstring).
    frames_as_videos: bool = False
    #: How the family conveys frame times, for ``vtg methods -v`` and the docs.
    time_convention: str = "none: only the times a method writes in its prompt"

    # -- frames -----------------------------------------------------------------------------
    def fit_frames(self, processor: Any, frames: np.ndarray, max_pixels: int) -> np.ndarray:
        """Frames as the model will see them: on the token grid within ``max_pixels`` each, or at
        the family's fixed input size (``max_pixels`` cannot change what a fixed-size model sees)."""
        if len(frames) == 0:
            return frames
        if self.token_side is None:
            h, w = self.input_size(processor)
        else:
            side = self.token_side
            h, w = smart_resize(frames.shape[1], frames.shape[2], max_pixels, min_pixels=4 * side * side, factor=side)
        return resize_frames(frames, h, w)

    def input_size(self, processor: Any) -> tuple[int, int]:
        """A fixed-size family's input (height, width), read from its processor's settings."""
        proc = getattr(processor, "video_processor", None) or processor.image_processor
        for key in ("crop_size", "size"):
            size = getattr(proc, key, None)
            if size is None:
                continue
            fields = dict(size) if isinstance(size, dict) else vars(size)
            height, width, edge = fields.get("height"), fields.get("width"), fields.get("shortest_edge")
            if height and width:
                return int(height), int(width)
            if edge:
                return int(edge), int(edge)
        raise ValueError(f"{self.label}: the processor declares no input size")

    def pixels_for_tokens(self, tokens: int) -> int:
        """Pixels a frame may have to cost about ``tokens`` visual tokens (dynamic families)."""
        side = self.token_side or 28
        return int(tokens) * side * side

    # -- prompt -----------------------------------------------------------------------------
    def prompt(self, parts: Sequence[Part]) -> Prompt:
        """Chat content and pixel inputs for ``parts`` (text, Image, Video) in order."""
        out = Prompt()
        # One-frame videos batch only with other one-frame videos (the processors stack videos),
        # so a prompt that also holds a longer video sends its single frames as images.
        as_videos = self.frames_as_videos and all(len(p.frames) == 1 for p in parts if isinstance(p, Video))
        for part in parts:
            if isinstance(part, str):
                out.content.append({"type": "text", "text": part})
            elif isinstance(part, Image) and not as_videos:
                out.content.append({"type": "image"})
                out.images.append(np.ascontiguousarray(part.frame))
            elif isinstance(part, Image):
                self.add_video(out, Video(part.frame[None], np.zeros(1)), announce=False)
            elif isinstance(part, Video):
                self.add_video(out, part, announce=True)
            else:
                raise TypeError(f"prompt parts are str, Image or Video, not {type(part).__name__}")
        return out

    def add_video(self, out: Prompt, video: "Video", announce: bool) -> None:
        """Append one video; ``announce`` is False for a single interleaved frame."""
        text = self.time_text(video) if announce else None
        if text:
            out.content.append({"type": "text", "text": text})
        out.content.append({"type": "video"})
        out.videos.append(np.ascontiguousarray(video.frames))
        out.metadata.append(self.video_metadata(video))

    def time_text(self, video: Video) -> str | None:
        """Text the family's own convention puts before a video to give its frame times."""
        return None

    def video_metadata(self, video: Video) -> dict:
        return true_time_metadata(video)

    def processor_kwargs(self, prompt: Prompt) -> dict[str, Any]:
        """Extra processor arguments: frames arrive sampled and sized, so no resampling."""
        kwargs: dict[str, Any] = {}
        if prompt.videos:
            kwargs.update(video_metadata=prompt.metadata, do_sample_frames=False)
        if self.token_side is not None and (prompt.images or prompt.videos) and self.on_grid(prompt):
            kwargs["do_resize"] = False  # fit_frames put them on the grid already: keep them as sized
        return kwargs

    def on_grid(self, prompt: Prompt) -> bool:
        """Every frame's sides are multiples of the token side (frames a caller did not fit are
        left to the processor's own resizing)."""
        side = self.token_side or 1
        shapes = [f.shape[-3:-1] for f in prompt.images + prompt.videos]
        return all(h % side == 0 and w % side == 0 for h, w in shapes)

    def visual_token_ids(self, config: Any) -> list[int]:
        """Ids of the placeholder tokens the visual features replace."""
        ids = [getattr(config, "image_token_id", None), getattr(config, "video_token_id", None)]
        return [int(i) for i in ids if i is not None]

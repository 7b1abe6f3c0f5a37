"""LLaVA-NeXT-Video (Zhang et al., 2024): CLIP at 336x336, 576 tokens a frame pooled 2x2 to 144
for video; images are tiled "anyres", so an interleaved frame goes in as a one-frame video. The
released 7B model was evaluated on 32 frames (its model card).

Frame times: none; a method's own prompt text is the only time information.
"""

from __future__ import annotations

from vtg.methods.videollm.families.base import Family


class LlavaNextVideo(Family):
    name = "llava-next-video"
    label = "LLaVA-NeXT-Video"
    model_types = ("llava_next_video",)
    max_frames = 32
    frames_as_videos = True

"""Video-LLaVA (Lin et al., EMNLP 2024): LanguageBind image and video towers, fixed 224x224
input, 256 tokens a frame (+1 class token for videos), 8 frames per video in training and in the
released model's 4k context (``video_seq_length`` 2056 = 8 x 257).

Frame times: none; a method's own prompt text is the only time information.
"""

from __future__ import annotations

from vtg.methods.videollm.families.base import Family, Prompt


class VideoLlava(Family):
    name = "video-llava"
    label = "Video-LLaVA"
    model_types = ("video_llava",)
    max_frames = 8

    def processor_kwargs(self, prompt: Prompt) -> dict:
        kwargs = super().processor_kwargs(prompt)
        if prompt.images:
            kwargs["return_legacy_image_output"] = False  # ``pixel_values``, the name the model takes
        return kwargs

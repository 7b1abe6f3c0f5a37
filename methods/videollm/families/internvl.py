"""InternVL 2.5 / 3 in transformers' native form (the ``-hf`` checkpoints; Chen et al., 2024;
Zhu et al., 2025): InternViT at 448x448, pixel shuffle to 256 tokens a frame. A video's frames are
labelled ``Frame1: <img>...</img>`` ... by the processor, InternVL's own video prompt; an
interleaved frame goes in as one 448x448 image (no tiling, the same 256 tokens a video frame costs).
vtg caps videos at 64 frames (16k visual tokens, half the 32k context).

Frame times: none beyond the frame labels; a method's own prompt text gives them.
"""

from __future__ import annotations

from vtg.methods.videollm.families.base import Family, Prompt


class InternVL(Family):
    name = "internvl"
    label = "InternVL"
    model_types = ("internvl",)
    max_frames = 64
    time_convention = "none ('Frame{i}:' labels only)"

    def processor_kwargs(self, prompt: Prompt) -> dict:
        kwargs = super().processor_kwargs(prompt)
        if prompt.images:
            kwargs["crop_to_patches"] = False  # one tile a frame, like a video frame
        return kwargs

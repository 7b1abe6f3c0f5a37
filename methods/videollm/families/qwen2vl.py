"""Qwen2-VL and Qwen2.5-VL (Wang et al. 2024; Bai et al. 2025): dynamic resolution, 14 px patches
merged 2x2 (one visual token per 28x28 pixels), two frames per temporal patch.

Frame times: Qwen2-VL's prompt carries none (a method writes its own); Qwen2.5-VL aligns its
temporal rotary positions to absolute time, so it is given the frames' sampling rate.
"""

from __future__ import annotations

from vtg.methods.videollm.families.base import Family, Prompt, rate_metadata


def uncapped(kwargs: dict, prompt: Prompt) -> dict:
    """Frames arrive sized by the method: the Qwen video processors must not cap their pixels again."""
    if prompt.videos:
        kwargs["cap_pixels_per_frame"] = False
    return kwargs


class Qwen2VL(Family):
    name = "qwen2-vl"
    label = "Qwen2-VL"
    model_types = ("qwen2_vl",)
    token_side = 28

    def video_metadata(self, video):
        return rate_metadata(video)

    def processor_kwargs(self, prompt: Prompt) -> dict:
        return uncapped(super().processor_kwargs(prompt), prompt)


class Qwen25VL(Qwen2VL):
    name = "qwen2.5-vl"
    label = "Qwen2.5-VL"
    model_types = ("qwen2_5_vl",)
    time_convention = "time-aligned temporal positions from the frames' sampling rate (fps)"

"""Qwen3-VL (Qwen team, 2025): dynamic resolution with 16 px patches merged 2x2 (one visual token
per 32x32 pixels), two frames per temporal patch.

Frame times: the processor writes ``<t seconds>`` before each temporal patch (the mean time of its
two frames); it is fed the frames' true times, so the text says when they were shown.
"""

from __future__ import annotations

from vtg.methods.videollm.families.base import Family, Prompt
from vtg.methods.videollm.families.qwen2vl import uncapped


class Qwen3VL(Family):
    name = "qwen3-vl"
    label = "Qwen3-VL"
    model_types = ("qwen3_vl", "qwen3_vl_moe")
    token_side = 32
    time_convention = "'<t seconds>' before each 2-frame temporal patch, from the frames' true times"

    def processor_kwargs(self, prompt: Prompt) -> dict:
        return uncapped(super().processor_kwargs(prompt), prompt)

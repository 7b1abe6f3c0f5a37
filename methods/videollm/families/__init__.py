"""The Video-LLM families the shared runner drives, one module each, registered in one table.

:func:`family_of` picks a family from a checkpoint's ``config.json`` (its ``model_type``), so no
flag is needed. A checkpoint that needs ``trust_remote_code`` is refused without running any of
its code; an unknown ``model_type`` is refused naming the families vtg drives.
"""

from __future__ import annotations

from typing import Any

from vtg.errors import ModelError
from vtg.methods.videollm.families.base import Family, Prompt
from vtg.methods.videollm.families.internvl import InternVL
from vtg.methods.videollm.families.llava_next_video import LlavaNextVideo
from vtg.methods.videollm.families.llava_onevision import LlavaOneVision
from vtg.methods.videollm.families.qwen2vl import Qwen2VL, Qwen25VL
from vtg.methods.videollm.families.qwen3vl import Qwen3VL
from vtg.methods.videollm.families.video_llava import VideoLlava
from vtg.methods.videollm.families.videollama3 import VideoLlama3

#: vtg's family name -> the family; the order is the one users read in listings.
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Qwen2VL(), Qwen25VL(), Qwen3VL(), VideoLlava(), LlavaOneVision(), LlavaNextVideo(), InternVL(), VideoLlama3())}

_BY_MODEL_TYPE = {t: f for f in FAMILIES.values() for t in f.model_types}


def family_names() -> str:
    return ", ".join(f.label for f in FAMILIES.values())


def family_of(config: dict[str, Any], model: str = "the model") -> Family:
    """The family of a checkpoint from its parsed ``config.json`` (never its code)."""
    model_type = str(config.get("model_type") or "")
    if model_type in _BY_MODEL_TYPE:
        return _BY_MODEL_TYPE[model_type]
    if config.get("auto_map"):
        raise ModelError(f"{model} ({model_type or 'no model_type'}) needs trust_remote_code, and vtg never runs a "
                         f"checkpoint's own code; use its transformers-native version (often an '-hf' repo) of: "
                         f"{family_names()}")
    raise ModelError(f"{model} is a {model_type or 'model without a model_type'} checkpoint, which the Video-LLM "
                     f"runner cannot drive; it drives: {family_names()}")


__all__ = ["FAMILIES", "Family", "Prompt", "family_of", "family_names"]

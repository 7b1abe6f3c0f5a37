"""The shared Video-LLM runner and the parts NumPro, TimeMarker and VTG-LLM have in common.

Heavy imports (torch, transformers) happen when a model is loaded, not on import; the names below
load from their modules on first access, so mounting ``vtg parse`` (:mod:`.cli`) stays cheap.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "Sampled": "frames", "fit_frames": "frames", "resize_frames": "frames", "smart_resize": "frames",
    "VideoLLMConfig": "method", "VideoLLMMethod": "method", "saliency_inside": "method",
    "DEFAULT_MODEL": "runner", "Image": "runner", "Video": "runner", "VideoLLM": "runner", "load_videollm": "runner",
}
__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

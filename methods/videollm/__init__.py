"""The shared Video-LLM runner and the parts NumPro, TimeMarker and VTG-LLM have in common.

Heavy imports (torch, transformers) happen when a model is loaded, not on import.
"""

from vtg.methods.videollm.frames import Sampled, fit_frames, resize_frames, smart_resize
from vtg.methods.videollm.method import VideoLLMConfig, VideoLLMMethod, saliency_inside
from vtg.methods.videollm.runner import DEFAULT_MODEL, Image, Video, VideoLLM, load_videollm

__all__ = ["DEFAULT_MODEL", "Image", "Video", "VideoLLM", "load_videollm", "Sampled", "fit_frames",
           "resize_frames", "smart_resize", "VideoLLMConfig", "VideoLLMMethod", "saliency_inside"]

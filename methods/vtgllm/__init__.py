"""VTG-LLM (Guo et al., AAAI 2025): absolute-time tokens, sequence-time embedding, slot compression.

``parse_answer``, the time-token helpers and the method import without torch; the PyTorch modules
(:class:`SequenceTimeEmbedding`, :class:`SlotCompression`) load on first access.
"""

from vtg.methods.vtgllm.method import VTGLLM, VTGLLMConfig, parse_answer
from vtg.methods.vtgllm.timetokens import (TIME_TOKENS, add_time_tokens, format_time, has_time_tokens,
                                           parse_time, time_string)

_MODULES = ("SequenceTimeEmbedding", "SlotCompression")


def __getattr__(name: str):
    if name in _MODULES:
        from vtg.methods.vtgllm import modules

        return getattr(modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["VTGLLM", "VTGLLMConfig", "parse_answer", "TIME_TOKENS", "add_time_tokens", "format_time",
           "has_time_tokens", "parse_time", "time_string", *_MODULES]

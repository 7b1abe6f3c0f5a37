"""Frame and text feature encoders: CLIP (open_clip or transformers), SigLIP and BLIP-2 ITM.

>>> from vtg.encoders import load_encoder
>>> enc = load_encoder("ViT-B-32/openai")              # or hf-clip:..., hf-siglip:..., blip2, a directory
>>> img = enc.encode_images(frames)                      # float32 [N, D], L2-normalised
>>> txt = enc.encode_texts(["a person opens a door"])    # float32 [1, D]
>>> enc.similarity(img, txt)                             # cosine [N, 1]

Spec strings are described in :mod:`vtg.encoders.specs`; weights are found only locally
(:mod:`vtg.encoders.weights`), never downloaded on load. Heavy libraries load inside
:func:`load_encoder`, so importing this package is cheap.
"""

from __future__ import annotations

import importlib
import threading

from vtg.encoders.base import Encoder
from vtg.encoders.registry import KNOWN_MODELS, ModelEntry, ModelStatus, download, list_encoders, register_model
from vtg.encoders.specs import DEFAULT_BLIP2, EncoderSpec, parse_spec

#: family -> module with ``load(parsed_spec, device, dtype) -> Encoder``.
FAMILY_MODULES = {
    "open_clip": "vtg.encoders.open_clip_encoder",
    "hf-clip": "vtg.encoders.hf_clip",
    "hf-siglip": "vtg.encoders.hf_clip",
    "blip2": "vtg.encoders.blip2",
}

_LOADED: dict[tuple, Encoder] = {}
_LOCK = threading.Lock()


def load_encoder(spec: str | Encoder, device: str = "auto", half: bool | None = None) -> Encoder:
    """Load an encoder by spec (memoised per process for each spec, device and precision).

    ``device`` is ``auto`` (CUDA when present), ``cuda``, ``cuda:N`` or ``cpu``; ``half`` defaults
    to fp16 on CUDA and fp32 on the CPU. Missing weights raise
    :class:`vtg.errors.WeightsNotFoundError` saying how to fetch them.
    """
    if isinstance(spec, Encoder):
        return spec
    from vtg.device import default_dtype, resolve_device

    parsed = parse_spec(spec)
    dev = resolve_device(device)
    dtype = default_dtype(dev, half)
    key = (parsed, dev, str(dtype))
    with _LOCK:
        if key not in _LOADED:
            module = importlib.import_module(FAMILY_MODULES[parsed.family])
            _LOADED[key] = module.load(parsed, dev, dtype)
        return _LOADED[key]


def clear_loaded() -> None:
    """Forget memoised encoders (frees their memory once no one else holds them)."""
    with _LOCK:
        _LOADED.clear()


__all__ = [
    "DEFAULT_BLIP2", "Encoder", "EncoderSpec", "KNOWN_MODELS", "ModelEntry", "ModelStatus", "clear_loaded",
    "download", "list_encoders", "load_encoder", "parse_spec", "register_model",
]

"""Frame and text feature encoders: CLIP (open_clip or transformers), SigLIP and BLIP-2 ITM.

>>> from vtg.encoders import load_encoder
>>> enc = load_encoder("ViT-B-32/openai")              # or hf-clip:..., hf-siglip:..., blip2, a directory
>>> img = enc.encode_images(frames)                      # float32 [N, D], L2-normalised
>>> txt = enc.encode_texts(["a person opens a door"])    # float32 [1, D]
>>> enc.similarity(img, txt)                             # cosine [N, 1]

Spec strings are described in :mod:`vtg.encoders.specs`. Weights come from the local caches or a
path (:mod:`vtg.encoders.weights`); :func:`load_encoder` downloads missing ones on first use (its
``ensure_weights`` step: size and progress on stderr; offline a one-line error), as whisper and
transformers do. Front ends fetch before loading, in a step of its own
(:func:`vtg.planning.fetch_models`); :func:`vtg.encoders.weights.find_weights` looks without
downloading. Heavy libraries load inside :func:`load_encoder`, so importing this package is cheap.
"""

from __future__ import annotations

from vtg.encoders.base import Encoder
from vtg.encoders.registry import KNOWN_MODELS, ModelEntry, ModelStatus, download, list_encoders, register_model
from vtg.encoders.specs import DEFAULT_BLIP2, EncoderSpec, parse_spec

#: family -> module with ``load(parsed_spec, device, dtype) -> Encoder`` and, optionally,
#: ``load_text(parsed_spec, device, dtype) -> Encoder`` that builds only the text side.
FAMILY_MODULES = {
    "open_clip": "vtg.encoders.open_clip_encoder",
    "hf-clip": "vtg.encoders.hf_clip",
    "hf-siglip": "vtg.encoders.hf_clip",
    "blip2": "vtg.encoders.blip2",
}


def load_encoder(spec: str | Encoder, device: str = "auto", half: bool | None = None, *,
                 text_only: bool = False) -> Encoder:
    """Load an encoder by spec, shared per process through :func:`vtg.engine.default_manager`.

    ``device`` is ``auto`` (CUDA when present), ``cuda``, ``cuda:N`` or ``cpu``; ``half`` defaults
    to fp16 on CUDA and fp32 on the CPU. ``text_only`` loads just what encodes sentences (the text
    tower) unless the full model is already loaded. Missing weights are downloaded first unless
    offline, where they raise :class:`vtg.errors.WeightsNotFoundError` saying how to fetch them.
    """
    from vtg.engine import default_manager

    return default_manager().encoder(spec, device, half, text_only=text_only)


def clear_loaded() -> None:
    """Forget loaded encoders and cached text embeddings (frees their memory once no one else holds them)."""
    from vtg.engine import default_manager

    default_manager().release("encoder")


__all__ = [
    "DEFAULT_BLIP2", "Encoder", "EncoderSpec", "KNOWN_MODELS", "ModelEntry", "ModelStatus", "clear_loaded",
    "download", "list_encoders", "load_encoder", "parse_spec", "register_model",
]

"""Frame and text feature encoders: CLIP (open_clip or transformers), SigLIP and BLIP-2 ITM.

>>> from vtg.encoders import load_encoder
>>> enc = load_encoder("ViT-B-32/openai")              # or hf-clip:..., hf-siglip:..., blip2, a directory
>>> img = enc.encode_images(frames)                      # float32 [N, D], L2-normalised
>>> txt = enc.encode_texts(["a person opens a door"])    # float32 [1, D]
>>> enc.similarity(img, txt)                             # cosine [N, 1]

Spec strings are described in :mod:`vtg.encoders.specs`. Weights come from the local caches or a
path (:mod:`vtg.encoders.weights`); :func:`load_encoder` downloads missing ones on first use (its
:func:`vtg.encoders.fetch.ensure_weights` step: size and progress on stderr; offline a one-line error), as whisper and
transformers do. Front ends fetch before loading, in a step of its own
(:func:`vtg.planning.fetch_models`); :func:`vtg.encoders.fetch.find_weights` looks without
downloading. Heavy libraries load inside :func:`load_encoder`, so importing this package is cheap.
"""

from __future__ import annotations

from vtg.encoders.base import Encoder
from vtg.encoders.fetch import download, list_encoders
from vtg.encoders.loading import FAMILY_MODULES, shared_encoder
from vtg.encoders.registry import KNOWN_MODELS, ModelEntry, ModelStatus, register_model
from vtg.encoders.specs import DEFAULT_BLIP2, EncoderSpec, parse_spec
from vtg.engine import ModelManager, default_manager


def load_encoder(spec: str | Encoder, device: str = "auto", half: bool | None = None, *,
                 text_only: bool = False, manager: ModelManager | None = None) -> Encoder:
    """Load an encoder by spec, shared through ``manager`` (default: the process's,
    :func:`vtg.engine.default_manager`).

    ``device`` is ``auto`` (CUDA when present), ``cuda``, ``cuda:N`` or ``cpu``; ``half`` defaults
    to fp16 on CUDA and fp32 on the CPU. ``text_only`` loads just what encodes sentences (the text
    tower) unless the full model is already loaded. Missing weights are downloaded first unless
    offline, where they raise :class:`vtg.errors.WeightsNotFoundError` saying how to fetch them.
    """
    return shared_encoder(manager or default_manager(), spec, device, half, text_only=text_only)


def clear_loaded() -> None:
    """Forget loaded encoders and cached text embeddings (frees their memory once no one else holds them)."""
    default_manager().release("encoder")


__all__ = [
    "DEFAULT_BLIP2", "FAMILY_MODULES", "Encoder", "EncoderSpec", "KNOWN_MODELS", "ModelEntry", "ModelStatus",
    "clear_loaded", "download", "list_encoders", "load_encoder", "parse_spec", "register_model",
]

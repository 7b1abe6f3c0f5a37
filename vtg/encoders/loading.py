"""Loading an encoder by spec through a model manager, so each (spec, device, dtype) loads once.

The manager (:mod:`vtg.engine`) knows nothing about encoders: it shares whatever a loader returns.
This module is the encoders' side of it: which module builds a family, when the text tower alone
is enough, and how a full model replaces a text-only copy.
"""

from __future__ import annotations

import importlib
import logging

from vtg import device as devices
from vtg.encoders.base import Encoder
from vtg.encoders.specs import EncoderSpec, parse_spec
from vtg.engine import ModelManager

log = logging.getLogger(__name__)

#: family -> module with ``load(parsed_spec, device, dtype) -> Encoder`` and, optionally,
#: ``load_text(parsed_spec, device, dtype) -> Encoder`` that builds only the text side.
FAMILY_MODULES = {
    "open_clip": "vtg.encoders.open_clip_encoder",
    "hf-clip": "vtg.encoders.hf_clip",
    "hf-siglip": "vtg.encoders.hf_clip",
    "blip2": "vtg.encoders.blip2",
}


def shared_encoder(manager: ModelManager, spec: str | Encoder, device: str = "auto", half: bool | None = None, *,
                   text_only: bool = False) -> Encoder:
    """A frame/text encoder by spec, shared in ``manager`` per (spec, device, dtype).

    ``text_only`` asks only for what encodes sentences (the text tower): what a query on a
    video with cached features needs. A full encoder already loaded serves text too, so it is
    returned instead; loading the full encoder later drops the text-only copy.
    """
    if isinstance(spec, Encoder):
        return spec
    parsed = parse_spec(spec)
    dev = devices.resolve_device(device)
    dtype = devices.default_dtype(dev, half)
    base = (parsed, dev, str(dtype))
    label = f"{parsed.canonical} ({dev}, {str(dtype).replace('torch.', '')})"
    if text_only:
        full = manager.peek("encoder", base + ("full",))
        if full is not None:
            return full
        return manager.get("encoder", base + ("text",), lambda: _load(manager, parsed, dev, dtype, True),
                           label=label + " text tower")
    enc = manager.get("encoder", base + ("full",), lambda: _load(manager, parsed, dev, dtype, False), label=label)
    manager.discard("encoder", base + ("text",))
    return enc


def _load(manager: ModelManager, parsed: EncoderSpec, device: str, dtype, text_only: bool) -> Encoder:
    """Build the encoder (or its text tower) with its family's module; it shares the manager's text cache."""
    precision = devices.precision_name(dtype)
    if device == "cpu" and devices.emulated_on_cpu(precision):
        log.warning(
            "%s on this CPU is emulated (no %s units): %s will encode slower than with --precision fp32",
            precision, precision, parsed.canonical)
    module = importlib.import_module(FAMILY_MODULES[parsed.family])  # the heavy boundary (torch, transformers)
    loader = getattr(module, "load_text", None) if text_only else None
    enc = (loader or module.load)(parsed, device, dtype)
    enc.text_cache = manager.text_cache
    return enc

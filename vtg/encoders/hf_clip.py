"""CLIP (Radford et al. 2021) and SigLIP (Zhai et al. 2023) through transformers.

Each model uses the image processor and tokenizer saved beside it, so preprocessing is the model's
own. Text is tokenised the way each model was trained: CLIP pads to the longest sentence (its
causal text encoder pools the end-of-text token, so padding is never seen); SigLIP pads to
``max_length`` (64 for the released models) and its text encoder reads the last position without
an attention mask, as in big_vision, where SigLIP was trained. Weights load with
``local_files_only=True``: a directory written by ``save_pretrained`` or a cached hub id.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from vtg.determinism import fixed_threads
from vtg.encoders import hf_text, weights
from vtg.encoders.base import Encoder, as_texts, l2_normalize, pooled
from vtg.encoders.preprocess import for_hf_processor
from vtg.encoders.specs import EncoderSpec
from vtg.errors import CheckpointError
from vtg.modelsize import check_transformers_model


class HFClipEncoder(Encoder):
    """CLIPModel: joint embeddings from ``get_image_features`` / ``get_text_features``.

    Text-only (``image_processor`` None): a ``CLIPTextModelWithProjection`` loaded from the same
    checkpoint, whose ``text_embeds`` are ``get_text_features``' output (same weights, same graph).
    """

    family = "hf-clip"

    def __init__(self, spec, model, image_processor, tokenizer, device, dtype, fingerprint):
        text_only = image_processor is None
        dim = model.config.projection_dim
        super().__init__(spec, device, dtype, dim, fingerprint=fingerprint)
        self.model, self.image_processor, self.tokenizer = model, image_processor, tokenizer
        self.text_only = text_only
        text_config = model.config if text_only else model.config.text_config
        self.max_length = int(text_config.max_position_embeddings)
        self.image_transform = for_hf_processor(image_processor)

    def _reference_pixels(self, frames: np.ndarray):
        batch = self.image_processor(images=list(frames), return_tensors="pt")
        return batch["pixel_values"].to(self.device, dtype=self.dtype)

    def _tokens(self, texts: list[str]) -> dict:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        return {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}

    def _forward(self, pixels):
        return l2_normalize(pooled(self.model.get_image_features(pixel_values=pixels)))

    def _encode_text_batch(self, texts: list[str]):
        if self.text_only:
            return l2_normalize(self.model(**self._tokens(texts)).text_embeds)
        return l2_normalize(pooled(self.model.get_text_features(**self._tokens(texts))))

    def encode_text_tokens(self, texts: list[str] | str) -> list[np.ndarray]:
        """Text-encoder ``last_hidden_state`` (after ``final_layer_norm``), real tokens only."""
        import torch

        texts = as_texts(texts)
        if not texts:
            return []
        tokens = self._tokens(texts)
        with torch.inference_mode(), fixed_threads(self.device):
            # CLIPModel / CLIPTextModelWithProjection hold it as ``text_model``; transformers 5's
            # SiglipTextModel is the text transformer itself.
            text_model = getattr(self.model, "text_model", self.model)
            hidden = text_model(**tokens).last_hidden_state.float().cpu().numpy()
        lengths = self._lengths(tokens)
        return [hidden[i, :n].astype(np.float32) for i, n in enumerate(lengths)]

    def _lengths(self, tokens: dict) -> list[int]:
        return tokens["attention_mask"].sum(dim=1).tolist()


class HFSiglipEncoder(HFClipEncoder):
    """SiglipModel: same interface; sigmoid-trained, but cosine ranking is what methods need."""

    family = "hf-siglip"

    def __init__(self, spec, model, image_processor, tokenizer, device, dtype, fingerprint):
        text_config = model.config if image_processor is None else model.config.text_config
        Encoder.__init__(self, spec, device, dtype, text_config.hidden_size, fingerprint=fingerprint)
        self.model, self.image_processor, self.tokenizer = model, image_processor, tokenizer
        self.text_only = image_processor is None
        self.max_length = int(text_config.max_position_embeddings)
        self.image_transform = for_hf_processor(image_processor)
        self.eos_id = self.tokenizer.eos_token_id

    def _encode_text_batch(self, texts: list[str]):
        if self.text_only:  # SiglipTextModel's pooler_output is SiglipModel.get_text_features'
            return l2_normalize(self.model(**self._tokens(texts)).pooler_output)
        return super()._encode_text_batch(texts)

    def _tokens(self, texts: list[str]) -> dict:
        batch = self.tokenizer(texts, padding="max_length", truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        return {"input_ids": batch["input_ids"].to(self.device)}

    def _lengths(self, tokens: dict) -> list[int]:
        """Up to and including the first end-of-sentence token (SigLIP pads with it too)."""
        ids = tokens["input_ids"].cpu()
        out = []
        for row in ids.tolist():
            out.append(row.index(self.eos_id) + 1 if self.eos_id in row else len(row))
        return out


def load_text(parsed: EncoderSpec, device: str, dtype) -> Encoder:
    """Only the text side: vtg's own tower (:mod:`vtg.encoders.hf_text`, no transformers import)
    when it reproduces the checkpoint, else ``CLIPTextModelWithProjection`` / ``SiglipTextModel``
    from the full checkpoint (the vision weights are never read into memory either way)."""
    own = hf_text.load_text(parsed, device, dtype)
    if own is not None:
        return own
    model_cls: type
    enc_cls: type[HFClipEncoder]
    if parsed.family == "hf-siglip":
        from transformers import SiglipTextModel

        model_cls, enc_cls = SiglipTextModel, HFSiglipEncoder
    else:
        from transformers import CLIPTextModelWithProjection

        model_cls, enc_cls = CLIPTextModelWithProjection, HFClipEncoder
    model, tokenizer, fingerprint = load_text_parts(parsed, model_cls, dtype, device)
    return enc_cls(parsed.canonical, model, None, tokenizer, device, dtype, fingerprint)


def load_hf_parts(parsed: EncoderSpec, model_cls, dtype, device: str):
    """Model, image processor, tokenizer and weights fingerprint of a transformers encoder.

    Shared by the CLIP/SigLIP and BLIP-2 loaders: the weights are made local first (downloaded on
    first use unless offline, before transformers is imported), then loaded with
    ``local_files_only``; a directory that exists but cannot be read becomes a CheckpointError.
    """
    weight_file = weights.require_hf_model(parsed.source, parsed.is_local)
    from transformers import AutoImageProcessor, AutoTokenizer

    check_transformers_model(os.path.dirname(weight_file), model_cls, dtype, what=parsed.canonical)

    common: dict[str, Any] = dict(local_files_only=True, cache_dir=str(weights.hf_cache_dir()))
    weights.quiet_transformers()
    try:
        model = model_cls.from_pretrained(parsed.source, dtype=dtype, **common)
        image_processor = AutoImageProcessor.from_pretrained(parsed.source, **common)
        tokenizer = AutoTokenizer.from_pretrained(parsed.source, **common)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot load {parsed.canonical}: {exc}") from exc
    model.to(device).eval()
    return model, image_processor, tokenizer, weights.fingerprint(weight_file)


def load_text_parts(parsed: EncoderSpec, model_cls, dtype, device: str):
    """Model and tokenizer (no image processor) of a transformers checkpoint, offline; as
    :func:`load_hf_parts` for the text side of CLIP, SigLIP and BLIP-2.

    The checkpoint holds both towers: the vision weights are skipped (expected), but a text
    weight missing from it, or of another shape, is an error, never a random initialisation.
    """
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    weight_file = weights.require_hf_model(parsed.source, parsed.is_local)
    common = dict(local_files_only=True, cache_dir=str(weights.hf_cache_dir()))
    weights.quiet_transformers()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its load report lists every skipped vision weight
    try:
        config = _text_config(parsed.source, model_cls, common)
        check_transformers_model(os.path.dirname(weight_file), model_cls, dtype, config=config, what=parsed.canonical)
        model, info = model_cls.from_pretrained(parsed.source, dtype=dtype, output_loading_info=True,
                                                **({"config": config} if config is not None else {}), **common)
        tokenizer = AutoTokenizer.from_pretrained(parsed.source, **common)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot load {parsed.canonical}: {exc}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    bad = list(info.get("missing_keys") or []) + [str(k) for k in info.get("mismatched_keys") or []]
    if bad:
        raise CheckpointError(f"cannot load the text side of {parsed.canonical}: weights missing or of another "
                              f"shape: {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}")
    model.to(device).eval()
    return model, tokenizer, weights.fingerprint(weight_file)


def _text_config(source: str, model_cls, common: dict):
    """CLIP keeps ``projection_dim`` on the joint config: give it to the text config, whose own
    default (512) would not match the checkpoint's projection."""
    if model_cls.__name__ != "CLIPTextModelWithProjection":
        return None
    from transformers import CLIPConfig, CLIPTextConfig

    try:
        full = CLIPConfig.from_pretrained(source, **common)
    except Exception as exc:  # an untrusted config.json: transformers' validators raise their own types
        raise CheckpointError(f"cannot read the config of {source}: {type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}") from None
    text = full.text_config
    if not isinstance(text, CLIPTextConfig):  # transformers builds one from any dict or None it reads
        raise CheckpointError(f"cannot read the text config of {source}")
    text.projection_dim = full.projection_dim
    return text


def load(parsed: EncoderSpec, device: str, dtype) -> HFClipEncoder:
    from transformers import CLIPModel, SiglipModel

    model_cls, enc_cls = (SiglipModel, HFSiglipEncoder) if parsed.family == "hf-siglip" else (CLIPModel, HFClipEncoder)
    model, image_processor, tokenizer, fingerprint = load_hf_parts(parsed, model_cls, dtype, device)
    return enc_cls(parsed.canonical, model, image_processor, tokenizer, device, dtype, fingerprint)

"""CLIP (Radford et al. 2021) and SigLIP (Zhai et al. 2023) through transformers.

Each model uses the image processor and tokenizer saved beside it, so preprocessing is the model's
own. Text is tokenised the way each model was trained: CLIP pads to the longest sentence (its
causal text encoder pools the end-of-text token, so padding is never seen); SigLIP pads to
``max_length`` (64 for the released models) and its text encoder reads the last position without
an attention mask, as in big_vision, where SigLIP was trained. Weights load with
``local_files_only=True``: a directory written by ``save_pretrained`` or a cached hub id.
"""

from __future__ import annotations

import numpy as np

from vtg.encoders.base import Encoder, _as_texts, l2_normalize, pooled
from vtg.encoders.preprocess import for_hf_processor
from vtg.encoders.specs import EncoderSpec


class HFClipEncoder(Encoder):
    """CLIPModel: joint embeddings from ``get_image_features`` / ``get_text_features``."""

    family = "hf-clip"

    def __init__(self, spec, model, image_processor, tokenizer, device, dtype, fingerprint):
        dim = model.config.projection_dim
        super().__init__(spec, device, dtype, dim, fingerprint=fingerprint)
        self.model, self.image_processor, self.tokenizer = model, image_processor, tokenizer
        self.max_length = int(model.config.text_config.max_position_embeddings)
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
        return l2_normalize(pooled(self.model.get_text_features(**self._tokens(texts))))

    def encode_text_tokens(self, texts: list[str] | str) -> list[np.ndarray]:
        """Text-encoder ``last_hidden_state`` (after ``final_layer_norm``), real tokens only."""
        import torch

        texts = _as_texts(texts)
        if not texts:
            return []
        tokens = self._tokens(texts)
        with torch.inference_mode():
            hidden = self.model.text_model(**tokens).last_hidden_state.float().cpu().numpy()
        lengths = self._lengths(tokens)
        return [hidden[i, :n].astype(np.float32) for i, n in enumerate(lengths)]

    def _lengths(self, tokens: dict) -> list[int]:
        return tokens["attention_mask"].sum(dim=1).tolist()


class HFSiglipEncoder(HFClipEncoder):
    """SiglipModel: same interface; sigmoid-trained, but cosine ranking is what methods need."""

    family = "hf-siglip"

    def __init__(self, spec, model, image_processor, tokenizer, device, dtype, fingerprint):
        Encoder.__init__(self, spec, device, dtype, model.config.text_config.hidden_size, fingerprint=fingerprint)
        self.model, self.image_processor, self.tokenizer = model, image_processor, tokenizer
        self.max_length = int(model.config.text_config.max_position_embeddings)
        self.image_transform = for_hf_processor(image_processor)
        self.eos_id = self.tokenizer.eos_token_id

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


def load(parsed: EncoderSpec, device: str, dtype) -> HFClipEncoder:
    from transformers import CLIPModel, SiglipModel

    from vtg.encoders import weights

    model_cls, enc_cls = (SiglipModel, HFSiglipEncoder) if parsed.family == "hf-siglip" else (CLIPModel, HFClipEncoder)
    model, image_processor, tokenizer, fingerprint = weights.load_hf_parts(parsed, model_cls, dtype, device)
    return enc_cls(parsed.canonical, model, image_processor, tokenizer, device, dtype, fingerprint)

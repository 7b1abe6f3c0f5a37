"""BLIP-2's image-text-matching Q-Former (Li et al. 2023) through transformers' native classes.

This is the feature space TFVTG scores frames in (Zheng et al. 2024, Sec. 3.1: BLIP-2 ITM,
``Salesforce/blip2-itm-vit-g-coco``). ``Blip2ForImageTextRetrieval`` holds the ViT-g vision tower,
the 32 learned queries, the Q-Former and both projections; its forward pass only returns paired
scores, so the two halves of its contrastive (ITC) branch are run separately here:

* image: ViT-g patch tokens -> Q-Former with the 32 query tokens cross-attending ->
  ``vision_projection`` -> L2 normalise: [N, 32, 256];
* text: Q-Former text encoder (no queries) -> ``text_projection`` of the [CLS] state ->
  L2 normalise: [M, 256];
* similarity: the best of the 32 query-token cosines (BLIP-2, Sec. 3.2, ITC), as
  ``Blip2ForImageTextRetrieval.forward(use_image_text_matching_head=False)`` computes.

Preprocessing is the model's own: the image processor and tokenizer that its ``Blip2Processor``
bundles, loaded from the same directory (the processor's image-token prefix only applies to
image+text pairs, which are never formed here). salesforce-lavis is not used: it cannot be
installed beside modern transformers.
"""

from __future__ import annotations

import numpy as np

from vtg.encoders.base import Encoder, l2_normalize
from vtg.encoders.hf_clip import load_hf_parts, load_text_parts
from vtg.encoders.preprocess import for_hf_processor
from vtg.encoders.specs import EncoderSpec


#: Text length of the reference BLIP-2 ITM setup used by TFVTG (LAVIS ``max_txt_len``).
REFERENCE_TEXT_TOKENS = 35


class Blip2Encoder(Encoder):
    family = "blip2"
    multi_vector = True

    def __init__(self, spec, model, image_processor, tokenizer, device, dtype, fingerprint):
        super().__init__(spec, device, dtype, model.config.image_text_hidden_size, fingerprint=fingerprint)
        self.model, self.image_processor, self.tokenizer = model, image_processor, tokenizer
        self.num_queries = int(model.config.num_query_tokens)
        # TFVTG's reference (LAVIS BLIP-2 ITM) truncates text at 35 tokens; long queries must embed
        # the same way for published numbers to reproduce.
        self.max_length = min(REFERENCE_TEXT_TOKENS, int(model.config.qformer_config.max_position_embeddings))
        self.image_transform = for_hf_processor(image_processor)

    def image_feature_shape(self) -> tuple[int, ...]:
        """One row per Q-Former query token: ``(num_queries, dim)``."""
        return (self.num_queries, self.dim)

    def _pixel_dtype(self):
        return self.model.vision_model.dtype

    def _reference_pixels(self, frames: np.ndarray):
        pixels = self.image_processor(images=list(frames), return_tensors="pt")["pixel_values"]
        return pixels.to(self.device, dtype=self._pixel_dtype())

    def _forward(self, pixels):
        import torch

        m = self.model
        image_embeds = m.vision_model(pixel_values=pixels).last_hidden_state
        image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
        queries = m.query_tokens.expand(image_embeds.shape[0], -1, -1)
        out = m.qformer(query_embeds=queries, encoder_hidden_states=image_embeds,
                        encoder_attention_mask=image_mask).last_hidden_state
        out = out.to(m.vision_projection.weight.dtype)
        return l2_normalize(m.vision_projection(out))

    def _encode_text_batch(self, texts: list[str]):
        m = self.model
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        input_ids = batch["input_ids"].to(self.device)
        mask = batch["attention_mask"].to(self.device)
        embeds = m.embeddings(input_ids=input_ids)
        hidden = m.qformer(query_embeds=embeds, query_length=0, attention_mask=mask).last_hidden_state
        cls = hidden[:, 0, :].to(m.text_projection.weight.dtype)
        return l2_normalize(m.text_projection(cls))


def load_text(parsed: EncoderSpec, device: str, dtype) -> Encoder:
    """Only the text path, without the ViT-g (about 1B parameters): vtg's own Q-Former text tower
    (:mod:`vtg.encoders.blip2_text`, no transformers import) when it reproduces the checkpoint,
    else ``Blip2TextModelWithProjection`` (Q-Former text embeddings, Q-Former, ``text_projection``)."""
    from vtg.encoders import blip2_text

    own = blip2_text.load_text(parsed, device, dtype, REFERENCE_TEXT_TOKENS)
    if own is not None:
        return own
    from transformers import Blip2TextModelWithProjection

    model, tokenizer, fingerprint = load_text_parts(parsed, Blip2TextModelWithProjection, dtype, device)
    enc = Blip2Encoder(parsed.canonical, model, None, tokenizer, device, dtype, fingerprint)
    enc.text_only = True
    return enc


def load(parsed: EncoderSpec, device: str, dtype) -> Blip2Encoder:
    from transformers import Blip2ForImageTextRetrieval

    model, image_processor, tokenizer, fingerprint = load_hf_parts(
        parsed, Blip2ForImageTextRetrieval, dtype, device)
    return Blip2Encoder(parsed.canonical, model, image_processor, tokenizer, device, dtype, fingerprint)

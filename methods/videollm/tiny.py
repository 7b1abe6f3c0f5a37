"""Tiny randomly initialised Video-LLMs, one per family the runner drives, for tests and benchmarks.

``save_tiny(family, folder)`` builds the family's real transformers classes (config, model,
processor) at toy sizes (a few hundred thousand parameters, a byte-level tokenizer carrying the
family's special tokens, frames of 28-56 px), then ``save_pretrained`` writes them, so tests load
them through the runner's normal path exactly as a downloaded checkpoint. Their answers are random
text: they check the path (family detection, processor, chat template, video input, generation),
not grounding quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

#: Qwen-style chat markers and vision placeholders (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, VideoLLaMA3).
QWEN_SPECIALS = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
SPECIALS = QWEN_SPECIALS  # the name earlier callers import

#: A Qwen-style chat template: images and videos become vision_start + pad + vision_end.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def placeholder_template(image: str, video: str, user: str = "USER: ", assistant: str = "ASSISTANT:") -> str:
    """A LLaVA-style template (the released ones' shape): placeholders where the parts are."""
    return (
        "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{{ message['content'][0]['text'] }}\n"
        "{% else %}{{ '" + user + "' if message['role'] == 'user' else '" + assistant + " ' }}"
        "{% for c in message['content'] %}"
        "{% if c['type'] == 'image' %}" + image + "{% elif c['type'] == 'video' %}" + video +
        "{% else %}{{ c['text'] }}{% endif %}{% endfor %}\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}" + assistant + "{% endif %}"
    )


def tiny_tokenizer(specials: list[str] = QWEN_SPECIALS, template: str = CHAT_TEMPLATE,
                   named: dict[str, str] | None = None):
    """Byte-level BPE with no merges (one token per byte) plus the family's special tokens;
    ``named`` gives tokens the attribute names a processor looks up (InternVL's ``start_image_token``)."""
    from tokenizers import pre_tokenizers
    from transformers import Qwen2Tokenizer

    vocab = {"<|endoftext|>": 0}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    extra: dict[str, Any] = {"extra_special_tokens": named} if named else {}
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], additional_special_tokens=list(specials), **extra)
    tok.chat_template = template
    return tok


def _text(tok, end: str = "<|im_end|>", **overrides: Any) -> dict:
    """A two-layer, 32-wide decoder config for ``tok``'s vocabulary."""
    config = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768,
                  bos_token_id=0, eos_token_id=tok.convert_tokens_to_ids(end), pad_token_id=0)
    config.update(overrides)
    return config


def _qwen_ids(tok) -> dict:
    ids = tok.convert_tokens_to_ids(QWEN_SPECIALS)
    return dict(image_token_id=ids[4], video_token_id=ids[5], vision_start_token_id=ids[2], vision_end_token_id=ids[3])


def _qwen2vl(version: str) -> Callable[[], tuple[Any, Any]]:
    def build():
        from transformers import Qwen2VLImageProcessor
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

        tok = tiny_tokenizer()
        text = _text(tok, rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1], "rope_theta": 10000.0})
        vision = dict(depth=1, hidden_size=32, num_heads=2, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
        if version == "2.5":
            from transformers import Qwen2_5_VLConfig as Config
            from transformers import Qwen2_5_VLForConditionalGeneration as Model
            from transformers import Qwen2_5_VLProcessor as Processor
            vision.update(intermediate_size=64, out_hidden_size=32, window_size=56, fullatt_block_indexes=[0])
        else:
            from transformers import Qwen2VLConfig as Config
            from transformers import Qwen2VLForConditionalGeneration as Model
            from transformers import Qwen2VLProcessor as Processor
            vision.update(embed_dim=32, mlp_ratio=2)
        model = Model(Config(text_config=text, vision_config=vision, **_qwen_ids(tok)))
        processor = Processor(image_processor=Qwen2VLImageProcessor(), tokenizer=tok,
                              video_processor=Qwen2VLVideoProcessor(), chat_template=CHAT_TEMPLATE)
        return model, processor
    return build


def _qwen3vl():
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    tok = tiny_tokenizer()
    text = _text(tok, head_dim=8, rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1],
                                                   "mrope_interleaved": True, "rope_theta": 10000.0})
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16, spatial_merge_size=2,
                  temporal_patch_size=2, out_hidden_size=32, num_position_embeddings=16, deepstack_visual_indexes=[1])
    model = Qwen3VLForConditionalGeneration(Qwen3VLConfig(text_config=text, vision_config=vision, **_qwen_ids(tok)))
    # Qwen3-VL: 16 px patches merged 2x2, so 32 px per visual token.
    pixels = dict(patch_size=16, merge_size=2)
    processor = Qwen3VLProcessor(image_processor=Qwen2VLImageProcessor(**pixels), tokenizer=tok,
                                 video_processor=Qwen3VLVideoProcessor(**pixels), chat_template=CHAT_TEMPLATE)
    return model, processor


def _videollama3():
    from transformers import (VideoLlama3Config, VideoLlama3ForConditionalGeneration, VideoLlama3ImageProcessor,
                              VideoLlama3Processor, VideoLlama3VideoProcessor)

    tok = tiny_tokenizer()
    ids = _qwen_ids(tok)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, patch_size=14)
    config = VideoLlama3Config(text_config=_text(tok), vision_config=vision,
                               image_token_id=ids["image_token_id"], video_token_id=ids["video_token_id"])
    model = VideoLlama3ForConditionalGeneration(config)
    processor = VideoLlama3Processor(image_processor=VideoLlama3ImageProcessor(), tokenizer=tok,
                                     video_processor=VideoLlama3VideoProcessor(), chat_template=CHAT_TEMPLATE)
    return model, processor


LLAVA_SPECIALS = ["<image>", "<video>", "<|im_end|>"]


def _clip_vision(size: int) -> dict:
    return dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, image_size=size, patch_size=14, projection_dim=32)


def _video_llava():
    from transformers import (VideoLlavaConfig, VideoLlavaForConditionalGeneration, VideoLlavaImageProcessor,
                              VideoLlavaProcessor)
    from transformers.models.video_llava.video_processing_video_llava import VideoLlavaVideoProcessor

    template = placeholder_template("<image>\n", "<video>\n")
    tok = tiny_tokenizer(LLAVA_SPECIALS, template)
    image, video = tok.convert_tokens_to_ids(["<image>", "<video>"])
    size = 56  # the released model's 224, shrunk: 4x4 patches of 14 px
    config = VideoLlavaConfig(text_config=_text(tok, model_type="llama"), vision_config=_clip_vision(size),
                              image_token_index=image, video_token_index=video, image_seq_length=16,
                              video_seq_length=8 * 17)
    pixels = dict(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    processor = VideoLlavaProcessor(image_processor=VideoLlavaImageProcessor(**pixels), tokenizer=tok,
                                    video_processor=VideoLlavaVideoProcessor(**pixels), chat_template=template,
                                    patch_size=14, vision_feature_select_strategy="default")
    return VideoLlavaForConditionalGeneration(config), processor


def _llava_onevision():
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration, LlavaOnevisionProcessor
    from transformers.models.llava_onevision.image_processing_llava_onevision import LlavaOnevisionImageProcessor
    from transformers.models.llava_onevision.video_processing_llava_onevision import LlavaOnevisionVideoProcessor

    template = placeholder_template("<image>\n", "<video>\n", "<|im_start|>user\n", "<|im_start|>assistant\n")
    tok = tiny_tokenizer(LLAVA_SPECIALS + ["<|im_start|>"], template)
    image, video = tok.convert_tokens_to_ids(["<image>", "<video>"])
    size = 56  # the released 384 (SigLIP, 27x27 patches), shrunk: 4x4 patches
    vision = dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, image_size=size, patch_size=14)
    config = LlavaOnevisionConfig(text_config=_text(tok, model_type="qwen2"), vision_config=vision,
                                  image_token_index=image, video_token_index=video,
                                  image_grid_pinpoints=[[size, size], [size, 2 * size], [2 * size, size]],
                                  vision_feature_select_strategy="full", vision_feature_layer=-1)
    pixels = dict(size={"height": size, "width": size})
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(image_grid_pinpoints=config.image_grid_pinpoints, **pixels),
        video_processor=LlavaOnevisionVideoProcessor(**pixels), tokenizer=tok, chat_template=template,
        num_image_tokens=16, vision_feature_select_strategy="full")
    return LlavaOnevisionForConditionalGeneration(config), processor


def _llava_next_video():
    from transformers import (LlavaNextImageProcessor, LlavaNextVideoConfig, LlavaNextVideoForConditionalGeneration,
                              LlavaNextVideoProcessor)
    from transformers.models.llava_next_video.video_processing_llava_next_video import LlavaNextVideoVideoProcessor

    template = placeholder_template("<image>\n", "<video>\n")
    tok = tiny_tokenizer(LLAVA_SPECIALS, template)
    image, video = tok.convert_tokens_to_ids(["<image>", "<video>"])
    size = 56
    config = LlavaNextVideoConfig(text_config=_text(tok, model_type="llama"), vision_config=_clip_vision(size),
                                  image_token_index=image, video_token_index=video,
                                  image_grid_pinpoints=[[size, size], [size, 2 * size], [2 * size, size]],
                                  image_seq_length=16, video_seq_length=4)
    pixels = dict(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    processor = LlavaNextVideoProcessor(
        image_processor=LlavaNextImageProcessor(image_grid_pinpoints=config.image_grid_pinpoints, **pixels),
        video_processor=LlavaNextVideoVideoProcessor(**pixels), tokenizer=tok, chat_template=template,
        patch_size=14, vision_feature_select_strategy="default", num_additional_image_tokens=1)
    return LlavaNextVideoForConditionalGeneration(config), processor


def _internvl():
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor
    from transformers.models.got_ocr2.image_processing_got_ocr2 import GotOcr2ImageProcessor
    from transformers.models.internvl.video_processing_internvl import InternVLVideoProcessor

    named = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
             "video_token": "<video>"}
    template = placeholder_template("<IMG_CONTEXT>\n", "<video>\n", "<|im_start|>user\n", "<|im_start|>assistant\n")
    tok = tiny_tokenizer(["<|im_start|>", "<|im_end|>"], template, named)
    size = 56  # the released 448 (14 px patches, pixel shuffle 0.5: 256 tokens), shrunk: 4 tokens
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  image_size=[size, size], patch_size=[14, 14])
    config = InternVLConfig(text_config=_text(tok, model_type="qwen2"), vision_config=vision,
                            image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"), image_seq_length=4)
    pixels = dict(size={"height": size, "width": size})
    processor = InternVLProcessor(image_processor=GotOcr2ImageProcessor(crop_to_patches=False, **pixels),
                                  video_processor=InternVLVideoProcessor(**pixels), tokenizer=tok,
                                  chat_template=template, image_seq_length=4)
    return InternVLForConditionalGeneration(config), processor


#: family name -> builder of (random model, processor); names match vtg.methods.videollm.families.
BUILDERS: dict[str, Callable[[], tuple[Any, Any]]] = {
    "qwen2-vl": _qwen2vl("2"),
    "qwen2.5-vl": _qwen2vl("2.5"),
    "qwen3-vl": _qwen3vl,
    "video-llava": _video_llava,
    "llava-onevision": _llava_onevision,
    "llava-next-video": _llava_next_video,
    "internvl": _internvl,
    "videollama3": _videollama3,
}


def save_tiny(family: str, directory: Path | str, seed: int = 0) -> Path:
    """Build ``family``'s tiny random model and processor and ``save_pretrained`` both into ``directory``."""
    import torch

    if family not in BUILDERS:
        raise ValueError(f"no tiny model for {family!r}; families: {', '.join(BUILDERS)}")
    torch.manual_seed(seed)
    model, processor = BUILDERS[family]()
    directory = Path(directory)
    model.eval().save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def save_tiny_qwen2vl(directory: Path, seed: int = 0, version: str = "2") -> Path:
    """The tiny Qwen2-VL (``version="2"``) or Qwen2.5-VL (``"2.5"``), as earlier tests call it."""
    return save_tiny("qwen2.5-vl" if version == "2.5" else "qwen2-vl", directory, seed)

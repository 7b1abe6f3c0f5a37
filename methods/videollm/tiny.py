"""A tiny randomly initialised Qwen2-VL / Qwen2.5-VL for tests and the CPU benchmark.

About 0.1 M parameters with a byte-level tokenizer, built offline and saved with
``save_pretrained``, so tests (and ``benchmarks/bench_videollm.py --tiny``) load it through the
runner's normal path. Its answers are random text: it checks the path, not grounding quality.
"""

from __future__ import annotations

from pathlib import Path

SPECIALS = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]

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


def tiny_tokenizer():
    """Byte-level BPE with no merges: one token per byte, plus Qwen's special tokens."""
    from tokenizers import pre_tokenizers
    from transformers import Qwen2Tokenizer

    vocab = {"<|endoftext|>": 0}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], additional_special_tokens=SPECIALS)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def save_tiny_qwen2vl(directory: Path, seed: int = 0, version: str = "2") -> Path:
    """Build the tiny model + processor and ``save_pretrained`` both into ``directory``."""
    import torch
    from transformers import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    tok = tiny_tokenizer()
    ids = tok.convert_tokens_to_ids(SPECIALS)
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768,
                rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1], "rope_theta": 10000.0},
                bos_token_id=0, eos_token_id=ids[1], pad_token_id=0)
    vision = dict(depth=1, hidden_size=32, num_heads=2, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    tokens = dict(image_token_id=ids[4], video_token_id=ids[5], vision_start_token_id=ids[2], vision_end_token_id=ids[3])
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
    config = Config(text_config=text, vision_config=vision, **tokens)
    torch.manual_seed(seed)
    model = Model(config).eval()
    processor = Processor(image_processor=Qwen2VLImageProcessor(), tokenizer=tok,
                          video_processor=Qwen2VLVideoProcessor(), chat_template=CHAT_TEMPLATE)
    directory = Path(directory)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory

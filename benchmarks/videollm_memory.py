"""Memory of the released Video-LLMs of each family vtg drives, computed from their configs.

No checkpoint is downloaded (no network here): each model's architecture numbers (hidden size,
layers, heads, vocabulary, vision tower) are written below as published in its ``config.json``
(looked up, not fetched), the family's transformers class is built from them on the ``meta``
device (shapes only, no memory), and its parameters are counted exactly. Weights = parameters x
2 bytes (bf16/fp16) or x 4 (fp32); the KV cache grows by 2 x layers x kv_heads x head_dim x 2 bytes
per token of context (bf16), frames included.

    python benchmarks/videollm_memory.py            # markdown table (docs/videollm.md)
"""

from __future__ import annotations

from typing import Any

QWEN2_VIT = dict(depth=32, embed_dim=1280, mlp_ratio=4, num_heads=16)
QWEN25_VIT = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16)
QWEN3_VIT_S = dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, deepstack_visual_indexes=[5, 11, 17])
QWEN3_VIT_L = dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16, deepstack_visual_indexes=[8, 16, 24])
CLIP_L = dict(model_type="clip_vision_model", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
              num_attention_heads=16, patch_size=14, projection_dim=768)
SIGLIP_SO400M = dict(model_type="siglip_vision_model", hidden_size=1152, intermediate_size=4304, num_hidden_layers=26,
                     num_attention_heads=16, image_size=384, patch_size=14)
INTERNVIT_300M = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                      image_size=[448, 448], patch_size=[14, 14])
VL3_VIT = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, patch_size=14)


def llm(vocab: int, hidden: int, inter: int, layers: int, heads: int, kv: int, tie: bool, **extra) -> dict:
    return dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=kv, tie_word_embeddings=tie, **extra)


QWEN2_1_5B = llm(151936, 1536, 8960, 28, 12, 2, True)
QWEN2_7B = llm(152064, 3584, 18944, 28, 28, 4, False)
VICUNA_7B = dict(model_type="llama", **llm(32064, 4096, 11008, 32, 32, 32, False))

#: (family, released checkpoint, config class name, its keyword arguments)
RELEASED: list[tuple[str, str, str, dict[str, Any]]] = [
    ("qwen2-vl", "Qwen/Qwen2-VL-2B-Instruct", "Qwen2VLConfig",
     dict(text_config=QWEN2_1_5B, vision_config=dict(QWEN2_VIT, hidden_size=1536), tie_word_embeddings=True)),
    ("qwen2-vl", "Qwen/Qwen2-VL-7B-Instruct", "Qwen2VLConfig",
     dict(text_config=QWEN2_7B, vision_config=dict(QWEN2_VIT, hidden_size=3584))),
    ("qwen2.5-vl", "Qwen/Qwen2.5-VL-3B-Instruct", "Qwen2_5_VLConfig",
     dict(text_config=llm(151936, 2048, 11008, 36, 16, 2, True), vision_config=dict(QWEN25_VIT, out_hidden_size=2048),
          tie_word_embeddings=True)),
    ("qwen2.5-vl", "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen2_5_VLConfig",
     dict(text_config=QWEN2_7B, vision_config=dict(QWEN25_VIT, out_hidden_size=3584))),
    ("qwen3-vl", "Qwen/Qwen3-VL-2B-Instruct", "Qwen3VLConfig",
     dict(text_config=llm(151936, 2048, 6144, 28, 16, 8, True, head_dim=128),
          vision_config=dict(QWEN3_VIT_S, out_hidden_size=2048), tie_word_embeddings=True)),
    ("qwen3-vl", "Qwen/Qwen3-VL-4B-Instruct", "Qwen3VLConfig",
     dict(text_config=llm(151936, 2560, 9728, 36, 32, 8, True, head_dim=128),
          vision_config=dict(QWEN3_VIT_S, out_hidden_size=2560), tie_word_embeddings=True)),
    ("qwen3-vl", "Qwen/Qwen3-VL-8B-Instruct", "Qwen3VLConfig",
     dict(text_config=llm(151936, 4096, 12288, 36, 32, 8, False, head_dim=128),
          vision_config=dict(QWEN3_VIT_L, out_hidden_size=4096))),
    ("video-llava", "LanguageBind/Video-LLaVA-7B-hf", "VideoLlavaConfig",
     dict(text_config=VICUNA_7B, vision_config=dict(CLIP_L, image_size=224))),
    ("llava-onevision", "llava-hf/LLaVA-Video-7B-Qwen2-hf", "LlavaOnevisionConfig",
     dict(text_config=dict(model_type="qwen2", **llm(152128, 3584, 18944, 28, 28, 4, False)),
          vision_config=SIGLIP_SO400M)),
    ("llava-next-video", "llava-hf/LLaVA-NeXT-Video-7B-hf", "LlavaNextVideoConfig",
     dict(text_config=VICUNA_7B, vision_config=dict(CLIP_L, image_size=336))),
    ("internvl", "OpenGVLab/InternVL3-2B-hf", "InternVLConfig",
     dict(text_config=dict(model_type="qwen2", **llm(151674, 1536, 8960, 28, 12, 2, False)), vision_config=INTERNVIT_300M,
          tie_word_embeddings=False)),
    ("internvl", "OpenGVLab/InternVL3-8B-hf", "InternVLConfig",
     dict(text_config=dict(model_type="qwen2", **llm(151674, 3584, 18944, 28, 28, 4, False)),
          vision_config=INTERNVIT_300M, tie_word_embeddings=False)),
    ("videollama3", "DAMO-NLP-SG/VideoLLaMA3-2B (native form)", "VideoLlama3Config",
     dict(text_config=dict(model_type="qwen2", **QWEN2_1_5B), vision_config=VL3_VIT, tie_word_embeddings=True)),
    ("videollama3", "DAMO-NLP-SG/VideoLLaMA3-7B (native form)", "VideoLlama3Config",
     dict(text_config=dict(model_type="qwen2", **QWEN2_7B), vision_config=VL3_VIT)),
]


def count(config_class: str, kwargs: dict[str, Any]) -> tuple[int, int, Any]:
    """(parameters, of which in the vision tower + projector, the text config) of the model built on meta."""
    import torch
    import transformers
    from transformers import AutoModelForImageTextToText

    config = getattr(transformers, config_class)(**kwargs)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    total = sum(p.numel() for p in model.parameters())
    text = sum(p.numel() for n, p in model.named_parameters() if "language_model" in n or n.startswith("lm_head"))
    return total, total - text, config.get_text_config()


def main() -> None:
    print("| family | released checkpoint | parameters (vision + projector) | weights bf16 | weights fp32 | KV cache per 1k tokens (bf16) |")
    print("|---|---|---|---|---|---|")
    for family, name, cls, kwargs in RELEASED:
        total, vision, text = count(cls, kwargs)
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        kv = 2 * text.num_hidden_layers * text.num_key_value_heads * head_dim * 2 * 1000
        print(f"| {family} | {name} | {total / 1e9:.2f} B ({vision / 1e9:.2f} B) | {total * 2 / 2**30:.1f} GiB | "
              f"{total * 4 / 2**30:.1f} GiB | {kv / 2**20:.0f} MiB |")


if __name__ == "__main__":
    main()

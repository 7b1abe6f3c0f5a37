"""What the config-size check (vtg.modelsize) costs and what it says for the real models vtg loads.

Each model is built from its published config on the meta device (no weights, no memory), as every
loader does before loading; prints the parameter count, the bytes in the dtype vtg loads it in, and
the median of 5 timed builds. The configs are typed from the models' published config.json files
(sizes only), so this needs no network and no weights.

    .venv/bin/python benchmarks/bench_modelsize.py
"""

from __future__ import annotations

import statistics
import time


def _models():
    import torch

    def open_clip_model(arch):
        import open_clip

        return lambda: open_clip.create_model(arch, device="meta", pretrained_text=False, load_weights=False)

    def blip2_itm():  # Salesforce/blip2-itm-vit-g-coco: ViT-g/14 (39 layers, 1408 wide) + BERT-base Q-Former
        from transformers import Blip2Config, Blip2ForImageTextRetrieval

        cfg = Blip2Config(qformer_config=dict(use_qformer_text_input=True), image_text_hidden_size=256)
        return Blip2ForImageTextRetrieval._from_config(cfg)

    def qwen25_vl_7b():  # Qwen/Qwen2.5-VL-7B-Instruct config.json sizes
        from transformers import AutoModelForImageTextToText, Qwen2_5_VLConfig

        cfg = Qwen2_5_VLConfig(
            text_config=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                             num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
            vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                               patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                               fullatt_block_indexes=[7, 15, 23, 31]))
        return AutoModelForImageTextToText.from_config(cfg)

    def qwen2_vl_2b():  # Qwen/Qwen2-VL-2B-Instruct
        from transformers import AutoModelForImageTextToText, Qwen2VLConfig

        cfg = Qwen2VLConfig(
            text_config=dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                             num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
            vision_config=dict(depth=32, embed_dim=1280, hidden_size=1536, num_heads=16, mlp_ratio=4, patch_size=14,
                               spatial_merge_size=2, temporal_patch_size=2))
        return AutoModelForImageTextToText.from_config(cfg)

    return [("open_clip ViT-B-32", open_clip_model("ViT-B-32"), torch.float32),
            ("open_clip ViT-L-14", open_clip_model("ViT-L-14"), torch.float32),
            ("BLIP-2 ITM ViT-g (TFVTG)", blip2_itm, torch.float32),
            ("Qwen2-VL-2B", qwen2_vl_2b, torch.bfloat16),
            ("Qwen2.5-VL-7B", qwen25_vl_7b, torch.bfloat16),
            ("Qwen2.5-VL-7B on CPU (fp32)", qwen25_vl_7b, torch.float32)]


def main() -> None:
    from vtg.modelsize import GB, estimate, max_model_bytes

    limit = max_model_bytes()
    print(f"default ceiling on this machine: {limit / GB:.1f} GB (RAM + largest GPU)")
    print(f"{'model':32} {'params':>10} {'bytes':>9} {'admitted':>9} {'median build':>13}")
    for name, build, dtype in _models():
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            est = estimate(build, dtype, name)
            times.append(time.perf_counter() - t0)
        print(f"{name:32} {est.params / 1e9:9.3f}B {est.bytes / GB:7.2f}GB {str(est.bytes <= limit):>9} "
              f"{statistics.median(times):11.3f} s")


if __name__ == "__main__":
    main()

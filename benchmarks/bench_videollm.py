"""Frames per second through the shared Video-LLM runner (NumPro-style numbered frames).

    python benchmarks/bench_videollm.py                  # Qwen2-VL-2B architecture, random weights, bf16, CUDA
    python benchmarks/bench_videollm.py --tiny           # tiny random Qwen2-VL on the CPU (smoke run)
    python benchmarks/bench_videollm.py --tiny --family internvl   # any family's tiny model
    python benchmarks/bench_videollm.py --frames 32 64 128 --max-new-tokens 16

The model is built from a config with random weights (no download), saved with save_pretrained
and loaded through :func:`vtg.methods.videollm.load_videollm`, the path users take. Each run
numbers N frames of 336x336's area fitted to the model's input (NumPro's), gives them as one video and generates
``--max-new-tokens`` tokens greedily; reported: visual tokens, seconds per call, frames/s.
Random weights cost the same compute as trained ones, so the timings are representative.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

#: Qwen2-VL-2B-Instruct's architecture (its config.json), for random-weight timing.
QWEN2VL_2B_TEXT = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                       num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                       rope_parameters={"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6})
QWEN2VL_2B_VISION = dict(depth=32, embed_dim=1280, hidden_size=1536, num_heads=16, mlp_ratio=4, patch_size=14,
                         spatial_merge_size=2, temporal_patch_size=2)


def save_full_size(directory: Path, dtype) -> Path:
    """Qwen2-VL-2B architecture with random weights (byte-level tokenizer; the vocabulary size
    and so the embedding cost are the real model's)."""
    import torch
    from transformers import (Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor,
                              Qwen2VLProcessor)
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    from vtg.methods.videollm.tiny import CHAT_TEMPLATE, SPECIALS, tiny_tokenizer

    tok = tiny_tokenizer()
    ids = tok.convert_tokens_to_ids(SPECIALS)
    text = dict(QWEN2VL_2B_TEXT, bos_token_id=0, eos_token_id=ids[1], pad_token_id=0)
    config = Qwen2VLConfig(text_config=text, vision_config=QWEN2VL_2B_VISION, tie_word_embeddings=True,
                           image_token_id=ids[4], video_token_id=ids[5], vision_start_token_id=ids[2],
                           vision_end_token_id=ids[3])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2VLForConditionalGeneration(config).to(dtype).eval()
    model.save_pretrained(directory)
    Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=tok, video_processor=Qwen2VLVideoProcessor(),
                     chat_template=CHAT_TEMPLATE).save_pretrained(directory)
    del model
    return directory


def bench(llm, num_frames: int, repeats: int, max_new_tokens: int) -> dict:
    import torch

    from vtg.methods.videollm import Video
    from vtg.overlays.numbers import number_frames

    rng = np.random.default_rng(0)
    frames = number_frames(llm.fit_frames(rng.integers(0, 255, (num_frames, 336, 336, 3), dtype=np.uint8), 336 * 336))
    parts = [Video(frames, np.arange(num_frames, dtype=float)), "During which frames can we see a dog?"]
    tokens = llm.count_visual_tokens(parts)
    llm.generate(parts, max_new_tokens=2)  # warm-up
    seconds = []
    for _ in range(repeats):
        if llm.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        llm.generate(parts, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens)
        if llm.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t0)
    best = statistics.median(seconds)
    return {"frames": num_frames, "visual_tokens": tokens, "seconds": round(best, 3),
            "frames_per_second": round(num_frames / best, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="Tiny random model (CPU smoke run).")
    parser.add_argument("--family", default="qwen2-vl", help="With --tiny: which family's tiny model (tiny.BUILDERS).")
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 32, 64, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="bf16", help="bf16, fp16 or fp32 (the tiny model always fp32).")
    args = parser.parse_args(argv)

    import torch

    from vtg.methods.videollm import load_videollm
    from vtg.methods.videollm.tiny import save_tiny

    with tempfile.TemporaryDirectory(prefix="vtg-bench-") as tmp:
        if args.tiny:
            directory, dtype = save_tiny(args.family, Path(tmp)), "fp32"
        else:
            dtype = args.dtype
            directory = save_full_size(Path(tmp), {"bf16": torch.bfloat16, "fp16": torch.float16,
                                                   "fp32": torch.float32}[dtype])
        llm = load_videollm(str(directory), args.device, dtype)
        device = torch.cuda.get_device_name() if llm.device.startswith("cuda") else "cpu"
        print(json.dumps({"model": f"tiny {args.family}" if args.tiny else "Qwen2-VL-2B architecture (random weights)",
                          "device": device, "dtype": str(llm.model.dtype), "max_new_tokens": args.max_new_tokens}))
        for n in args.frames:
            print(json.dumps(bench(llm, n, args.repeats, args.max_new_tokens)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

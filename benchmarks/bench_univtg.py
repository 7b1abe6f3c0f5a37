"""UniVTG size and inference speed: parameter counts of the released architectures and clips per
second of the grounding network (forward pass + decoding: NMS, top 10, saliency) on CPU and CUDA.

    python benchmarks/bench_univtg.py                    # CPU (and CUDA when present), 75 and 900 clips
    python benchmarks/bench_univtg.py --clips 75 --threads 2 --json out.json

Inputs are random features of the released sizes (514-d CLIP + TEF video clips, 2818-d SlowFast +
CLIP + TEF, 20 CLIP text tokens of 512-d); weights are random (speed does not depend on their
values). Feature extraction (CLIP ViT-B/32 on one frame per 2 s clip) is not included: it is
measured by benchmarks/bench_encode.py and cached per video.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def build(v_feat_dim: int, device: str):
    from vtg.methods.univtg.config import ModelConfig
    from vtg.methods.univtg.model import UniVTGModel

    cfg = ModelConfig(v_feat_dim=v_feat_dim)
    return UniVTGModel(cfg).to(device).eval(), cfg


def time_inference(net, cfg, clips: int, device: str, repeats: int, half: bool) -> dict:
    import torch

    from vtg.methods.univtg.inference import clip_saliency, decode_moments

    rng = np.random.default_rng(0)
    vid = torch.from_numpy(rng.normal(size=(1, clips, cfg.v_feat_dim)).astype(np.float32)).to(device)
    txt = torch.from_numpy(rng.normal(size=(1, 20, cfg.t_feat_dim)).astype(np.float32)).to(device)
    vmask, tmask = torch.ones(1, clips, device=device), torch.ones(1, 20, device=device)

    def once():
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=half):
            out = net(txt, tmask, vid, vmask)
        fg = out["pred_logits"][0, :, 0].float().cpu().numpy()
        spans = out["pred_spans"][0].float().cpu().numpy()
        decode_moments(fg, spans, clips * 2.0, convention=cfg.timestamp)
        clip_saliency(out["saliency_scores"][0].float().cpu().numpy(), fg)

    once()  # warm-up
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        once()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    med = float(np.median(times))
    return {"clips": clips, "median_s": round(med, 5), "clips_per_s": round(clips / med, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, nargs="+", default=[75, 900], help="video lengths in 2-s clips")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()

    import torch

    from vtg.methods.univtg.model import count_parameters

    if args.threads:
        torch.set_num_threads(args.threads)
    results = {"threads": torch.get_num_threads(), "params": {}, "speed": []}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for name, dim in (("clip", 514), ("slowfast_clip", 2818)):
        net, cfg = build(dim, "cpu")
        results["params"][name] = count_parameters(net)
        print(f"parameters ({name}, v_feat_dim={dim}): {results['params'][name]:,}")
    for device in devices:
        net, cfg = build(514, device)
        for half in ([False, True] if device == "cuda" else [False]):
            for clips in args.clips:
                row = {"device": device, "fp16": half, **time_inference(net, cfg, clips, device, args.repeats, half)}
                if device == "cuda":
                    row["gpu"] = torch.cuda.get_device_name(0)
                results["speed"].append(row)
                print(json.dumps(row))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()

"""Benchmark: decode + encode throughput, and peak memory while indexing long videos.

1. Throughput (frames/s) of ``vtg.features.compute_features`` — PyAV decoding plus CLIP ViT-B/32
   encoding — on the CPU (fp32) and, when CUDA is present, on the GPU in fp16; decode-only and
   encode-only figures alongside. Median of ``--runs`` runs. The ViT-B/32 is open_clip's full-size
   architecture with random weights, saved to a temporary directory and loaded through the normal
   local-path spec: speed does not depend on the weight values.
2. Peak resident memory of ``vtg index`` (``video_features`` with the cache) on synthetic 10-minute
   and 60-minute videos at 1 fps, each in a fresh process: if frames are streamed, both peaks are
   the same (model + one batch + the [T, D] features).

    python benchmarks/bench_encode.py --quick    # a few minutes on 2 CPU cores: 15 s clip at 2 fps
    python benchmarks/bench_encode.py            # 60 s clip at 4 fps

The memory test uses ViT-B/32 when CUDA is used and a tiny model on the CPU (3600 ViT-B/32 frames
take most of an hour on 2 CPU cores; the question is streaming, not model size);
``--rss-encoder vit-b-32`` forces the full model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def synthetic_video(path: Path, seconds: float, size: str, rate: int, source: str = "testsrc2") -> Path:
    """A moving test pattern, encoded fast and small (libx264 ultrafast)."""
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}=size={size}:rate={rate}",
           "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "35", "-g", str(rate * 10),
           "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True)
    return path


def vit_b32_dir(root: Path) -> str:
    import open_clip

    from vtg.encoders.testing import random_open_clip

    return str(random_open_clip(root / "vit-b-32", open_clip.get_model_config("ViT-B-32")))


def throughput(spec: str, video: Path, fps: float, device: str, runs: int) -> dict:
    """Median frames/s of decode+encode, decode only, encode only."""
    import numpy as np
    import torch

    from vtg.encoders import load_encoder
    from vtg.features import compute_features
    from vtg.video import iter_frames

    enc = load_encoder(spec, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    compute_features(video, enc, fps, max_frames=8)  # warm-up (allocators, kernels)
    both, dec, encode = [], [], []
    n = 0
    for _ in range(runs):
        t = time.perf_counter()
        n = len(compute_features(video, enc, fps))
        sync()
        both.append(n / (time.perf_counter() - t))
        t = time.perf_counter()
        frames = np.concatenate([b.frames for b in iter_frames(video, fps, batch_size=enc.batch_size)])
        dec.append(len(frames) / (time.perf_counter() - t))
        t = time.perf_counter()
        enc.encode_images(frames)
        sync()
        encode.append(len(frames) / (time.perf_counter() - t))
    return {"device": device, "dtype": str(enc.dtype).replace("torch.", ""), "batch": enc.batch_size, "frames": n,
            "decode_encode_fps": statistics.median(both), "decode_fps": statistics.median(dec),
            "encode_fps": statistics.median(encode)}


def vm_mib(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc (MiB). VmHWM is reset by exec, unlike
    getrusage's ru_maxrss, which Linux carries over from the forking parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(video: str, spec: str, device: str) -> None:
    """Run in a fresh process: index one video, print RSS after loading and the peak (MiB)."""
    from vtg.encoders import load_encoder
    from vtg.features import video_features

    enc = load_encoder(spec, device=device)
    enc.encode_images(__import__("numpy").zeros((enc.batch_size, 90, 160, 3), "uint8"))  # allocate a batch's worth
    base = vm_mib("VmHWM")
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        feats = video_features(video, enc, 1.0, cache_dir=cache)
    peak = vm_mib("VmHWM")
    print(json.dumps({"frames": len(feats), "shape": list(feats.features.shape), "seconds": time.perf_counter() - t,
                      "rss_after_load_mib": round(base, 1), "peak_rss_mib": round(peak, 1)}))


def peak_rss(video: Path, spec: str, device: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--rss-child", str(video), spec, device],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 15 s clip at 2 fps instead of 60 s at 4 fps")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--devices", default="auto", help="cpu, cuda, or auto (cpu, plus cuda when present)")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--rss-encoder", choices=("tiny", "vit-b-32"),
                    help="model for the memory test (default: ViT-B/32 when CUDA is used, else tiny)")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--rss-child", nargs=3, metavar=("VIDEO", "SPEC", "DEVICE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rss_child:
        rss_child(*args.rss_child)
        return 0

    import torch

    devices = ["cpu", "cuda"] if args.devices == "auto" and torch.cuda.is_available() else \
        ["cpu"] if args.devices == "auto" else args.devices.split(",")
    report: dict = {"cpu_count": os.cpu_count(), "torch": torch.__version__, "quick": args.quick,
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = vit_b32_dir(root)
        clip_seconds, sample_fps = (15, 2.0) if args.quick else (60, 4.0)
        clip = synthetic_video(root / "clip.mp4", clip_seconds, "640x360", 30)
        report["throughput"] = []
        for dev in devices:
            row = throughput(spec, clip, sample_fps, dev, args.runs)
            row["video"] = f"640x360 30 fps, {clip_seconds} s, sampled at {sample_fps} fps"
            report["throughput"].append(row)
            print(json.dumps(row), flush=True)
        if not args.skip_rss:
            big = args.rss_encoder == "vit-b-32" or (args.rss_encoder is None and "cuda" in devices)
            report["rss"] = rss_rows(root, spec if big else None, devices)
    print_table(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


def rss_rows(root: Path, vit_spec: str | None, devices: list[str]) -> list[dict]:
    """Index a 10- and a 60-minute video at 1 fps, each in a fresh process (ViT-B/32, or a tiny
    model when ``vit_spec`` is None: the memory question is about streaming, not model size)."""
    from vtg.encoders.testing import random_open_clip

    spec = vit_spec or str(random_open_clip(root / "tiny"))
    dev = "cuda" if "cuda" in devices else "cpu"
    rows = []
    for minutes in (10, 60):
        t = time.perf_counter()
        video = synthetic_video(root / f"{minutes}min.mp4", minutes * 60, "160x90", 2, "testsrc")
        made = time.perf_counter() - t
        row = {"minutes": minutes, "encoder": "ViT-B/32" if vit_spec else "tiny open_clip", "device": dev,
               "video_mb": round(video.stat().st_size / 1e6, 2), "make_video_s": round(made, 1),
               **peak_rss(video, spec, dev)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def print_table(report: dict) -> None:
    print(f"\nCPU cores: {report['cpu_count']}, torch {report['torch']}, GPU: {report['gpu']}")
    print("| device | dtype | batch | frames | decode+encode fps | decode fps | encode fps |")
    print("|---|---|---|---|---|---|---|")
    for r in report["throughput"]:
        print(f"| {r['device']} | {r['dtype']} | {r['batch']} | {r['frames']} | {r['decode_encode_fps']:.1f} "
              f"| {r['decode_fps']:.1f} | {r['encode_fps']:.1f} |")
    if report.get("rss"):
        print("\n| video | encoder | device | frames | index time s | RSS after model load MiB | peak RSS MiB |")
        print("|---|---|---|---|---|---|---|")
        for r in report["rss"]:
            print(f"| {r['minutes']} min 160x90 | {r['encoder']} | {r['device']} | {r['frames']} | {r['seconds']:.1f} "
                  f"| {r['rss_after_load_mib']} | {r['peak_rss_mib']} |")


if __name__ == "__main__":
    sys.exit(main())

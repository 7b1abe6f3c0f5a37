"""Benchmark indexing (decode -> preprocess -> encode): the pipeline against the serial path it replaced.

Everything is measured in one run, in alternating rounds, and reported as medians and as ratios
between figures of the same run (the machine is shared; absolute numbers drift, ratios less so):

CPU (always), on a 2-minute 640x360 30 fps H.264 video made with ffmpeg (testsrc2, x264 veryfast):

1. indexing work vs plain decoding: ``compute_features`` at 1 fps with a tiny encoder (model
   loaded beforehand: start-up excluded) against a plain single-threaded PyAV loop that decodes
   every frame of the same file (goal <= 0.75x: the decoder uses the cores);
2. end-to-end throughput at 1 fps with the ViT-B/32 architecture (random weights saved and loaded
   through the local-path spec) against the serial path vtg had before the pipeline, kept here as
   :func:`serial_index` (goal >= 1.4x);
3. pipeline efficiency = end-to-end time / max(decode-only, encode-only) for that ViT-B/32 run
   (goal <= 1.15: the slower stage hides the other);
4. decode scaling: parallel segment decoding with 1 and 2 decoders, one codec thread each
   (goal >= 1.7x), plus FFmpeg's own threads alone, for comparison.

Feature cache: an hour of BLIP-2 features at 1 fps ([3600, 32, 256]): peak memory while writing
(tracemalloc) and the time of a hit, the old float32 ``.npz`` (load + full validation every time)
against the streamed float16 ``.npy`` read memory-mapped.

GPU (only when CUDA is present): a 1-hour 1080p H.264 video made with ffmpeg; frames/s at 1 fps
for ViT-B/32 and BLIP-2 ViT-g (random weights, fp16), decode-only frames/s, GPU utilisation
sampled during the run (when pynvml is importable), and pipeline efficiency.

    python benchmarks/bench_index.py                  # CPU figures (~5 min on 2 busy cores)
    python benchmarks/bench_index.py --rounds 5 --out figures.json
    python benchmarks/bench_index.py --cache-only       # feature-cache figures only (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_video(path: Path, seconds: int, size: str, rate: int = 30) -> Path:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
           "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}", "-c:v", "libx264", "-preset", "veryfast",
           "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True)
    return path


# ------------------------------------------------------------------ the paths being compared


def plain_decode(path: Path) -> int:
    """What a user would write: PyAV, one thread, every frame decoded (none converted)."""
    import av

    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        stream.thread_count = 1
        for _ in container.decode(stream):
            n += 1
    return n


def serial_index(path: Path, encoder, fps: float) -> np.ndarray:
    """vtg's indexing loop before the pipeline: decode a batch at full size with one decoder, then
    preprocess it image by image with the model's reference transform, then encode it."""
    from vtg.features import decode_batch_size
    from vtg.video import iter_frames, probe

    info = probe(path)
    batch = decode_batch_size(encoder.batch_size, info.width, info.height)
    feats = []
    for fb in iter_frames(path, fps, batch_size=batch, workers=1):
        feats.append(encoder._run(lambda f: encoder._forward(encoder._reference_pixels(f)), fb.frames))
    return np.concatenate(feats)


def pipeline_index(path: Path, encoder, fps: float) -> np.ndarray:
    from vtg.features import compute_features

    return compute_features(path, encoder, fps).features


def decode_only(path: Path, encoder, fps: float, workers: int | None = None) -> list:
    """The pipeline's decode stage alone (frames at the encoder's input size)."""
    from vtg.video import iter_frames

    return [fb.frames for fb in iter_frames(path, fps, batch_size=encoder.batch_size, workers=workers,
                                            frame_size=encoder.decode_size)]


def encode_only(encoder, batches: list) -> None:
    """The pipeline's preprocess + encode stages alone, on frames decoded beforehand."""
    for frames in batches:
        feats = encoder.encode_pixels(encoder.prepare_images(frames))
    if batches and feats.device.type == "cuda":
        import torch

        torch.cuda.synchronize()


def segment_decode(path: Path, encoder, fps: float, workers: int) -> int:
    """Parallel segments with one codec thread per decoder (scaling of the segments alone)."""
    from vtg.video import pyav_backend

    saved = pyav_backend.CODEC_THREADS
    pyav_backend.CODEC_THREADS = 1
    try:
        return sum(len(f) for f in decode_only(path, encoder, fps, workers))
    finally:
        pyav_backend.CODEC_THREADS = saved


# ------------------------------------------------------------------ timing


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def alternate(rounds: int, cases: dict) -> dict[str, float]:
    """Median seconds of each case, the cases run one after another in every round."""
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for k in range(rounds):
        for name, (fn, args) in cases.items():
            seconds[name].append(timed(fn, *args))
            print(f"  round {k + 1}/{rounds} {name}: {seconds[name][-1]:.2f} s (load {os.getloadavg()[0]:.1f})",
                  file=sys.stderr, flush=True)
    return {name: statistics.median(values) for name, values in seconds.items()}


def cpu_figures(root: Path, rounds: int, seconds: int = 120) -> dict:
    import open_clip

    from vtg.encoders import load_encoder
    from vtg.encoders.testing import random_open_clip

    video = make_video(root / "clip.mp4", seconds, "640x360")
    tiny = load_encoder(str(random_open_clip(root / "tiny")), device="cpu")
    vit = load_encoder(str(random_open_clip(root / "vit-b-32", open_clip.get_model_config("ViT-B-32"))), device="cpu")
    for enc in (tiny, vit):  # warm-up: allocators, kernels, page cache
        pipeline_index(video, enc, 0.2)
    decoded = decode_only(video, vit, 1.0)
    frames = sum(len(f) for f in decoded)

    work = alternate(rounds, {"plain_decode": (plain_decode, (video,)),
                              "index_tiny": (pipeline_index, (video, tiny, 1.0))})
    e2e = alternate(rounds, {"serial": (serial_index, (video, vit, 1.0)),
                             "pipeline": (pipeline_index, (video, vit, 1.0)),
                             "decode_only": (decode_only, (video, vit, 1.0)),
                             "encode_only": (encode_only, (vit, decoded))})
    scaling = alternate(rounds, {"segments_1": (segment_decode, (video, vit, 1.0, 1)),
                                 "segments_2": (segment_decode, (video, vit, 1.0, 2)),
                                 "ffmpeg_threads": (decode_only, (video, vit, 1.0, 1))})
    return {
        "video": f"{seconds} s 640x360 30 fps H.264 (testsrc2, x264 veryfast), sampled at 1 fps",
        "frames": frames, "rounds": rounds, "cores": os.cpu_count(), "load_average": os.getloadavg(),
        "seconds": {**work, **e2e, **scaling},
        "index_work_vs_plain_decode": work["index_tiny"] / work["plain_decode"],
        "pipeline_vs_serial_speedup": e2e["serial"] / e2e["pipeline"],
        "vit_b32_frames_per_s": {"pipeline": frames / e2e["pipeline"], "serial": frames / e2e["serial"]},
        "pipeline_efficiency": e2e["pipeline"] / max(e2e["decode_only"], e2e["encode_only"]),
        "decode_scaling_1_to_2": scaling["segments_1"] / scaling["segments_2"],
    }


def old_store_and_load(folder: Path, times: np.ndarray, feats: np.ndarray) -> float:
    """The cache before float16 streaming: float32 ``np.savez`` into a buffer, then ``np.load`` and a
    full validation on every hit. Returns the seconds of one hit."""
    import io

    buf = io.BytesIO()
    np.savez(buf, times=times, features=feats.astype(np.float32))
    (folder / "old.npz").write_bytes(buf.getvalue())
    start = time.perf_counter()
    with np.load(folder / "old.npz", allow_pickle=False) as data:
        t, f = np.asarray(data["times"], np.float64), np.asarray(data["features"], np.float32)
    assert np.isfinite(f).all() and np.isfinite(t).all()
    return time.perf_counter() - start


def cache_figures(root: Path, rounds: int) -> dict:
    """An hour of BLIP-2 features at 1 fps ([3600, 32, 256]): peak memory of writing (tracemalloc)
    and the time of a hit, old float32 .npz vs the streamed float16 .npy read memory-mapped."""
    import tracemalloc

    from vtg import features as cache
    from vtg.feature_store import EntryWriter

    folder = root / "cache"
    folder.mkdir()
    rng = np.random.default_rng(0)
    times = np.arange(3600, dtype=np.float64)
    batches = [rng.standard_normal((64, 32, 256)).astype(np.float32) for _ in range(57)]
    feats = np.concatenate(batches)[:3600]
    feats /= np.linalg.norm(feats, axis=-1, keepdims=True)
    size_mb = feats.nbytes / 1e6

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    old_hit = old_store_and_load(folder, times, feats)
    old_peak = (tracemalloc.get_traced_memory()[1] - base) / 1e6
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    writer = EntryWriter(folder, "k")
    for lo in range(0, 3600, 64):
        writer.add(times[lo:lo + 64], feats[lo:lo + 64])
    writer.commit((32, 256))
    cache._write_sidecar(folder, "k", "blip2", 1.0, None, 3600.0, writer.count, (32, 256), 0.0,
                         {"video": "hour.mp4", "weights": ""})
    new_peak = (tracemalloc.get_traced_memory()[1] - base) / 1e6
    tracemalloc.stop()
    hits = alternate(rounds, {"old_npz_hit": (old_store_and_load, (folder, times, feats)),
                              "new_hit": (cache._load, (folder, "k"))})
    return {"features_mb_float32": size_mb, "write_peak_mb": {"old_npz": old_peak, "streamed": new_peak},
            "hit_seconds": {"old_npz": hits["old_npz_hit"], "memory_mapped": hits["new_hit"]},
            "first_hit_old_s": old_hit}


def gpu_figures(root: Path, rounds: int) -> dict:
    """Only with CUDA: 1-hour 1080p, ViT-B/32 and BLIP-2 ViT-g at 1 fps, fp16."""
    import open_clip
    import torch

    from vtg.encoders import load_encoder
    from vtg.encoders.testing import random_open_clip

    video = make_video(root / "hour1080.mp4", 3600, "1920x1080")
    specs = {"ViT-B/32": str(random_open_clip(root / "vit-b-32", open_clip.get_model_config("ViT-B-32"))),
             "BLIP-2 ViT-g": str(_blip2_vitg(root / "blip2"))}
    out: dict = {"gpu": torch.cuda.get_device_name(0), "video": "3600 s 1920x1080 30 fps H.264, 1 fps"}
    for name, spec in specs.items():
        enc = load_encoder(spec, device="cuda")
        pipeline_index(video, enc, 0.05)  # warm-up
        decoded = decode_only(video, enc, 1.0)
        frames = sum(len(f) for f in decoded)
        util = _Utilisation()
        with util:
            secs = alternate(rounds, {"pipeline": (pipeline_index, (video, enc, 1.0))})
        secs.update(alternate(rounds, {"decode_only": (decode_only, (video, enc, 1.0)),
                                       "encode_only": (encode_only, (enc, decoded))}))
        out[name] = {"frames": frames, "seconds": secs, "frames_per_s": frames / secs["pipeline"],
                     "decode_frames_per_s": frames / secs["decode_only"],
                     "encode_frames_per_s": frames / secs["encode_only"],
                     "efficiency": secs["pipeline"] / max(secs["decode_only"], secs["encode_only"]),
                     "gpu_utilisation_mean": util.mean()}
        del decoded
        torch.cuda.empty_cache()
    return out


def _blip2_vitg(out: Path) -> Path:
    """BLIP-2 ITM with the released ViT-g/Q-Former sizes (transformers' defaults), random weights."""
    from transformers import Blip2Config, Blip2ForImageTextRetrieval, BlipImageProcessor

    from vtg.encoders.testing import tiny_tokenizer

    tok = tiny_tokenizer(out)
    cfg = Blip2Config(qformer_config={"vocab_size": len(tok), "pad_token_id": tok.pad_token_id,
                                      "use_qformer_text_input": True}, image_text_hidden_size=256)
    Blip2ForImageTextRetrieval(cfg).save_pretrained(str(out))
    BlipImageProcessor(size={"height": 224, "width": 224}).save_pretrained(str(out))
    return out


class _Utilisation:
    """Samples ``nvidia-smi``-style GPU utilisation every 0.2 s through pynvml, when present."""

    def __init__(self):
        self.samples: list[int] = []
        self._stop = None

    def __enter__(self):
        import threading

        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:
            return self
        self._stop = threading.Event()

        def poll():
            while not self._stop.wait(0.2):
                self.samples.append(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)

        threading.Thread(target=poll, daemon=True).start()
        return self

    def __exit__(self, *exc):
        if self._stop is not None:
            self._stop.set()

    def mean(self) -> float | None:
        return statistics.mean(self.samples) if self.samples else None


def print_cpu(fig: dict) -> None:
    s = fig["seconds"]
    print(f"\nCPU: {fig['cores']} cores, load average {', '.join(f'{x:.1f}' for x in fig['load_average'])}; "
          f"{fig['video']}; medians of {fig['rounds']} alternating rounds")
    print("| figure | measured | goal |\n|---|---|---|")
    print(f"| indexing work (tiny encoder) / plain single-threaded decode | {fig['index_work_vs_plain_decode']:.2f}x "
          f"({s['index_tiny']:.2f} s / {s['plain_decode']:.2f} s) | <= 0.75x |")
    print(f"| ViT-B/32 end-to-end, pipeline vs serial path | {fig['pipeline_vs_serial_speedup']:.2f}x "
          f"({fig['vit_b32_frames_per_s']['pipeline']:.1f} vs {fig['vit_b32_frames_per_s']['serial']:.1f} frames/s) "
          "| >= 1.4x |")
    print(f"| pipeline efficiency = end-to-end / max(decode {s['decode_only']:.2f} s, encode {s['encode_only']:.2f} s) "
          f"| {fig['pipeline_efficiency']:.2f} | <= 1.15 |")
    print(f"| decode scaling, 1 -> 2 segment decoders (1 codec thread each) | {fig['decode_scaling_1_to_2']:.2f}x "
          f"({s['segments_1']:.2f} s -> {s['segments_2']:.2f} s; FFmpeg threads alone {s['ffmpeg_threads']:.2f} s) "
          "| >= 1.7x |")


def print_cache(fig: dict) -> None:
    w, h = fig["write_peak_mb"], fig["hit_seconds"]
    print(f"\nFeature cache, an hour of BLIP-2 features at 1 fps ({fig['features_mb_float32']:.0f} MB as float32):")
    print(f"| write peak memory | old float32 .npz {w['old_npz']:.0f} MB | streamed float16 .npy {w['streamed']:.1f} MB |")
    print(f"| a hit (median) | old: load + validate {h['old_npz'] * 1e3:.1f} ms | memory-mapped {h['memory_mapped'] * 1e3:.2f} ms |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=120, help="length of the CPU test video (default: 2 minutes)")
    ap.add_argument("--skip-gpu", action="store_true")
    ap.add_argument("--cache-only", action="store_true", help="only the feature-cache figures (seconds)")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)

    import torch

    report: dict = {"torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        report["cache"] = cache_figures(root, max(5, args.rounds))
        print(json.dumps(report["cache"]), flush=True)
        if not args.cache_only:
            report["cpu"] = cpu_figures(root, args.rounds, args.seconds)
            print(json.dumps(report["cpu"]), flush=True)
            print_cpu(report["cpu"])
        print_cache(report["cache"])
        if torch.cuda.is_available() and not args.skip_gpu and not args.cache_only:
            report["gpu"] = gpu_figures(root, args.rounds)
            print(json.dumps(report["gpu"], indent=1), flush=True)
        else:
            print("\nGPU: no CUDA device here; the GPU section was not run.")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

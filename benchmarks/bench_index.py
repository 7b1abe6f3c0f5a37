"""Benchmark indexing (decode -> preprocess -> encode): the pipeline against the serial path it replaced.

Everything is measured in one run, in alternating rounds, and reported as medians and as ratios
between figures of the same run (the machine is shared; absolute numbers drift, ratios less so):

CPU (always), on a 2-minute 640x360 30 fps H.264 video made with ffmpeg (testsrc2, x264 veryfast):

1. indexing work vs plain decoding: ``compute_features`` at 1 fps with a tiny encoder (model
   loaded beforehand: start-up excluded) against a plain single-threaded PyAV loop that decodes
   every frame of the same file (goal <= 0.75x: the decoder uses the cores), as found and again
   with ``--busy N`` spinning processes started beside it (the "loaded" figure);
2. end-to-end throughput at 1 fps with the ViT-B/32 architecture (random weights saved and loaded
   through the local-path spec) against the serial path vtg had before the pipeline, kept here as
   :func:`serial_index` (goal >= 1.4x);
3. pipeline efficiency = end-to-end time / max(decode-only, encode-only) for that ViT-B/32 run
   (goal <= 1.15: the slower stage hides the other), and end-to-end / encode-only (issue 22's
   goal, <= 1.15x; also with the ``--busy`` processes beside it); the same with
   ``--precision bf16`` (the user's choice; fast where the CPU has bf16 units), against the same
   fp32 serial path; the one-thread forwards of
   :mod:`vtg.determinism` against torch's thread count (encode-only and end-to-end);
4. decode scaling: parallel segment decoding with 1 and 2 decoders, one codec thread each
   (goal >= 1.7x), plus FFmpeg's own threads alone, for comparison.

Feature cache: an hour of BLIP-2 features at 1 fps ([3600, 32, 256]): peak memory while writing
(tracemalloc) and the time of a hit, the old float32 ``.npz`` (load + full validation every time)
against the streamed float16 ``.npy`` read memory-mapped.

GPU (only when CUDA is present): a 1-hour 1080p H.264 video (a 1-minute x264 clip repeated by
packet copy, made with PyAV's FFmpeg); frames/s at 1 fps for ViT-B/32 and BLIP-2 ViT-g (random
weights, half precision), decode-only frames/s with the CPU decoder (pyav) and NVDEC
(``--decoder nvdec``), GPU and NVDEC utilisation sampled during the run (when pynvml is
importable), and pipeline efficiency. ``--gpu-budget S`` skips (and lists) passes that would not
fit in S seconds, for a lent GPU machine's short lease.

    python benchmarks/bench_index.py                  # CPU figures (~5 min on 2 busy cores)
    python benchmarks/bench_index.py --rounds 5 --out figures.json
    python benchmarks/bench_index.py --cache-only       # feature-cache figures only (seconds)
    python benchmarks/bench_index.py --gpu-only --gpu-budget 420 --out gpu.json   # on a GPU machine
"""

from __future__ import annotations

import argparse
import contextlib
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
    """testsrc2 encoded with x264 (veryfast, yuv420p) through PyAV's own FFmpeg (its lavfi input),
    so no ffmpeg binary is needed (the GPU machine has none)."""
    import av

    width, height = (int(v) for v in size.split("x"))
    source = f"testsrc2=size={size}:rate={rate}:duration={seconds}"
    with av.open(source, format="lavfi") as src, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in src.decode(video=0):
            frame = frame.reformat(format="yuv420p")
            frame.pict_type = av.video.frame.PictureType.NONE  # lavfi marks every frame I: x264 would obey
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_long_video(path: Path, seconds: int, size: str, piece: int = 60, rate: int = 30) -> Path:
    """A long H.264 file made fast: a ``piece``-second clip encoded once, then its packets copied
    ``seconds / piece`` times one after another (timestamps shifted), as one MP4."""
    import av

    clip = make_video(path.with_name(f"piece-{path.stem}.mp4"), piece, size, rate)
    copies = max(1, round(seconds / piece))
    with av.open(str(path), "w") as out:
        target = None
        for k in range(copies):
            with av.open(str(clip)) as src:
                stream = src.streams.video[0]
                if target is None:
                    target = out.add_stream_from_template(stream)
                    span = round(piece * rate) * round(1 / (rate * stream.time_base))  # ticks per piece
                for packet in src.demux(stream):
                    if packet.dts is None:
                        continue
                    packet.pts, packet.dts = packet.pts + k * span, packet.dts + k * span
                    packet.stream = target
                    out.mux(packet)
    clip.unlink()
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
    """vtg's indexing loop before the pipeline ("today's path" of the issue): one decoder with
    FFmpeg's threads decoding every picture (no skipping), each kept frame converted to RGB at
    full size, preprocessed image by image with the model's reference transform, then encoded;
    one step after the other."""
    from vtg.pipeline import decode_batch_size
    from vtg.video import iter_frames, probe, skipping

    info = probe(path)
    batch = decode_batch_size(encoder.batch_size, info.width, info.height)
    feats = []
    saved, skipping.PER_PACKET_CODECS = skipping.PER_PACKET_CODECS, set()
    try:
        for fb in iter_frames(path, fps, batch_size=batch, workers=1):
            feats.append(encoder._run(lambda f: encoder._forward(encoder._reference_pixels(f)), fb.frames))
    finally:
        skipping.PER_PACKET_CODECS = saved
    return np.concatenate(feats)


def pipeline_index(path: Path, encoder, fps: float, backend: str = "pyav") -> np.ndarray:
    from vtg.features import compute_features

    return compute_features(path, encoder, fps, backend=backend).features


def decode_only(path: Path, encoder, fps: float, workers: int | None = None, backend: str = "pyav") -> list:
    """The pipeline's decode stage alone (frames at the encoder's input size)."""
    from vtg.video import iter_frames

    return [fb.frames for fb in iter_frames(path, fps, batch_size=encoder.batch_size, workers=workers,
                                            frame_size=encoder.decode_size, backend=backend)]


def encode_only(encoder, batches: list) -> None:
    """The pipeline's preprocess + encode stages alone, on frames decoded beforehand."""
    for frames in batches:
        feats = encoder.encode_pixels(encoder.prepare_images(frames))
    if batches and feats.device.type == "cuda":
        import torch

        torch.cuda.synchronize()


def segment_decode(path: Path, encoder, fps: float, workers: int) -> int:
    """Parallel segments with one codec thread per decoder (scaling of the segments alone)."""
    from vtg.video import decoding

    saved = decoding.CODEC_THREADS
    decoding.CODEC_THREADS = 1
    try:
        return sum(len(f) for f in decode_only(path, encoder, fps, workers))
    finally:
        decoding.CODEC_THREADS = saved


def plain_decode_threads(path: Path, threads: int) -> None:
    """``threads`` plain single-threaded PyAV loops over the whole file at once, in Python threads:
    what one process can get from more decoder threads at all (PyAV holds the GIL between
    FFmpeg calls), the ceiling for segment decoders."""
    import threading

    loops = [threading.Thread(target=plain_decode, args=(path,)) for _ in range(threads)]
    for loop in loops:
        loop.start()
    for loop in loops:
        loop.join()


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


@contextlib.contextmanager
def busy_processes(count: int):
    """``count`` processes spinning on a core beside the block (the "loaded" figures), ended after."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(1.0 if procs else 0.0)
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def with_forward_threads(count: int, fn, *args):
    """``fn(*args)`` with every CPU forward at ``count`` intra-op threads (vtg pins one:
    vtg.determinism), to price that pin."""
    from vtg import determinism

    saved, determinism.FORWARD_THREADS = determinism.FORWARD_THREADS, count
    try:
        return fn(*args)
    finally:
        determinism.FORWARD_THREADS = saved


def cpu_figures(root: Path, rounds: int, seconds: int = 120, busy: int = 2) -> dict:
    import open_clip
    import torch

    from vtg.device import emulated_on_cpu
    from vtg.settings import changed
    from vtg.encoders import load_encoder
    from vtg.encoders.testing import random_open_clip

    video = make_video(root / "clip.mp4", seconds, "640x360")
    tiny = load_encoder(str(random_open_clip(root / "tiny")), device="cpu")
    vit_dir = str(random_open_clip(root / "vit-b-32", open_clip.get_model_config("ViT-B-32")))
    vit = load_encoder(vit_dir, device="cpu")
    with changed(precision="bf16"):  # vtg --precision bf16
        vit_bf16 = load_encoder(vit_dir, device="cpu")
    for enc in (tiny, vit, vit_bf16):  # warm-up: allocators, kernels, page cache
        pipeline_index(video, enc, 0.2)
    decoded = decode_only(video, vit, 1.0)
    frames = sum(len(f) for f in decoded)

    work = alternate(rounds, {"plain_decode": (plain_decode, (video,)),
                              "index_tiny": (pipeline_index, (video, tiny, 1.0))})
    loaded_load = os.getloadavg()[0]
    with busy_processes(busy):
        loaded = alternate(rounds, {"plain_decode_loaded": (plain_decode, (video,)),
                                    "index_tiny_loaded": (pipeline_index, (video, tiny, 1.0)),
                                    "pipeline_loaded": (pipeline_index, (video, vit, 1.0)),
                                    "encode_only_loaded": (encode_only, (vit, decoded))})
        loaded_load = os.getloadavg()[0]
    threads = torch.get_num_threads()
    pin = alternate(rounds, {"encode_only_pinned": (encode_only, (vit, decoded)),
                             "encode_only_all_threads": (with_forward_threads, (threads, encode_only, vit, decoded)),
                             "pipeline_pinned": (pipeline_index, (video, vit, 1.0)),
                             "pipeline_all_threads": (with_forward_threads, (threads, pipeline_index, video, vit,
                                                                             1.0))})
    e2e = alternate(rounds, {"serial": (serial_index, (video, vit, 1.0)),
                             "pipeline": (pipeline_index, (video, vit, 1.0)),
                             "decode_only": (decode_only, (video, vit, 1.0)),
                             "encode_only": (encode_only, (vit, decoded)),
                             "pipeline_bf16": (pipeline_index, (video, vit_bf16, 1.0)),
                             "encode_only_bf16": (encode_only, (vit_bf16, decoded))})
    fp32, bf16 = pipeline_index(video, vit, 1.0), pipeline_index(video, vit_bf16, 1.0)
    agreement = (fp32 * bf16).sum(-1) / np.linalg.norm(fp32, axis=-1) / np.linalg.norm(bf16, axis=-1)
    scaling = alternate(rounds, {"segments_1": (segment_decode, (video, vit, 1.0, 1)),
                                 "segments_2": (segment_decode, (video, vit, 1.0, 2)),
                                 "ffmpeg_threads": (decode_only, (video, vit, 1.0, 1)),
                                 "plain_threads_1": (plain_decode_threads, (video, 1)),
                                 "plain_threads_2": (plain_decode_threads, (video, 2))})
    return {
        "video": f"{seconds} s 640x360 30 fps H.264 (testsrc2, x264 veryfast), sampled at 1 fps",
        "frames": frames, "rounds": rounds, "cores": os.cpu_count(), "load_average": os.getloadavg(),
        "seconds": {**work, **loaded, **e2e, **scaling, **pin},
        "index_work_vs_plain_decode": work["index_tiny"] / work["plain_decode"],
        "loaded": {"busy_processes": busy, "load_average": loaded_load,
                   "index_work_vs_plain_decode": loaded["index_tiny_loaded"] / loaded["plain_decode_loaded"],
                   "end_to_end_vs_encode_only": loaded["pipeline_loaded"] / loaded["encode_only_loaded"]},
        "end_to_end_vs_encode_only": e2e["pipeline"] / e2e["encode_only"],
        # the one-thread forwards of vtg.determinism against torch's own thread count
        "forward_pin": {"threads": threads,
                        "encode_only_pinned_vs_all": pin["encode_only_pinned"] / pin["encode_only_all_threads"],
                        "pipeline_pinned_vs_all": pin["pipeline_pinned"] / pin["pipeline_all_threads"]},
        "pipeline_vs_serial_speedup": e2e["serial"] / e2e["pipeline"],
        "vit_b32_frames_per_s": {"pipeline": frames / e2e["pipeline"], "serial": frames / e2e["serial"]},
        "pipeline_efficiency": e2e["pipeline"] / max(e2e["decode_only"], e2e["encode_only"]),
        # the user's choice of bf16 (vtg --precision bf16) against the fp32 serial path
        "bf16": {"cpu_has_bf16_units": not emulated_on_cpu("bf16"),
                 "pipeline_vs_serial_fp32": e2e["serial"] / e2e["pipeline_bf16"],
                 "frames_per_s": frames / e2e["pipeline_bf16"],
                 "efficiency": e2e["pipeline_bf16"] / max(e2e["decode_only"], e2e["encode_only_bf16"]),
                 "min_cosine_to_fp32": float(agreement.min())},
        # the most any overlap of the stages can gain over the serial path on this machine
        "overlap_ceiling": e2e["serial"] / max(e2e["decode_only"], e2e["encode_only"]),
        "decode_scaling_1_to_2": scaling["segments_1"] / scaling["segments_2"],
        # two whole-file plain loops in two threads vs one (twice the work): the in-process ceiling
        "plain_threads_scaling_1_to_2": 2 * scaling["plain_threads_1"] / scaling["plain_threads_2"],
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


class Budget:
    """Wall-clock budget of the GPU section (a lent GPU machine has minutes): a pass whose
    estimated time does not fit what is left is skipped and reported as skipped."""

    def __init__(self, seconds: float | None):
        self.deadline = None if seconds is None else time.monotonic() + seconds

    def allows(self, estimate: float) -> bool:
        return self.deadline is None or time.monotonic() + estimate < self.deadline


def gpu_figures(root: Path, seconds: int, budget: Budget, save) -> dict:
    """Only with CUDA: a ``seconds``-long 1080p H.264 video at 1 fps; decode-only frames/s with the
    CPU decoder (pyav) and NVDEC; ViT-B/32 and BLIP-2 ViT-g (random weights, the GPU's default
    half precision) encode-only and end-to-end frames/s with each decoder, GPU and NVDEC
    utilisation, and pipeline efficiency. ``save(out)`` is called after every pass."""
    import open_clip
    import torch

    from vtg.encoders import load_encoder
    from vtg.encoders.testing import random_open_clip
    from vtg.video import nvdec_backend, probe

    start = time.perf_counter()
    video = make_long_video(root / "long1080.mp4", seconds, "1920x1080")
    info = probe(video)
    out: dict = {"gpu": torch.cuda.get_device_name(0), "cores": os.cpu_count(), "torch": torch.__version__,
                 "video": f"{info.duration:.0f} s {info.width}x{info.height} {info.fps:g} fps H.264 "
                          "(testsrc2, x264 veryfast), sampled at 1 fps",
                 "video_gb": video.stat().st_size / 1e9, "make_video_s": time.perf_counter() - start,
                 "skipped": []}
    save(out)
    decoders = ["pyav"]
    try:
        nvdec_backend.check(video)
        decoders.append("nvdec")
    except Exception as err:  # noqa: BLE001 - reported, the CPU decoder is still measured
        out["nvdec_unavailable"] = str(err)
    specs = {"ViT-B/32": lambda: str(random_open_clip(root / "vit-b-32", open_clip.get_model_config("ViT-B-32"))),
             "BLIP-2 ViT-g": lambda: str(_blip2_vitg(root / "blip2"))}
    frames = int(np.ceil(info.duration))
    decode_rate: dict[str, float] = {}  # sampled frames per second of decoding alone, per decoder
    for name, make in specs.items():
        made = time.perf_counter()
        enc = load_encoder(make(), device="cuda")
        fig: dict = {"model_ready_s": time.perf_counter() - made, "dtype": str(enc.dtype)}
        out[name] = fig
        sample = first_frames(video, enc, 512)  # the first 512 s: warm-up and an encode-only sample
        chunks = [sample[lo:lo + 128] for lo in range(0, len(sample), 128)]
        encode_only(enc, chunks[:1])  # warm-up (kernels, the batch-size trial)
        fig["encode_only_frames_per_s"] = len(sample) / timed(encode_only, enc, chunks)
        for decoder in decoders:
            if decoder not in decode_rate:  # decode-only once per decoder (both models decode to 224 px)
                guess = 120 / timed(first_frames, video, enc, 120, decoder)  # sampled frames/s, to budget
                if not budget.allows(frames / guess):
                    out["skipped"].append(f"decode-only {decoder}")
                    continue
                decode_rate[decoder] = frames / timed(decode_only, video, enc, 1.0, None, decoder)
                out[f"decode_only_{decoder}_frames_per_s"] = decode_rate[decoder]
                save(out)
            expected = frames / min(decode_rate[decoder], fig["encode_only_frames_per_s"])
            if not budget.allows(expected * 1.2):
                out["skipped"].append(f"{name} pipeline {decoder}")
                continue
            util = _Utilisation()
            with util:
                got = timed(pipeline_index, video, enc, 1.0, decoder)
            fig[f"pipeline_{decoder}"] = {
                "frames_per_s": frames / got, "seconds": got,
                "efficiency": got / max(frames / decode_rate[decoder], frames / fig["encode_only_frames_per_s"]),
                "gpu_utilisation_mean": util.mean(), "nvdec_utilisation_mean": util.mean_decoder()}
            save(out)
        del enc, sample, chunks
        torch.cuda.empty_cache()
    return out


def first_frames(video: Path, encoder, count: int, backend: str = "pyav") -> np.ndarray:
    """The first ``count`` frames sampled at 1 fps, at the encoder's input size."""
    from vtg.video import iter_frames

    batches = iter_frames(video, 1.0, batch_size=64, frame_size=encoder.decode_size, backend=backend)
    got, n = [], 0
    for fb in batches:
        got.append(fb.frames)
        n += len(fb)
        if n >= count:
            break
    batches.close()
    return np.concatenate(got)[:count]


def _blip2_vitg(out: Path) -> Path:
    """BLIP-2 ITM with the released ViT-g/Q-Former sizes (transformers' defaults), random weights
    (made on the GPU when there is one: a billion parameters initialise slowly on a CPU)."""
    import torch
    from transformers import Blip2Config, Blip2ForImageTextRetrieval, BlipImageProcessor

    from vtg.encoders.testing import tiny_tokenizer

    tok = tiny_tokenizer(out)
    cfg = Blip2Config(qformer_config={"vocab_size": len(tok), "pad_token_id": tok.pad_token_id,
                                      "use_qformer_text_input": True}, image_text_hidden_size=256)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = Blip2ForImageTextRetrieval(cfg)
    model.save_pretrained(str(out))
    BlipImageProcessor(size={"height": 224, "width": 224}).save_pretrained(str(out))
    return out


class _Utilisation:
    """Samples ``nvidia-smi``-style GPU and video-decoder (NVDEC) utilisation every 0.2 s through
    pynvml, when present."""

    def __init__(self):
        self.samples: list[int] = []
        self.decoder: list[int] = []
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
                try:
                    self.decoder.append(pynvml.nvmlDeviceGetDecoderUtilization(handle)[0])
                except Exception:  # noqa: BLE001 - not every driver reports it
                    pass

        threading.Thread(target=poll, daemon=True).start()
        return self

    def __exit__(self, *exc):
        if self._stop is not None:
            self._stop.set()

    def mean(self) -> float | None:
        return statistics.mean(self.samples) if self.samples else None

    def mean_decoder(self) -> float | None:
        return statistics.mean(self.decoder) if self.decoder else None


def print_cpu(fig: dict) -> None:
    s = fig["seconds"]
    print(f"\nCPU: {fig['cores']} cores, load average {', '.join(f'{x:.1f}' for x in fig['load_average'])}; "
          f"{fig['video']}; medians of {fig['rounds']} alternating rounds")
    print("| figure | measured | goal |\n|---|---|---|")
    print(f"| indexing work (tiny encoder) / plain single-threaded decode | {fig['index_work_vs_plain_decode']:.2f}x "
          f"({s['index_tiny']:.2f} s / {s['plain_decode']:.2f} s) | <= 0.75x |")
    lo = fig["loaded"]
    print(f"| same with {lo['busy_processes']} busy processes beside it (load {lo['load_average']:.1f}) | "
          f"{lo['index_work_vs_plain_decode']:.2f}x ({s['index_tiny_loaded']:.2f} s / {s['plain_decode_loaded']:.2f} s) "
          "| <= 0.75x |")
    print(f"| ViT-B/32 fp32 end-to-end / encode-only | {fig['end_to_end_vs_encode_only']:.2f}x "
          f"({s['pipeline']:.2f} s / {s['encode_only']:.2f} s) | <= 1.15x |")
    print(f"| same with {lo['busy_processes']} busy processes beside it | {lo['end_to_end_vs_encode_only']:.2f}x "
          f"({s['pipeline_loaded']:.2f} s / {s['encode_only_loaded']:.2f} s) | <= 1.15x |")
    p = fig["forward_pin"]
    print(f"| one-thread forwards (vtg.determinism) / {p['threads']} threads: encode-only, end-to-end | "
          f"{p['encode_only_pinned_vs_all']:.2f}x, {p['pipeline_pinned_vs_all']:.2f}x | (the price of identical records) |")
    print(f"| ViT-B/32 end-to-end, pipeline vs serial path | {fig['pipeline_vs_serial_speedup']:.2f}x "
          f"({fig['vit_b32_frames_per_s']['pipeline']:.1f} vs {fig['vit_b32_frames_per_s']['serial']:.1f} frames/s; "
          f"ceiling serial / max(decode, encode) = {fig['overlap_ceiling']:.2f}x) | >= 1.4x |")
    print(f"| pipeline efficiency = end-to-end / max(decode {s['decode_only']:.2f} s, encode {s['encode_only']:.2f} s) "
          f"| {fig['pipeline_efficiency']:.2f} | <= 1.15 |")
    b = fig["bf16"]
    print(f"| ViT-B/32 with --precision bf16 (CPU bf16 units: {'yes' if b['cpu_has_bf16_units'] else 'no'}), "
          f"pipeline vs fp32 serial path | {b['pipeline_vs_serial_fp32']:.2f}x ({b['frames_per_s']:.1f} frames/s; "
          f"efficiency {b['efficiency']:.2f}; cosine to fp32 >= {b['min_cosine_to_fp32']:.5f}) | (a choice, not the default) |")
    print(f"| decode scaling, 1 -> 2 segment decoders (1 codec thread each) | {fig['decode_scaling_1_to_2']:.2f}x "
          f"({s['segments_1']:.2f} s -> {s['segments_2']:.2f} s; FFmpeg threads alone {s['ffmpeg_threads']:.2f} s; "
          f"two plain PyAV loops in threads: {fig['plain_threads_scaling_1_to_2']:.2f}x) | >= 1.7x |")


def print_cache(fig: dict) -> None:
    w, h = fig["write_peak_mb"], fig["hit_seconds"]
    print(f"\nFeature cache, an hour of BLIP-2 features at 1 fps ({fig['features_mb_float32']:.0f} MB as float32):")
    print(f"| write peak memory | old float32 .npz {w['old_npz']:.0f} MB | streamed float16 .npy {w['streamed']:.1f} MB |")
    print(f"| a hit (median) | old: load + validate {h['old_npz'] * 1e3:.1f} ms | memory-mapped {h['memory_mapped'] * 1e3:.2f} ms |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=120, help="length of the CPU test video (default: 2 minutes)")
    ap.add_argument("--busy", type=int, default=2, help="busy processes started beside the loaded figures (default 2)")
    ap.add_argument("--skip-gpu", action="store_true")
    ap.add_argument("--gpu-only", action="store_true", help="only the GPU section (on a lent GPU machine)")
    ap.add_argument("--gpu-seconds", type=int, default=3600, help="length of the GPU test video (default: 1 hour)")
    ap.add_argument("--gpu-budget", type=float, help="seconds the GPU section may take; passes that would not "
                    "fit are skipped and listed")
    ap.add_argument("--cache-only", action="store_true", help="only the feature-cache figures (seconds)")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here (after every GPU pass too)")
    args = ap.parse_args(argv)

    import torch

    report: dict = {"torch": torch.__version__}

    def save(gpu: dict | None = None) -> None:
        if gpu is not None:
            report["gpu"] = gpu
        if args.out:
            args.out.write_text(json.dumps(report, indent=1))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if not args.gpu_only:
            report["cache"] = cache_figures(root, max(5, args.rounds))
            print(json.dumps(report["cache"]), flush=True)
        if not args.cache_only and not args.gpu_only:
            report["cpu"] = cpu_figures(root, args.rounds, args.seconds, args.busy)
            print(json.dumps(report["cpu"]), flush=True)
            print_cpu(report["cpu"])
        if not args.gpu_only:
            print_cache(report["cache"])
        if torch.cuda.is_available() and not args.skip_gpu and not args.cache_only:
            save(gpu_figures(root, args.gpu_seconds, Budget(args.gpu_budget), save))
            print(json.dumps(report["gpu"], indent=1), flush=True)
        else:
            print("\nGPU: no CUDA device here; the GPU section was not run.")
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark `vtg serve`: warm ``POST /ground`` and ``POST /search`` latency against a cached CLI
``vtg ground`` on the same video, in alternating rounds of one run.

Setup: a 30-s synthetic clip (ffmpeg testsrc2, 480x270, 30 fps, H.264), an open_clip model with
the real ViT-B/32 architecture and random weights saved locally (vtg.encoders.testing, so no
download; timings depend on the architecture, not the weights), the clip's features cached with
``vtg index`` and a one-video library built with ``vtg index DIR --library``. Then a
``vtg serve`` process starts (models warm) and each round times, in this order: one ``vtg ground``
subprocess (process start, imports, model load, cached features), one ``/ground`` request with
the same query and one ``/search`` request with another. Every request uses a sentence the server
has not seen, so no text embedding is reused from the model manager's cache (a repeated query
would cost a dictionary lookup). Medians over the rounds and the ratios CLI / server are printed.

    python benchmarks/bench_serve.py                 # the README figure (5 rounds)
    python benchmarks/bench_serve.py --rounds 3 --threads 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = ["a person opens the door", "a man walks", "a woman sits down", "a dog runs", "person picks phone",
           "a person stands up", "red car", "a cat walks", "a man closes the door", "woman walks kitchen table"]


def make_clip(path: Path, seconds: int) -> Path:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
           f"testsrc2=size=480x270:rate=30:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True, timeout=300)
    return path


def vtg(*args: str, env: dict) -> float:
    """Seconds one ``vtg`` subprocess takes (it must succeed)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vtg.cli.main", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=900)
    return time.perf_counter() - start


def post(port: int, path: str, body: dict) -> float:
    data = json.dumps(body).encode()
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    payload = resp.read()
    elapsed = time.perf_counter() - start
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"{path} answered {resp.status}: {payload[:300]!r}")
    return elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, port: int, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vtg serve exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("vtg serve did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=30, help="clip length")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (OMP_NUM_THREADS) for every process")
    args = parser.parse_args()

    import open_clip

    from vtg.encoders.testing import random_open_clip

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, VTG_CACHE_DIR=str(tmp / "cache"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        videos = tmp / "videos"
        videos.mkdir()
        clip = make_clip(videos / "clip.mp4", args.seconds)
        model = random_open_clip(tmp / "vit-b-32", open_clip.get_model_config("ViT-B-32"))
        common = ["--encoder", str(model), "--device", "cpu"]
        print(f"indexing a {args.seconds}-s clip with ViT-B/32 (random weights)...", flush=True)
        vtg("index", str(clip), *common, "--no-progress", env=env)
        vtg("index", str(videos), "--library", str(tmp / "library"), *common, "--no-progress", env=env)

        port = free_port()
        log = open(tmp / "serve.log", "wb")
        server = subprocess.Popen([sys.executable, "-m", "vtg.cli.main", "serve", str(videos), "--library",
                                   str(tmp / "library"), *common, "--port", str(port), "--log-level", "warning"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            started = time.perf_counter()
            wait_ready(server, port)
            print(f"server warm after {time.perf_counter() - started:.1f} s", flush=True)
            cli, ground, search = [], [], []
            for r in range(args.rounds):
                query = QUERIES[r % len(QUERIES)] + f" {r}"
                cli.append(vtg("ground", str(clip), query, *common, "--json", env=env))
                ground.append(post(port, "/ground", {"video": "clip.mp4", "query": query}))
                search.append(post(port, "/search", {"query": f"{query} again", "top": 10}))
                print(f"round {r + 1}: cli {cli[-1]:.2f} s, /ground {ground[-1] * 1000:.0f} ms, "
                      f"/search {search[-1] * 1000:.0f} ms", flush=True)
        finally:
            server.terminate()
            code = server.wait(timeout=60)
            log.close()
        c, g, s = (statistics.median(x) for x in (cli, ground, search))
        print(f"\nmedians of {args.rounds} alternating rounds ({args.seconds}-s clip, ViT-B/32, CPU):")
        print(f"  cached CLI `vtg ground`: {c:.2f} s")
        print(f"  warm POST /ground:       {g * 1000:.0f} ms  ({c / g:.0f}x faster)")
        print(f"  warm POST /search:       {s * 1000:.0f} ms  ({c / s:.0f}x faster)")
        print(f"  server exit code after SIGTERM: {code}")


if __name__ == "__main__":
    main()

"""Benchmark `vtg serve` thumbnails: the server's resident memory while it makes N new thumbnails.

Each thumbnail is decoded on request and the cache keeps at most 512; past that, memory should
level off. This script starts ``vtg serve`` on a synthetic clip (ffmpeg testsrc2, 480x270, 30 fps,
a key frame every second) with a tiny random CLIP model (nothing to download; thumbnails do not
use the model), asks for N thumbnails at distinct times from C client threads, and prints the
server's RSS (``/proc/PID/status``) every ``--every`` thumbnails, then the growth after the cache
filled (RSS at the end minus RSS at 512 thumbnails).

    python benchmarks/bench_thumbs.py                      # 3000 thumbnails, 4 clients
    python benchmarks/bench_thumbs.py -n 5500 --python /work/main/.venv/bin/python   # another checkout's server
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CACHE_ENTRIES = 512


def make_clip(path: Path, seconds: int) -> Path:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
           f"testsrc2=size=480x270:rate=30:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
           "-g", "30", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True, timeout=300)
    return path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vtg serve exited with {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            if get(port, "/health")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("vtg serve did not come up")


@contextlib.contextmanager
def tiny_server(seconds: int, python: str, prefix: str, *extra: str):
    """``vtg serve`` (run by ``python``) over one made clip of ``seconds`` with a tiny CLIP encoder,
    up and answering /health; yields (process, port) and stops it afterwards. Shared by the serve
    benchmarks that watch a live server (thumbnail memory, overload)."""
    from bench_serve import free_port

    from vtg.encoders.testing import tiny_hf_clip

    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        tmp = Path(name)
        videos = tmp / "videos"
        videos.mkdir()
        make_clip(videos / "clip.mp4", seconds)
        model = tiny_hf_clip(tmp / "clip")
        env = dict(os.environ, VTG_CACHE_DIR=str(tmp / "cache"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        port = free_port()
        with open(tmp / "serve.log", "wb") as log:
            server = subprocess.Popen([python, "-m", "vtg.cli.main", "serve", str(videos), "--encoder", str(model),
                                       "--device", "cpu", *extra, "--port", str(port), "--log-level", "warning"],
                                      env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
            try:
                wait_ready(server, port, tmp / "serve.log")
                yield server, port
            finally:
                server.terminate()
                server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=3000, help="new thumbnails to make")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--every", type=int, default=250, help="print RSS every this many thumbnails")
    parser.add_argument("--seconds", type=int, default=60, help="clip length (distinct times: 100 per second)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose vtg serves")
    args = parser.parse_args()

    with tiny_server(args.seconds, args.python, "bench-thumbs-") as (server, port):
        ident = json.loads(get(port, "/videos")[1])["videos"][0]["id"]
        times = [round(i * 0.01, 2) % (args.seconds - 1) for i in range(args.n)]
        done, failures, lock = [0], [0], threading.Lock()
        samples: list[tuple[int, float]] = [(0, rss_mb(server.pid))]
        print(f"server pid {server.pid}: RSS {samples[0][1]:.0f} MB before any thumbnail", flush=True)
        started = time.perf_counter()

        def client(k: int) -> None:
            for t in times[k::args.clients]:
                status, _ = get(port, f"/thumbs/{ident}?t={t}")
                with lock:
                    done[0] += 1
                    failures[0] += status != 200
                    if done[0] % args.every == 0 or done[0] == CACHE_ENTRIES:
                        samples.append((done[0], rss_mb(server.pid)))
                        print(f"{done[0]:6d} thumbnails: RSS {samples[-1][1]:7.1f} MB "
                              f"({time.perf_counter() - started:.0f} s)", flush=True)

        workers = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - started
        health = json.loads(get(port, "/health")[1])
        at_full = next(rss for n, rss in samples if n >= CACHE_ENTRIES)
        end = rss_mb_final = samples[-1][1]
        print(f"\n{args.n} thumbnails ({failures[0]} failed), {args.clients} clients: made "
              f"{health['thumbnails']['made']}, cached {health['thumbnails']['cached']}, "
              f"{elapsed:.0f} s ({1000 * elapsed / args.n:.1f} ms per thumbnail)")
        print(f"RSS at {CACHE_ENTRIES} (cache full): {at_full:.1f} MB; at the end: {end:.1f} MB; "
              f"growth after the cache filled: {rss_mb_final - at_full:+.1f} MB")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()

"""Throughput of vtg's checked download (vtg.encoders.transfer) against huggingface_hub's own.

vtg counts every chunk against the declared size, hashes the body (sha256 for LFS files) and checks
the deadline as bytes arrive; this measures what that costs on a large file served by the local
test hub (tests/hub_server.py on 127.0.0.1: the 302 to a second "CDN" port, as the real hub).
Each round downloads the same file into a fresh cache with ``vtg.encoders.hub.download`` and with
``huggingface_hub.hf_hub_download``, alternating; prints the median seconds and MB/s of each and
their ratio. No real network is used.

    .venv/bin/python benchmarks/bench_download.py --mb 256 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

REPO = "bench/big"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from hub_server import LocalHub

    from vtg.encoders import hub

    work = Path(tempfile.mkdtemp(prefix="vtg-bench-dl-"))
    repo = work / "repo"
    repo.mkdir()
    (repo / "model.safetensors").write_bytes(os.urandom(args.mb << 20))
    (repo / "config.json").write_text("{}")
    times: dict[str, list[float]] = {"vtg": [], "huggingface_hub": []}
    try:
        with LocalHub({REPO: repo}) as server:
            os.environ["HF_ENDPOINT"] = server.url
            for r in range(args.rounds):
                for name in (("vtg", "huggingface_hub") if r % 2 == 0 else ("huggingface_hub", "vtg")):
                    cache = work / f"cache-{name}-{r}"
                    t0 = time.perf_counter()
                    if name == "vtg":
                        hub.download(REPO, ["model.safetensors"], cache_dir=cache, quiet=True)
                    else:
                        from huggingface_hub import hf_hub_download

                        hf_hub_download(REPO, "model.safetensors", cache_dir=str(cache), endpoint=server.url)
                    times[name].append(time.perf_counter() - t0)
                    shutil.rmtree(cache)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, seconds in med.items():
        print(f"{name:16} median {seconds:6.3f} s  {args.mb / seconds:8.1f} MiB/s  over {args.rounds} rounds")
    print(f"vtg / huggingface_hub: {med['vtg'] / med['huggingface_hub']:.2f}x the time")


if __name__ == "__main__":
    main()

"""Benchmark `vtg serve` under overload: C clients each send R ``POST /ground`` requests back to back.

Two kinds of client: ``plain`` ones take the first answer (a 503 counts as refused), ``retrying``
ones honour ``Retry-After`` until they get a 200 (their latency includes the waits). The server
runs TFVTG with a tiny random CLIP model (nothing to download) on a synthetic clip whose features
are cached by the first request, with the default ``--max-concurrent 2``; ``-O stride=1`` and a
long clip keep each request busy for a while so that clients overlap. Printed: answers by status,
the refused share, and median / p99 latency.

    python benchmarks/bench_serve_load.py                                  # this checkout
    python benchmarks/bench_serve_load.py --python /work/main/.venv/bin/python   # another checkout's server
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import statistics
import sys
import threading
import time
from pathlib import Path


def post(port: int, body: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/ground", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def run_clients(port: int, clients: int, requests: int, retrying: bool) -> tuple[collections.Counter, list[float]]:
    statuses: collections.Counter = collections.Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        for r in range(requests):
            body = {"video": "clip.mp4", "query": f"a person walks {k} {r}", "top_k": 3}
            start = time.perf_counter()
            while True:
                status, headers = post(port, body)
                if status != 503 or not retrying:
                    break
                time.sleep(float(headers.get("retry-after", "1")))
            with lock:
                statuses[status] += 1
                latencies.append(time.perf_counter() - start)

    workers = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statuses, latencies


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=25, help="per client")
    parser.add_argument("--seconds", type=int, default=600, help="clip length")
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose vtg serves")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_thumbs import tiny_server

    with tiny_server(args.seconds, args.python, "bench-load-", "-O", "stride=1") as (server, port):
        start = time.perf_counter()
        assert post(port, {"video": "clip.mp4", "query": "warm the feature cache"})[0] == 200
        print(f"first request (decodes and caches the clip): {time.perf_counter() - start:.1f} s", flush=True)
        for retrying in (False, True):
            statuses, latencies = run_clients(port, args.clients, args.requests, retrying)
            total = sum(statuses.values())
            kind = "retrying" if retrying else "plain"
            print(f"{args.clients} {kind} clients x {args.requests}: {dict(sorted(statuses.items()))}, "
                  f"refused {100 * statuses[503] / total:.0f}%, median {statistics.median(latencies):.2f} s, "
                  f"p99 {p99(latencies):.2f} s", flush=True)


if __name__ == "__main__":
    main()

"""Features stored once (issue 18): what a feature-cache hit costs when the entry's features are
rows of a library shard instead of its own ``.npy``.

An hour of 512-d features at 1 fps ([3600, 512], float16) is written twice through the cache's
own writer: one entry keeps its arrays, the other is linked (:func:`vtg.feature_store.link_to_shard`)
to its rows in the middle of a 21-hour shard written by the library's shard writer. Both are then
hit ``--rounds`` times in alternation through :func:`vtg.features._load` (what ``vtg ground``
does on a cached video; the first hit of each, which checks finiteness once per process, is not
counted), and the medians and their ratio are printed. The bytes each form leaves on disk are
printed too. The library's scan does not change (it reads the same shards as before).

    python benchmarks/bench_store_once.py
    python benchmarks/bench_store_once.py --rounds 500
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from vtg import feature_store, features
from vtg.library import shards

FRAMES, DIM = 3600, 512


def write_entry(folder: Path, key: str, feats: np.ndarray, times: np.ndarray) -> None:
    writer = feature_store.EntryWriter(folder, key)
    writer.add(times, feats)
    writer.commit((DIM,))
    features._write_sidecar(folder, key, "bench", 1.0, None, float(FRAMES), FRAMES, (DIM,), 1.0,
                            {"video": "bench.mp4", "weights": "bench"})


def link_into_shard(tmp: Path, folder: Path, key: str, feats: np.ndarray, times: np.ndarray) -> None:
    """Pack the entry's features between 20 hours of other rows and make the entry refer to them."""
    rng = np.random.default_rng(1)
    others = rng.standard_normal((20 * FRAMES, DIM)).astype(np.float16)
    half = 10 * FRAMES
    packed = np.concatenate([others[:half], feats.astype(np.float16), others[half:]])
    stamps = np.concatenate([np.arange(half), times, np.arange(half)]).astype(np.float64)
    shard = shards.write(tmp / "shards", packed, stamps)
    path, times_path = shards.feature_path(tmp / "shards", shard.name), shards.times_path(tmp / "shards", shard.name)
    if not feature_store.link_to_shard(folder, key, path, times_path, shard.rows, half, FRAMES):
        raise SystemExit("the entry could not be linked to the shard")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vtg-bench-store-once-") as tmp:
        run(Path(tmp), args.rounds)


def run(tmp: Path, rounds: int) -> None:
    folder = tmp / "features"
    folder.mkdir()
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((FRAMES, DIM)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    times = np.arange(FRAMES, dtype=np.float64)
    own, linked = "a" * 64, "b" * 64
    write_entry(folder, own, feats, times)
    write_entry(folder, linked, feats, times)
    link_into_shard(tmp, folder, linked, feats, times)
    laps: dict[str, list[float]] = {own: [], linked: []}
    for key in laps:
        first = features._load(folder, key)
        if first is None or not np.array_equal(np.asarray(first.features), feats.astype(np.float16)):
            raise SystemExit(f"entry {key[:8]} does not read back what was written")
    for _ in range(rounds):
        for key in laps:
            start = time.perf_counter()
            features._load(folder, key)
            laps[key].append(time.perf_counter() - start)
    own_ms, linked_ms = (statistics.median(laps[k]) * 1e3 for k in (own, linked))
    print(f"hit, own entry:        {own_ms:.3f} ms (median of {rounds}); "
          f"{feature_store.entry_bytes(folder, own):,} B of .npy in the cache")
    print(f"hit, stored in shard:  {linked_ms:.3f} ms (median of {rounds}); "
          f"{feature_store.entry_bytes(folder, linked):,} B of .npy in the cache")
    print(f"ratio stored / own:    {linked_ms / own_ms:.2f}x")


if __name__ == "__main__":
    main()

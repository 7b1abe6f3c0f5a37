"""Synthetic libraries whose features are clustered like real video features.

Random iid unit vectors make every approximate index look bad (no structure to exploit) or
meaningless (every neighbour is equally far), so recall measured on them says nothing about real
footage. Here a video is a random walk around its own centre, and centres gather around topics:

* ``topics`` random unit directions (scenes that recur across a collection: kitchens, roads...);
* each video picks a topic; its centre is the topic plus a random offset (``CENTRE_SPREAD``);
* its frames follow a smooth random walk in a random 16-dimensional subspace around the centre
  (camera motion, scene changes) plus a little per-frame noise, then are normalised to unit length
  as CLIP-style encoders output them.

Consecutive frames are therefore close, a video's frames are near each other, and videos of one
topic are near each other: the structure an IVF index exploits and the structure of real features.

Queries (:func:`queries`) are perturbed frames: ``normalize(frame + s * noise)`` with a random
unit ``noise``, cosine ~ 1/sqrt(1+s^2) to their source frame (s = 1.5: ~0.55, the order of a
CLIP text-image match), so the query is near, not on, the data, as a sentence is.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vtg.library import open_library

CENTRE_SPREAD = 0.8
WALK_SCALE = 0.6
NOISE_SCALE = 0.25
WALK_DIMS = 16


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def video_features(rng: np.random.Generator, topic: np.ndarray, frames: int, noise_pool: np.ndarray) -> np.ndarray:
    """float32 [frames, dim] unit features of one video (see the module docstring)."""
    dim = topic.shape[0]
    centre = _unit(topic + CENTRE_SPREAD * _unit(rng.standard_normal(dim)))
    basis = _unit(rng.standard_normal((WALK_DIMS, dim)).astype(np.float32)) / np.sqrt(WALK_DIMS)
    walk = np.cumsum(rng.standard_normal((frames, WALK_DIMS)).astype(np.float32), axis=0) / np.sqrt(frames)
    noise = noise_pool[rng.integers(0, len(noise_pool), frames)]
    x = centre.astype(np.float32) + WALK_SCALE * (walk @ basis) + NOISE_SCALE * noise
    return _unit(x)


def build(folder: Path, hours: float, *, dim: int = 512, seed: int = 0, topics: int = 2000,
          min_minutes: int = 10, max_minutes: int = 60) -> dict:
    """A library of ``hours`` of 1-fps video (videos of ``min_minutes``..``max_minutes``) written
    through the library's own shard writer, as ``vtg index`` writes it."""
    rng = np.random.default_rng(seed)
    topic_dirs = _unit(rng.standard_normal((topics, dim)).astype(np.float32))
    noise_pool = _unit(rng.standard_normal((1 << 15, dim)).astype(np.float32))
    target = int(hours * 3600)
    done, i = 0, 0
    t0 = time.perf_counter()
    with open_library(folder, create=True) as lib, \
            lib.writer(encoder="synthetic", fingerprint="0", max_age=float("inf")) as w:
        while done < target:
            frames = min(target - done, int(rng.integers(min_minutes, max_minutes + 1)) * 60)
            feats = video_features(rng, topic_dirs[rng.integers(0, topics)], frames, noise_pool)
            w.add(Path(f"/synthetic/{hours:g}h/video{i:06d}.mp4"), features=feats,
                  times=np.arange(frames, dtype=np.float64), duration=float(frames), encoder="synthetic", fps=1.0,
                  key=f"{i}", size=frames, mtime_ns=i)
            done += frames
            i += 1
    return {"hours": hours, "videos": i, "frames": done, "build_s": round(time.perf_counter() - t0, 1)}


def queries(view, count: int, seed: int, spread: float = 1.5) -> np.ndarray:
    """float32 [count, dim] unit queries, each a random frame of a random video perturbed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        video = view.videos[int(rng.integers(0, len(view.videos)))]
        frame = np.asarray(view.video_features(video)[int(rng.integers(0, video.frames))], np.float32)
        out.append(_unit(_unit(frame) + spread * _unit(rng.standard_normal(frame.shape[0]))))
    return np.stack(out).astype(np.float32)


if __name__ == "__main__":  # python benchmarks/synthetic_library.py FOLDER HOURS
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    print(build(Path(sys.argv[1]), float(sys.argv[2])), flush=True)

"""A library index killed with SIGKILL resumes: every video exactly once, no torn shard used."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vtg.encoders.testing import tiny_hf_clip
from vtg.library import open_library, search

from conftest import scene_frame, write_video

INDEXER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from vtg.library import open_library

    def report(path, status, detail):
        print(status, flush=True)

    with open_library(sys.argv[1], create=True) as lib:
        lib.index([Path(sys.argv[2])], encoder=sys.argv[3], device="cpu", method="tfvtg", shard_bytes=1, report=report)
    print("done", flush=True)
""")


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tiny_hf_clip(tmp_path_factory.mktemp("crash-clip"))


def make_videos(root: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        colors = [tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(3)]
        frames = [scene_frame(c, (96, 64), i % 3) for c in colors for _ in range(20)]
        out.append(write_video(root / f"v{i}.mp4", frames, 10.0))
    return out


def test_sigkill_mid_index_then_rerun_indexes_every_video_once(tmp_path, clip_dir):
    root = tmp_path / "videos"
    root.mkdir()
    videos = make_videos(root, 8)
    lib = tmp_path / "lib"
    proc = subprocess.Popen([sys.executable, "-c", INDEXER, str(lib), str(root), str(clip_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line.strip())
            if seen.count("indexed") == 2:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.stdout.close()
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL and "done" not in seen

    with open_library(lib) as opened:                # what the killed run committed is whole
        committed = opened.videos()
        assert 2 <= len(committed) < len(videos)
        assert all(r.status == "ok" and r.frames > 0 for r in committed)
    with open_library(lib) as opened:
        summary = opened.index([root], encoder=str(clip_dir), device="cpu", method="tfvtg")
        assert summary.unchanged == len(committed) and summary.indexed == len(videos) - len(committed)
        rows = opened.videos()
        paths = [r.path for r in rows]
        assert sorted(paths) == sorted(v.resolve() for v in videos) and len(set(paths)) == len(paths)
        shards = opened.manifest.shards()
        view = opened.view()                               # every registered shard opens and is complete
        assert {s.id for s in view.shards} == {s.id for s in shards}   # no unused shard is kept
        names = {s.name for s in shards}
        assert {p.name.split(".")[0] for p in opened.shard_folder.iterdir()} == names
    assert search(lib, "red", device="cpu", top=3)

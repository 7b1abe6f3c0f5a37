"""The exact scan on synthetic libraries written through the shard writer (no encoder needed)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from vtg.errors import DataError
from vtg.library import open_library
from vtg.library.scan import block_rows, scan


def unit(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def build(folder: Path, lengths: list[int], dim: int, *, shard_bytes: int, seed: int = 0, extra=()) -> dict:
    """A library of random unit float16 features; returns {path: features as stored (float16)}."""
    rng = np.random.default_rng(seed)
    stored = {}
    with open_library(folder, create=True) as lib, lib.writer(shard_bytes=shard_bytes, encoder="synthetic",
                                                               fingerprint="0") as w:
        for i, n in enumerate(lengths):
            path = Path(f"/synthetic/video{i:04d}.mp4")
            feats = unit(rng, (n, *extra, dim)).astype(np.float16)
            w.add(path, features=feats, times=np.arange(n, dtype=np.float64), duration=float(n), encoder="synthetic",
                  fps=1.0, key=f"k{i}", size=n, mtime_ns=i)
            stored[path] = feats
    return stored


def test_scan_equals_a_brute_force_max_across_shards_and_blocks(tmp_path):
    lengths = [5, 130, 1, 64, 300, 17, 90]
    stored = build(tmp_path / "lib", lengths, 8, shard_bytes=200 * 8 * 2)   # several videos per shard
    q = unit(np.random.default_rng(1), (8,))
    with open_library(tmp_path / "lib") as lib:
        view = lib.view()
        shards, videos = view.shards, view.videos
        assert len(shards) > 2 and max(s.rows for s in shards) >= 300        # the 300-frame video has its own
        best, stats = scan(view, lambda b: b @ q, block_bytes=50 * 8 * 4)   # blocks split videos
        assert stats.frames == sum(lengths) and stats.blocks > len(shards)
        for v in videos:
            expected = float((stored[v.path].astype(np.float32) @ q).max())
            assert best[v.id] == pytest.approx(expected, rel=1e-6, abs=1e-7)
        dropped = videos[1]
        lib.manifest.drop([dropped.id])
        best2, _ = scan(lib.view(), lambda b: b @ q, block_bytes=50 * 8 * 4)
        assert dropped.id not in best2 and len(best2) == len(videos) - 1


def test_scan_memory_is_one_block_not_the_library(tmp_path):
    dim = 64
    build(tmp_path / "lib", [4000] * 10, dim, shard_bytes=8000 * dim * 2)       # 40k frames, 5 shards
    q = unit(np.random.default_rng(2), (dim,))
    block = 1000 * dim * 4
    with open_library(tmp_path / "lib") as lib:
        view = lib.view()
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            best, stats = scan(view, lambda b: b @ q, block_bytes=block)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    library_f32 = 40000 * dim * 4
    assert stats.largest_block_bytes == block and stats.frames == 40000
    assert peak < block + 256 * 1024 < library_f32 / 4


def test_multi_vector_features_keep_their_shape(tmp_path):
    from vtg.encoders.base import Encoder

    stored = build(tmp_path / "lib", [12, 7], 16, shard_bytes=1 << 20, extra=(4,))
    txt = unit(np.random.default_rng(3), (2, 16))
    with open_library(tmp_path / "lib") as lib:
        view = lib.view()
        assert view.shards[0].shape == (4, 16)
        best, _ = scan(view, lambda b: Encoder.similarity(None, b, txt).mean(axis=1))
        for v in view.videos:
            f = stored[v.path].astype(np.float32)
            expected = np.einsum("nqd,md->nqm", f, txt).max(axis=1).mean(axis=1).max()
            assert best[v.id] == pytest.approx(float(expected), rel=1e-6)


def test_block_rows_bounds():
    assert block_rows((512,), 64 << 20) == (64 << 20) // 2048
    assert block_rows((32, 256), 1) == 1


def test_writer_rejects_a_second_feature_shape(tmp_path):
    from vtg.errors import UsageError

    build(tmp_path / "lib", [3], 8, shard_bytes=1 << 20)
    with pytest.raises(UsageError, match="holds features of shape"):
        build(tmp_path / "lib", [3], 16, shard_bytes=1 << 20, seed=5)


def test_the_torch_and_numpy_dot_products_agree():
    from vtg.halfdot import dot_scores

    rng = np.random.default_rng(4)
    block = unit(rng, (3000, 64)).astype(np.float16)
    v = unit(rng, (64,))
    exact = block.astype(np.float64) @ v.astype(np.float16).astype(np.float64)
    for use_torch in (False, True):
        got = dot_scores(block, v, use_torch=use_torch)
        assert got.dtype == np.float32 and got.shape == (3000,)
        np.testing.assert_allclose(got, exact, atol=2e-3)


def test_sweep_removes_only_what_the_library_wrote(tmp_path):
    from vtg.library import shards

    folder = tmp_path / "shards"
    kept = shards.write(folder, np.zeros((2, 4), np.float16), np.arange(2.0))
    orphan = shards.write(folder, np.ones((3, 4), np.float16), np.arange(3.0))
    torn = folder / (shards.new_name() + ".times.npy.tmp")
    torn.write_bytes(b"half")
    strays = [folder / "notes.tmp", folder / "abc.npy", folder / "readme.txt"]
    for p in strays:
        p.write_text("user data")
    removed = shards.sweep(folder, {kept.name})
    assert sorted(removed) == sorted([f"{orphan.name}.npy", f"{orphan.name}.times.npy", torn.name])
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{kept.name}.npy", f"{kept.name}.times.npy", *(p.name for p in strays)])
    assert shards.open_features(folder, kept.name, 2, (4,)).shape == (2, 4)
    with pytest.raises(DataError, match="not what the manifest says"):
        shards.open_features(folder, kept.name, 3, (4,))


def test_non_finite_features_are_refused(tmp_path):
    feats = np.ones((3, 4), np.float32)
    feats[1, 2] = 1e6  # beyond float16: infinity once stored
    with open_library(tmp_path / "lib", create=True) as lib, lib.writer() as w:
        with pytest.raises(DataError, match="NaN or infinity"):
            w.add(Path("/x.mp4"), features=feats, times=np.arange(3.0), duration=3.0, encoder="e", fps=1.0,
                  key="k", size=1, mtime_ns=1)
        assert lib.videos() == []


def test_small_shards_are_merged_and_old_buffers_flushed(tmp_path):
    rng = np.random.default_rng(6)

    def add(w, i, n=5):
        w.add(Path(f"/v{i}.mp4"), features=unit(rng, (n, 8)), times=np.arange(float(n)), duration=float(n),
              encoder="e", fps=1.0, key=str(i), size=n, mtime_ns=i)

    with open_library(tmp_path / "lib", create=True) as lib:
        with lib.writer(max_age=0.0) as w:          # every video waits "too long": one shard each
            for i in range(4):
                add(w, i)
            assert w.shards_written == 4
        with lib.writer() as w:
            assert lib.compact(w) == 4                # four small shards become one
        view = lib.view()
        assert len(view.shards) == 1 and len(view.videos) == 4
        with lib.writer() as w:
            assert lib.compact(w) == 0                # a single small shard stays

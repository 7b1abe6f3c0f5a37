"""Feature cache: computed once per (content, encoder, sampling), then served without decoding."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import vtg.encoders
import vtg.video
from vtg.encoders import load_encoder
from vtg.encoders.testing import random_open_clip
from vtg.errors import UsageError, VideoNotFoundError
from vtg.features import features_dir, list_cached, video_features
from vtg.pipeline import decode_batch_size


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return str(random_open_clip(tmp_path_factory.mktemp("oc") / "tiny"))


def test_first_call_computes_second_is_cached(three_scene_video, tiny_dir, monkeypatch):
    first = video_features(three_scene_video, tiny_dir, 1.0, device="cpu")
    assert not first.cached and first.path and first.path.endswith(".npy")
    assert first.features.shape == (12, 16) and first.features.dtype == np.float16  # stored, memory-mapped
    np.testing.assert_allclose(first.times, np.arange(12.0), atol=0.06)
    assert first.duration == pytest.approx(12.0, abs=0.1)
    assert first.encoder.startswith("open_clip:local-dir:") and first.fps == 1.0
    np.testing.assert_allclose(np.linalg.norm(first.features.astype(np.float32), axis=1), 1.0, atol=2e-3)
    assert np.dot(first.features[1], first.features[10]) < 0.999  # red vs blue scene differ

    def boom(*a, **k):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(vtg.video, "iter_frames", boom)
    monkeypatch.setattr(vtg.video, "probe", boom)
    monkeypatch.setattr(vtg.encoders, "load_encoder", boom)
    second = video_features(three_scene_video, tiny_dir, 1.0)
    assert second.cached and second.path == first.path
    np.testing.assert_array_equal(second.features, first.features)
    np.testing.assert_array_equal(second.times, first.times)
    assert second.duration == first.duration and second.encoder == first.encoder


def test_key_is_content_encoder_and_sampling(three_scene_video, tiny_dir, tmp_path):
    base = video_features(three_scene_video, tiny_dir, 1.0, device="cpu")
    copy = tmp_path / "renamed copy.mp4"
    shutil.copy2(three_scene_video, copy)  # copy2 keeps the modification time, part of the key
    assert video_features(copy, tiny_dir, 1.0).cached  # same content, other name
    enc = load_encoder(tiny_dir, device="cpu")
    assert video_features(three_scene_video, enc, 1.0).cached  # Encoder object == its spec
    assert not video_features(three_scene_video, tiny_dir, 2.0).cached
    limited = video_features(three_scene_video, tiny_dir, 1.0, max_frames=4)
    assert not limited.cached and len(limited) == 4
    other = random_open_clip(tmp_path / "other", seed=1)
    assert not video_features(three_scene_video, str(other), 1.0, device="cpu").cached
    assert len(list(features_dir().glob("*.times.npy"))) == 4
    assert base.path in {str(features_dir() / (m["key"] + ".npy")) for m in list_cached()}


def test_changed_content_is_a_miss(make_video, tiny_dir):
    a = make_video("a.mp4", scenes=[((200, 30, 30), 3.0, 1)])
    video_features(a, tiny_dir, 1.0, device="cpu")
    b = make_video("a.mp4", scenes=[((30, 30, 200), 3.0, 2)])  # same path, new content
    assert not video_features(b, tiny_dir, 1.0).cached


@pytest.mark.parametrize("damage", ["npy", "json", "truncate", "shape", "times", "nan"])
def test_damaged_entry_is_recomputed(three_scene_video, tiny_dir, damage):
    first = video_features(three_scene_video, tiny_dir, 1.0, device="cpu")
    expected = np.array(first.features)
    npy = features_dir() / first.path.split("/")[-1]
    meta = npy.with_suffix(".json")
    if damage == "npy":
        npy.write_bytes(b"not an npy file")
    elif damage == "json":
        meta.write_text("{broken")
    elif damage == "truncate":
        npy.write_bytes(npy.read_bytes()[:200])
    elif damage == "times":
        np.save(npy.with_suffix(".times.npy"), np.arange(5.0))
    elif damage == "nan":
        np.save(npy, np.full(first.features.shape, np.nan, np.float16))
    else:
        m = json.loads(meta.read_text())
        m["shape"] = [3, 16]
        meta.write_text(json.dumps(m))
    again = video_features(three_scene_video, tiny_dir, 1.0)
    assert not again.cached
    np.testing.assert_allclose(again.features, expected, atol=1e-3)
    assert video_features(three_scene_video, tiny_dir, 1.0).cached  # repaired on disk


def test_refresh_recomputes_and_no_temp_files_left(three_scene_video, tiny_dir):
    video_features(three_scene_video, tiny_dir, 1.0, device="cpu")
    assert not video_features(three_scene_video, tiny_dir, 1.0, refresh=True).cached
    names = [p.name for p in features_dir().iterdir()]
    assert not [n for n in names if n.endswith(".tmp")] and len(names) == 3


def test_streams_in_bounded_batches(three_scene_video, tiny_dir, monkeypatch):
    enc = load_encoder(tiny_dir, device="cpu")
    real_iter, seen = vtg.video.iter_frames, []

    def spy(*args, **kwargs):
        seen.append(kwargs["batch_size"])
        return real_iter(*args, **kwargs)

    sizes = []
    real_encode = enc.encode_pixels
    monkeypatch.setattr(vtg.video, "iter_frames", spy)
    monkeypatch.setattr(enc, "encode_pixels", lambda p: sizes.append(len(p)) or real_encode(p))
    monkeypatch.setattr(enc, "batch_size", 4)
    feats = video_features(three_scene_video, enc, 2.0, cache_dir=three_scene_video.parent / "c")
    assert seen == [4] and max(sizes) <= 4 and sum(sizes) == len(feats) == 24
    assert (three_scene_video.parent / "c" / "features").is_dir()


def test_decode_batch_shrinks_for_big_frames():
    assert decode_batch_size(64, 320, 240) == 64
    assert decode_batch_size(64, 3840, 2160) == 10
    assert decode_batch_size(64, 100000, 100000) == 1


def test_errors(tiny_dir, tmp_path, three_scene_video):
    with pytest.raises(VideoNotFoundError):
        video_features(tmp_path / "nope.mp4", tiny_dir, 1.0)
    with pytest.raises(UsageError):
        video_features(three_scene_video, tiny_dir, 0.0)
    with pytest.raises(UsageError):
        video_features(three_scene_video, tiny_dir, 1.0, max_frames=0)


def test_entry_is_streamed_float16_and_memory_mapped(three_scene_video, tiny_dir, monkeypatch):
    """Batches go to disk as they come (the writer never holds the features), and a hit maps the file."""
    import vtg.feature_store as store

    enc = load_encoder(tiny_dir, device="cpu")
    monkeypatch.setattr(enc, "batch_size", 4)
    sizes, real_add = [], store.EntryWriter.add

    def add(self, times, feats):
        real_add(self, times, feats)
        sizes.append(self.fh.tell())  # bytes on disk grow with every batch

    monkeypatch.setattr(store.EntryWriter, "add", add)
    first = video_features(three_scene_video, enc, 2.0)
    assert len(sizes) == 6 and sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert sizes[-1] == 128 + 24 * 16 * 2  # header + float16 [24, 16]
    again = video_features(three_scene_video, enc, 2.0)
    assert again.cached and isinstance(again.features, np.memmap) and again.features.dtype == np.float16
    assert again.times.dtype == np.float64
    np.testing.assert_array_equal(again.features, first.features)
    reference = enc.encode_images(np.concatenate([b.frames for b in vtg.video.iter_frames(
        three_scene_video, 2.0, frame_size=enc.decode_size)]))
    np.testing.assert_allclose(again.features, reference, atol=1e-3)  # float16 rounding only


def test_hit_validates_the_features_once_per_process(three_scene_video, tiny_dir, monkeypatch):
    import vtg.feature_store as store

    video_features(three_scene_video, tiny_dir, 1.0, device="cpu")
    store._VALIDATED.clear()
    calls = []
    real = np.isfinite
    monkeypatch.setattr(store.np, "isfinite", lambda a: calls.append(a.shape) or real(a))
    for _ in range(3):
        assert video_features(three_scene_video, tiny_dir, 1.0).cached
    assert [c for c in calls if len(c) == 2] == [(12, 16)]  # features read through once, then trusted


def test_old_npz_entries_are_recomputed(three_scene_video, tiny_dir):
    from vtg.features import cache_key, file_identity
    from vtg.encoders import load_encoder as load

    enc = load(tiny_dir, device="cpu")
    old_key = cache_key(file_identity(three_scene_video), enc.spec, enc.fingerprint, 1.0, None)
    folder = features_dir()
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / f"{old_key}.npz", times=np.arange(12.0), features=np.zeros((12, 16), np.float32))
    (folder / f"{old_key}.json").write_text(json.dumps({"version": 2, "key": old_key, "shape": [12, 16],
                                                         "duration": 12.0, "encoder": enc.spec}))
    fresh = video_features(three_scene_video, enc, 1.0)
    assert not fresh.cached and np.abs(np.asarray(fresh.features, np.float32)).sum() > 0
    assert video_features(three_scene_video, enc, 1.0).cached  # the new entry replaced the old one
    (folder / "old.json").write_text(json.dumps({"version": 1, "key": "old"}))
    np.savez(folder / "old.npz", times=np.zeros(1), features=np.zeros((1, 16)))
    assert {m["key"]: m["bytes"] > 0 for m in list_cached()}["old"]  # listed with its size, never a crash


def test_unwritable_midway_still_returns_features(three_scene_video, tiny_dir, monkeypatch, caplog):
    import vtg.feature_store as store

    enc = load_encoder(tiny_dir, device="cpu")
    monkeypatch.setattr(enc, "batch_size", 4)
    real_add, calls = store.EntryWriter.add, []

    def add(self, times, feats):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_add(self, times, feats)

    monkeypatch.setattr(store.EntryWriter, "add", add)
    feats = video_features(three_scene_video, enc, 2.0)
    assert not feats.cached and feats.path is None and len(feats) == 24 and feats.features.shape == (24, 16)
    np.testing.assert_array_equal(feats.times, np.sort(feats.times))
    assert "could not save features" in caplog.text
    assert not list(features_dir().glob("*.tmp")) and not list(features_dir().glob("*.json"))


def test_temporary_entries_of_killed_writers_are_removed(three_scene_video, tiny_dir, tmp_path):
    """A writer killed mid-entry (kill -9) leaves its temporary .npy behind; the next writer in that
    cache folder removes it, and only it: not a live writer's, not a fresh one (maybe another
    machine's live write on a shared folder), not a file with another name, not a symlink."""
    import os
    import subprocess
    import sys

    from vtg import feature_store

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    folder = features_dir(None)
    folder.mkdir(parents=True, exist_ok=True)
    key = "ab" * 32
    old = 10_000.0

    def leftover(name: str, age: float = old) -> "os.PathLike":
        path = folder / name
        path.write_bytes(b"\0" * 256)
        stamp = path.stat().st_mtime - age
        os.utime(path, (stamp, stamp))
        return path

    orphan = leftover(f".{key}.{dead}.7.npy.tmp")
    live = leftover(f".{key}.{os.getpid()}.7.npy.tmp")
    fresh = leftover(f".{key}.{dead}.8.npy.tmp", age=0)
    other = leftover(f".notes.{dead}.7.npy.tmp")
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep")
    link = folder / f".{'cd' * 32}.{dead}.7.npy.tmp"
    link.symlink_to(target)
    os.utime(link, (1.0, 1.0), follow_symlinks=False)

    video_features(three_scene_video, load_encoder(str(tiny_dir), device="cpu"), 1.0)  # writes an entry
    assert not orphan.exists()
    assert live.exists() and fresh.exists() and other.exists() and link.is_symlink()
    assert target.read_bytes() == b"keep"
    assert feature_store.remove_orphans(folder) == []

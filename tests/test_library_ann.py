"""The approximate index of big libraries (vtg.library.ann): when it is used, incremental updates,
crash safety, recall against the exact scan, and libraries without faiss."""

from __future__ import annotations

import builtins
import importlib
from pathlib import Path

import numpy as np
import pytest

from vtg.library import ann, open_library
from vtg.halfdot import dot_scores
from vtg.library.scan import scan
from vtg.methods.tfvtg import TFVTG
from vtg.methods.tfvtg.encoded import TFVTGQuery
from vtg.llm.types import Decomposition

search_module = importlib.import_module("vtg.library.search")  # the package exports the function under this name
faiss = pytest.importorskip("faiss")
DIM = 64


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def clustered_videos(count: int, seed: int, frames: int = 40) -> list[np.ndarray]:
    """Videos as random walks around centres grouped in topics (iid noise would make recall meaningless)."""
    rng = np.random.default_rng(seed)
    topics = unit(rng.standard_normal((20, DIM)))
    out = []
    for _ in range(count):
        centre = unit(topics[rng.integers(0, 20)] + 0.8 * unit(rng.standard_normal(DIM)))
        walk = np.cumsum(rng.standard_normal((frames, DIM)), axis=0) * (0.5 / np.sqrt(frames * DIM))
        out.append(unit(centre + walk + 0.02 * rng.standard_normal((frames, DIM))).astype(np.float32))
    return out


def add_videos(folder: Path, videos: list[np.ndarray], first: int = 0, shard_bytes: int = 64 << 10) -> None:
    with open_library(folder, create=True) as lib, \
            lib.writer(encoder="synthetic", fingerprint="0", shard_bytes=shard_bytes) as w:
        for i, feats in enumerate(videos, first):
            w.add(Path(f"/synthetic/v{i:05d}.mp4"), features=feats, times=np.arange(len(feats), dtype=np.float64),
                  duration=float(len(feats)), encoder="synthetic", fps=1.0, key=str(i), size=len(feats), mtime_ns=i)


def query(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return unit(rng.standard_normal(DIM)).astype(np.float32)


def near_query(view, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    video = view.videos[int(rng.integers(0, len(view.videos)))]
    frame = np.asarray(view.video_features(video)[int(rng.integers(0, video.frames))], np.float32)
    return unit(unit(frame) + 1.0 * unit(rng.standard_normal(DIM))).astype(np.float32)


def exact_best(view, q) -> dict[int, float]:
    return scan(view, lambda block: dot_scores(block, q, use_torch=False))[0]


def top(scores: dict[int, float], k: int) -> list[int]:
    return sorted(scores, key=lambda v: (-scores[v], v))[:k]


@pytest.fixture()
def big(tmp_path, monkeypatch):
    """A library of 300 clustered videos (12,000 frames) above a lowered size threshold."""
    monkeypatch.setattr(ann, "MIN_FRAMES", 10_000)
    folder = tmp_path / "lib"
    add_videos(folder, clustered_videos(300, seed=1))
    return folder


def segments(view) -> int:
    return sum(-(-s.rows // ann.SEGMENT) for s in view.shards)


def update(folder: Path, **kw) -> ann.UpdateReport:
    with open_library(folder) as lib, lib.exclusive():
        return ann.update(lib, **kw)


def test_index_built_and_used_above_the_threshold_only(tmp_path, big, monkeypatch):
    small = tmp_path / "small"
    add_videos(small, clustered_videos(20, seed=2))  # 800 frames
    assert update(small).action == "skipped" and ann.read_state(small) is None
    with open_library(small) as lib:
        assert search_module.approximate_index(small, lib.view()) is None

    assert update(big).action == "built"
    with open_library(big) as lib:
        view = lib.view()
        index = search_module.approximate_index(big, view)
        assert index is not None and index.state.entries == segments(view)
        calls = []
        monkeypatch.setattr(ann, "candidate_scores", lambda *a, **k: calls.append(1) or ({}, {}))
        prepared = prepared_query(query(3))
        search_module.video_scores(view, prepared, index)
        assert calls == [1]
    monkeypatch.setattr(ann, "MIN_FRAMES", 12_001)  # the same library, now below the threshold
    with open_library(big) as lib:
        assert search_module.approximate_index(big, lib.view()) is None


def prepared_query(q: np.ndarray) -> TFVTGQuery:
    return TFVTGQuery("q", q[None], Decomposition.whole("q", "rules"), "minmax",
                         lambda feats, cols: feats @ cols.T, False)


class FakeEncoder:
    spec = "synthetic"


def counting_scans(monkeypatch) -> list[int]:
    """Frames of every exact scan from now on."""
    scanned: list[int] = []
    real_scan = scan

    def counting_scan(view, score, **kw):
        best, stats = real_scan(view, score, **kw)
        scanned.append(stats.frames)
        return best, stats

    monkeypatch.setattr("vtg.library.scan.scan", counting_scan)
    return scanned


def fake_query(monkeypatch, q: np.ndarray) -> None:
    monkeypatch.setattr(search_module, "_encoder", lambda *a, **k: FakeEncoder())
    monkeypatch.setattr(TFVTG, "encode_query", lambda self, query, encoder: prepared_query(q))


def test_the_index_serves_big_libraries_by_default_and_exact_scans(big, monkeypatch):
    update(big)
    fake_query(monkeypatch, query(4))
    scanned = counting_scans(monkeypatch)
    approx = search_module.search(big, "anything", top=5, method="tfvtg", device="cpu")  # the default
    assert scanned == []  # every shard is covered by the index: nothing scanned exactly
    exact = search_module.search(big, "anything", top=5, method="tfvtg", device="cpu", approximate=False)
    assert scanned == [12_000]
    assert approx and exact and approx[0].video == exact[0].video
    assert approx[0].moments == exact[0].moments  # re-ranked exactly: the same localiser input


def test_the_cli_takes_exact_and_approximate(big, monkeypatch, capsys):
    from vtg.cli.main import main

    fake_query(monkeypatch, query(5))
    assert main(["ann-index", "--library", str(big)]) == 0
    assert "approximate index built" in capsys.readouterr().out
    scanned = counting_scans(monkeypatch)
    assert main(["search", "anything", "--library", str(big), "--top", "3", "--device", "cpu"]) == 0
    assert main(["search", "anything", "--library", str(big), "--top", "3", "--device", "cpu", "--exact"]) == 0
    monkeypatch.setattr(ann, "MIN_FRAMES", 10 ** 9)  # below the threshold: scanned unless asked
    assert main(["search", "anything", "--library", str(big), "--top", "3", "--device", "cpu"]) == 0
    assert main(["search", "anything", "--library", str(big), "--top", "3", "--device", "cpu", "--approximate"]) == 0
    assert scanned == [12_000, 12_000]
    assert "internal error" not in capsys.readouterr().err


def test_an_index_with_an_earlier_vtgs_coarse_codes_is_not_used_by_default_and_is_retrained(big, monkeypatch, capsys):
    coarse = {"m": DIM // 8}  # the first release's 8-d sub-vectors
    assert update(big, params=coarse).action == "built"
    state = ann.read_state(big)
    assert state is not None and state.params["m"] == DIM // 8 and "8 dimensions" in ann.outdated(state)
    fake_query(monkeypatch, query(6))
    monkeypatch.setattr(search_module, "_noted", set())
    scanned = counting_scans(monkeypatch)
    assert search_module.search(big, "anything", top=5, method="tfvtg", device="cpu")
    assert scanned == [12_000]
    err = capsys.readouterr().err
    assert err.count("vtg: note:") == 1 and "outdated" in err and "--rebuild" in err
    assert search_module.search(big, "anything", top=5, method="tfvtg", device="cpu", approximate=True)
    assert scanned == [12_000]  # asked for: used as it is
    again = update(big)  # the next update re-trains with this vtg's codes
    assert again.action == "rebuilt" and "8 dimensions" in again.reason
    state = ann.read_state(big)
    assert state is not None and state.params["m"] == DIM // ann.code_dims(DIM) and ann.outdated(state) == ""


def test_asking_for_an_index_a_library_lacks_scans_with_a_note(big, monkeypatch, capsys):
    fake_query(monkeypatch, query(7))
    monkeypatch.setattr(search_module, "_noted", set())
    scanned = counting_scans(monkeypatch)
    assert search_module.search(big, "anything", top=5, method="tfvtg", device="cpu", approximate=True)
    assert scanned == [12_000]
    err = capsys.readouterr().err
    assert err.count("vtg: note:") == 1 and "vtg ann-index --library" in err


def test_incremental_add_equals_a_rebuild(big, tmp_path):
    assert update(big).action == "built"
    add_videos(big, clustered_videos(50, seed=5), first=300)  # new shards after the build
    with open_library(big) as lib:
        view = lib.view()
        index = ann.open_index(big)
        assert index is not None
        covered_before = set(index.state.shards)
        best, info = ann.candidate_scores(view, query(6), index, lambda b: dot_scores(b, query(6), use_torch=False))
        assert info["scanned_shards"] == len([s for s in view.shards if s.id not in covered_before]) > 0
    done = update(big)
    assert done.action == "updated" and done.added == 2000 and done.removed == 0
    incremental = ann.open_index(big)
    with open_library(big) as lib:
        assert incremental is not None and incremental.state.entries == segments(lib.view())
    # the same trained quantisers fed every frame at once: identical lists, identical answers
    rebuilt = faiss.clone_index(incremental.index)
    rebuilt.reset()
    with open_library(big) as lib:
        view = lib.view()
        for s in view.shards:
            rebuilt.add_with_ids(*ann.segment_means(view.features[s.id], 0, s.id))
        for seed in range(5):
            q = near_query(view, seed)
            a = incremental.search(q, 200)
            incremental.index, saved = rebuilt, incremental.index
            b = incremental.search(q, 200)
            incremental.index = saved
            assert np.array_equal(np.sort(a[1]), np.sort(b[1]))
            assert ann.candidate_scores(view, q, incremental, None)[0] == \
                ann.candidate_scores(view, q, ann.AnnIndex(rebuilt, incremental.state, incremental.nprobe), None)[0]


def test_dropped_shards_leave_the_index_and_drift_asks_for_a_rebuild(big):
    add_videos(big, clustered_videos(300, seed=14), first=300)  # 24,000 frames: 16,000 left after the drop
    first = update(big)
    with open_library(big) as lib:
        victims = [v.id for v in lib.view().videos[:200]]
        lib.manifest.drop(victims)
    with open_library(big) as lib, lib.exclusive():  # the write lock collects the dead shards
        state = ann.read_state(big)
        assert state is not None
        done = ann.update(lib)
    assert done.action == "updated" and done.removed > 0 and done.entries + done.removed == first.entries
    again = update(big)  # over MAX_DEAD of its entries were removed: re-trained on what is left
    assert again.action == "rebuilt" and "removed" in again.reason and again.entries == done.entries
    index = ann.open_index(big)
    assert index is not None
    with open_library(big) as lib:
        view = lib.view()
        live = {v.id for v in view.videos}
        best, _ = ann.candidate_scores(view, near_query(view, 1), index, None)
        assert best and set(best) <= live


def test_a_crash_mid_build_leaves_the_old_index_usable(big, monkeypatch):
    update(big)
    before = ann.read_state(big)
    assert before is not None
    add_videos(big, clustered_videos(30, seed=8), first=300)

    def crash(*a, **k):
        raise KeyboardInterrupt("killed while adding")

    monkeypatch.setattr(ann, "_add_shard", crash)
    with pytest.raises(KeyboardInterrupt):
        update(big, rebuild=True)
    after = ann.read_state(big)
    assert after == before
    assert sorted(p.name for p in (big / ann.FOLDER).iterdir()) == sorted([ann.CURRENT, before.file])
    index = ann.open_index(big)
    assert index is not None and index.index.ntotal == before.entries
    with open_library(big) as lib:
        view = lib.view()
        q = near_query(view, 2)
        best, info = ann.candidate_scores(view, q, index, lambda b: dot_scores(b, q, use_torch=False))
        assert info["scanned_shards"] >= 1  # the new shard, not in the old index, is scanned exactly
        assert top(best, 5) == top(exact_best(view, q), 5)


def test_a_crash_while_writing_the_file_leaves_no_partial_index(big, monkeypatch):
    update(big)
    before = ann.read_state(big)
    add_videos(big, clustered_videos(30, seed=9), first=300)

    def half_write(index, path):
        Path(path).write_bytes(b"half an index")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(faiss, "write_index", half_write)
    with pytest.raises(OSError):
        update(big)
    assert ann.read_state(big) == before
    assert not [p for p in (big / ann.FOLDER).iterdir() if p.name.endswith(ann.TMP_SUFFIX)]
    assert ann.open_index(big) is not None


def test_recall_at_20_on_a_clustered_library(big):
    update(big)
    index = ann.open_index(big)
    assert index is not None
    with open_library(big) as lib:
        view = lib.view()
        recalls = []
        for seed in range(20):
            q = near_query(view, 100 + seed)
            approx, _ = ann.candidate_scores(view, q, index, None)
            recalls.append(len(set(top(approx, 20)) & set(top(exact_best(view, q), 20))) / 20)
    assert np.mean(recalls) >= 0.95, recalls


def test_a_library_without_faiss_still_searches(big, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_faiss(name, *args, **kwargs):
        if name == "faiss" or name.startswith("faiss."):
            raise ImportError("No module named 'faiss'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    assert ann.load_faiss() is None
    assert update(big).action == "skipped"
    fake_query(monkeypatch, query(11))
    monkeypatch.setattr(search_module, "_noted", set())
    hits = search_module.search(big, "anything", top=5, method="tfvtg", device="cpu")
    assert hits
    err = capsys.readouterr().err
    assert err.count("vtg: note:") == 1 and "vtg[ann]" in err and "internal error" not in err


def test_too_few_frames_to_train_are_skipped_and_a_shrunk_library_loses_its_index(tmp_path, big, capsys):
    from vtg.cli.main import main

    tiny = tmp_path / "tiny"
    add_videos(tiny, clustered_videos(5, seed=12))  # 200 frames: 13 segments, fewer than 16 centroids
    assert main(["ann-index", "--library", str(tiny)]) == 0
    out = capsys.readouterr()
    assert "skipped" in out.out and ann.read_state(tiny) is None and "WARNING" not in out.out + out.err
    assert update(big).action == "built" and ann.read_state(big) is not None
    with open_library(big) as lib:
        lib.manifest.drop([v.id for v in lib.view().videos[:260]])  # 40 videos, 1,600 frames left
    with open_library(big) as lib, lib.exclusive():
        done = ann.update(lib, rebuild=True)
    assert done.action == "removed" and "too few" in done.reason and ann.read_state(big) is None


def test_the_lists_have_enough_entries_to_train(tmp_path, capfd):
    assert ann.parameters(750, DIM) == {"nlist": 16, "m": DIM // 2, "nbits": 4}
    assert ann.parameters(2250, 512)["nlist"] == 32  # 57 fit: the power of two below
    assert ann.parameters(2_256_477, 512) == {"nlist": 64, "m": 256, "nbits": 4}
    assert ann.parameters(100, 513)["m"] == 513  # odd: 1-d codes
    folder = tmp_path / "lib"
    add_videos(folder, clustered_videos(60, seed=13, frames=170))  # 10,200 frames: 660 segments
    assert update(folder, min_frames=0).action == "built"
    assert "WARNING" not in capfd.readouterr().out


def test_searches_share_one_read_of_the_index_until_an_update_commits_a_new_one(big, monkeypatch):
    first = update(big)
    reads: list[str] = []
    real_read = faiss.read_index
    monkeypatch.setattr(faiss, "read_index", lambda path, *a: reads.append(Path(path).name) or real_read(path, *a))
    fake_query(monkeypatch, query(15))
    for _ in range(3):
        assert search_module.search(big, "anything", top=5, method="tfvtg", device="cpu")
    assert len(reads) <= 1  # the index this process opened first is the one kept (none read: kept earlier)
    shared = ann.open_index(big)
    assert shared is not None and shared.index is ann.open_index(big).index
    add_videos(big, clustered_videos(30, seed=16), first=300)
    done = update(big)  # modifies a private copy, commits a new file
    assert done.action == "updated" and shared.index.ntotal == first.entries < done.entries  # untouched
    reads.clear()
    after = ann.open_index(big)
    assert after is not None and after.index.ntotal == done.entries and reads == [after.state.file]
    assert search_module.search(big, "anything", top=5, method="tfvtg", device="cpu") and len(reads) == 1

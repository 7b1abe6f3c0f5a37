"""The video library: `vtg index DIR --library`, `vtg search`, on real decoding and tiny random encoders.

What is checked: the manifest has one row per video whatever happens (re-runs, removals, touches,
rewrites, corrupt files, hostile names, symlinks out of the root); search finds what ``vtg
ground`` finds on the same video and writes results that ``vtg export`` cuts.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vtg
from vtg.cli.main import main
from vtg.encoders.testing import tiny_hf_clip
from vtg.errors import DataError, UsageError
from vtg.library import open_library, ranked_rows, search
from vtg.library.manifest import path_bytes
from vtg.video import read_frames

from conftest import scene_frame, write_video

GREEN = ((30, 200, 30), 2)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tiny_hf_clip(tmp_path_factory.mktemp("library-clip"))


def scenes_video(path: Path, scenes, fps: float = 10.0) -> Path:
    """A video of (colour, seconds, pattern) scenes at 160x120."""
    def frames():
        for color, seconds, pattern in scenes:
            img = scene_frame(color, (160, 120), pattern)
            for _ in range(int(round(seconds * fps))):
                yield img

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, frames(), fps)


@pytest.fixture
def folder(tmp_path):
    """Three small videos: one with a green middle scene, two without any green."""
    root = tmp_path / "footage"
    scenes_video(root / "three.mp4", [((200, 30, 30), 4.0, 1), ((30, 200, 30), 4.0, 2), ((30, 30, 200), 4.0, 0)])
    scenes_video(root / "sub" / "blue.mp4", [((30, 30, 200), 6.0, 0), ((200, 200, 30), 3.0, 1)])
    scenes_video(root / "sub" / "grey.mp4", [((120, 120, 120), 5.0, 0)])
    return root


def index(lib_path, roots, clip_dir, **kw):
    with open_library(lib_path, create=True) as lib:
        return lib.index([Path(r) for r in roots], encoder=str(clip_dir), device="cpu", method="tfvtg", **kw)


def rows(lib_path):
    with open_library(lib_path) as lib:
        return {r.path.name: r for r in lib.videos()}


def green_png(tmp_path) -> Path:
    png = tmp_path / "green.png"
    Image.fromarray(scene_frame(*GREEN[:1], (160, 120), GREEN[1])).save(png)
    return png


def test_index_then_search_by_image_finds_the_scene_and_matches_ground(folder, clip_dir, tmp_path):
    lib_path = tmp_path / "lib"
    summary = index(lib_path, [folder], clip_dir)
    assert (summary.indexed, summary.errors, summary.dropped) == (3, 0, 0)
    png = green_png(tmp_path)
    hits = search(lib_path, image=png, top=5, device="cpu")
    assert sum(len(g.moments) for g in hits) <= 5
    best = hits[0]
    assert Path(best.video) == (folder / "three.mp4").resolve()
    top = best.moments[0]
    assert top.start <= 4.5 and top.end >= 7.5                       # the green scene is 4-8 s
    for g in hits:                                                   # moments ranked within a video,
        assert [m.score for m in g.moments] == sorted((m.score for m in g.moments), reverse=True)
    firsts = [g.moments[0].score for g in hits]                     # videos by their best moment
    assert firsts == sorted(firsts, reverse=True)
    rows = ranked_rows(hits)                                        # and across videos by score
    assert [r[3] for r in rows] == sorted((r[3] for r in rows), reverse=True) and len(rows) <= 5
    assert all(len(g.moments) <= 3 for g in hits)                   # at most --per-video each
    one_each = search(lib_path, image=png, top=10, per_video=1, device="cpu")
    assert len(one_each) == 3 and all(len(g.moments) == 1 for g in one_each)
    assert one_each[0].moments[0] == best.moments[0]
    # the same localiser as `vtg ground` on the same (cached) features, up to float16 storage
    ground = vtg.ground(folder / "three.mp4", image=png, encoder=str(clip_dir), device="cpu", top_k=10)
    assert ground.meta["features_cached"] is True
    assert top.iou(ground.moments[0]) > 0.9
    assert best.meta["video_id"] >= 1 and best.meta["library"] == str(lib_path)
    assert 4.0 <= best.meta["peak_time"] <= 8.0
    assert len(best.saliency.times) == best.meta["frames"] == ground.meta["frames"]


def test_text_search_cli_writes_what_export_cuts(folder, clip_dir, tmp_path, capsys):
    lib = tmp_path / "lib"
    assert main(["index", str(folder), "--library", str(lib), "--encoder", str(clip_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.count(": indexed:") == 3 and "3 videos searchable" in out
    hits = tmp_path / "hits.jsonl"
    code = main(["search", "a person opens the door", "--library", str(lib), "--top", "4", "--device", "cpu",
                 "-o", str(hits)])
    assert code == 0
    results = [json.loads(line) for line in hits.read_text().splitlines()]
    assert 1 <= sum(len(r["pred_relevant_windows"]) for r in results) <= 4
    assert all(Path(r["video"]).is_absolute() and r["query"] == "a person opens the door" for r in results)
    assert main(["export", str(hits), "--out-dir", str(tmp_path / "clips"), "--top-k", "2"]) == 0
    clips = capsys.readouterr().out.split()
    assert clips and all(Path(c).is_file() and Path(c).stat().st_size > 0 for c in clips)
    assert main(["search", "door", "--library", str(lib), "--format", "csv", "--device", "cpu"]) == 0
    assert capsys.readouterr().out.startswith("qid,video,query,rank,start,end,score,method")


def test_search_table_is_one_ranking_across_videos(folder, clip_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    lib = tmp_path / "lib"
    index(lib, [folder], clip_dir)
    assert main(["search", "a green scene", "--library", str(lib), "--top", "9", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.count("┏") == 1 and "in library" in out                     # one table, not one per video
    rows = [line.split("│") for line in out.splitlines() if line.startswith("│")]
    videos = {cells[2].strip() for cells in rows}
    assert len(rows) >= 3 and len(videos) >= 2                             # the video named on each row
    assert videos <= {"three.mp4", "blue.mp4", "grey.mp4"}
    scores = [float(cells[6]) for cells in rows]
    assert scores == sorted(scores, reverse=True) and [int(c[1]) for c in rows] == list(range(1, len(rows) + 1))
    assert "score (search, tfvtg): the moment's confidence inside its own video" in out
    assert "1 = the best window." not in out                                # not ground's legend


def test_rerun_is_incremental_drop_touch_and_modify(folder, clip_dir, tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    index(lib, [folder], clip_dir)
    before = rows(lib)
    import vtg.features

    computed = []
    real = vtg.features.video_features
    monkeypatch.setattr(vtg.features, "video_features", lambda path, *a, **k: computed.append(Path(path).name)
                        or real(path, *a, **k))
    again = index(lib, [folder], clip_dir)
    assert (again.unchanged, again.indexed, computed) == (3, 0, [])

    (folder / "sub" / "grey.mp4").unlink()
    os.utime(folder / "sub" / "blue.mp4", ns=(1, 10**18))   # touched: new mtime, same content
    scenes_video(folder / "three.mp4", [((30, 200, 30), 3.0, 2), ((200, 30, 30), 3.0, 1)])  # rewritten
    third = index(lib, [folder], clip_dir)
    assert (third.dropped, third.touched, third.indexed, third.unchanged) == (1, 1, 1, 0)
    assert third.compacted == 1                 # the first shard kept blue.mp4 only: rewritten
    assert computed == ["three.mp4"]
    after = rows(lib)
    assert set(after) == {"three.mp4", "blue.mp4"}
    assert after["three.mp4"].id == before["three.mp4"].id          # links stay valid
    assert after["three.mp4"].key != before["three.mp4"].key
    assert after["three.mp4"].duration == pytest.approx(6.0, abs=0.2)
    assert after["blue.mp4"].mtime_ns == 10**18 and after["blue.mp4"].key == before["blue.mp4"].key
    with open_library(lib) as opened:                                # the old shards are gone
        names = {s.name for s in opened.manifest.shards()}
        on_disk = {p.name.split(".")[0] for p in opened.shard_folder.iterdir()}
        assert on_disk == names
        view = opened.view()                    # no dead rows left for a scan to read
        assert sum(s.rows for s in view.shards) == sum(v.frames for v in view.videos)
        assert opened.video_path(after["blue.mp4"].id) == (folder / "sub" / "blue.mp4").resolve()
    hits = search(lib, image=green_png(tmp_path), top=3, device="cpu")
    assert {Path(g.video).name for g in hits} <= {"three.mp4", "blue.mp4"}


def test_hostile_names_are_indexed_and_kept_exactly(tmp_path, clip_dir, three_scene_video, capsys):
    root = tmp_path / "root"
    root.mkdir()
    names = [b"line\nbreak.mp4", b"-rf --help.mp4", b"caf\xc3\xa9 [x] 'q'.MP4", b"bad\xffbyte.mkv", b"$(touch pwn).mp4"]
    for name in names:
        shutil.copyfile(three_scene_video, os.path.join(os.fsencode(root), name))
    lib = tmp_path / "lib"
    assert main(["index", str(root), "--library", str(lib), "--encoder", str(clip_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(names) + 1                                # one line per video, then the summary
    with open_library(lib) as opened:
        stored = sorted(path_bytes(r.path) for r in opened.videos() if r.status == "ok")
    assert stored == sorted(os.path.join(os.fsencode(root.resolve()), n) for n in names)
    assert not (tmp_path / "pwn").exists() and not Path("pwn").exists()
    assert main(["index", str(root), "--library", str(lib), "--encoder", str(clip_dir), "--json"]) == 0
    reported = [json.loads(line)["video"] for line in capsys.readouterr().out.splitlines()[:-1]]
    assert sorted(os.fsencode(v) for v in reported) == stored      # JSON keeps the exact names
    assert main(["search", "red", "--library", str(lib), "--top", "10", "--json", "--device", "cpu"]) == 0
    json.loads(capsys.readouterr().out)


def test_symlinks_out_of_the_root_are_not_followed(tmp_path, clip_dir, three_scene_video, capsys):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "inner").mkdir(parents=True)
    outside.mkdir()
    shutil.copyfile(three_scene_video, outside / "secret.mp4")
    shutil.copyfile(three_scene_video, root / "inner" / "own.mp4")
    (root / "leak.mp4").symlink_to(outside / "secret.mp4")
    (root / "leakdir").symlink_to(outside, target_is_directory=True)
    (root / "alias.mp4").symlink_to(root / "inner" / "own.mp4")   # inside: same video, indexed once
    (root / "loop.mp4").symlink_to(root / "loop.mp4")
    lib = tmp_path / "lib"
    code = main(["index", str(root), "--library", str(lib), "--encoder", str(clip_dir), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0
    assert "leak.mp4: skipped: symbolic link to" in err and "outside" in err and "loop.mp4: skipped" in err
    found = rows(lib)
    assert list(found) == ["own.mp4"] and found["own.mp4"].path == (root / "inner" / "own.mp4").resolve()


def test_a_corrupt_video_gets_an_error_row_and_the_rest_is_indexed(folder, clip_dir, tmp_path, capsys):
    (folder / "junk.mp4").write_bytes(b"not a video at all")
    data = (folder / "three.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[:len(data) // 3])
    (folder / "empty.webm").write_bytes(b"")
    lib = tmp_path / "lib"
    code = main(["index", str(folder), "--library", str(lib), "--encoder", str(clip_dir), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 1 and "vtg: error: 3 videos could not be indexed" in captured.err
    found = rows(lib)
    assert {n for n, r in found.items() if r.status == "ok"} == {"three.mp4", "blue.mp4", "grey.mp4"}
    errors = {n: r for n, r in found.items() if r.status == "error"}
    assert set(errors) == {"junk.mp4", "truncated.mp4", "empty.webm"}
    assert "not a video" in errors["junk.mp4"].error and "empty" in errors["empty.webm"].error
    assert all(r.error and r.duration is None and r.frames == 0 for r in errors.values())
    (folder / "junk.mp4").unlink()                                  # fixed by removing it: the row goes
    index(lib, [folder], clip_dir)
    assert "junk.mp4" not in rows(lib)
    assert search(lib, "red", device="cpu")


def test_only_rows_under_the_walked_roots_are_dropped(tmp_path, clip_dir, three_scene_video):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        root.mkdir()
        shutil.copyfile(three_scene_video, root / "v.mp4")
    lib = tmp_path / "lib"
    index(lib, [a], clip_dir)
    index(lib, [b], clip_dir)
    assert sorted(str(r.path.parent.name) for r in rows_list(lib)) == ["a", "b"]


def rows_list(lib_path):
    with open_library(lib_path) as lib:
        return lib.videos()


def test_a_crash_before_registering_leaves_no_torn_shard(folder, clip_dir, tmp_path, monkeypatch):
    from vtg.library.manifest import Manifest

    lib = tmp_path / "lib"

    def crash(self, *a, **k):
        raise KeyboardInterrupt  # the process dies after the shard was renamed, before the commit

    monkeypatch.setattr(Manifest, "register_shard", crash)
    with pytest.raises(KeyboardInterrupt):
        index(lib, [folder], clip_dir)
    monkeypatch.undo()
    with open_library(lib) as opened:
        assert opened.videos() == [] and opened.manifest.shards() == []
        leftover = sorted(p.name for p in opened.shard_folder.iterdir())
        assert leftover                                            # the renamed but unregistered shard
        torn = opened.shard_folder / ("0" * 32 + ".npy.tmp")
        torn.write_bytes(b"\x93NUMPY half a header")                # and a torn temporary file
    summary = index(lib, [folder], clip_dir, shard_bytes=1)
    assert summary.indexed == 3
    with open_library(lib) as opened:
        names = {s.name for s in opened.manifest.shards()}
        assert len(names) == 3
        assert {p.name.split(".")[0] for p in opened.shard_folder.iterdir()} == names


def test_a_damaged_shard_is_a_one_line_error(folder, clip_dir, tmp_path, capsys):
    lib = tmp_path / "lib"
    index(lib, [folder], clip_dir)
    with open_library(lib) as opened:
        shard = opened.manifest.shards()[0]
        path = opened.shard_folder / f"{shard.name}.npy"
    path.write_bytes(path.read_bytes()[:200])
    code = main(["search", "red", "--library", str(lib), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("vtg: error: library shard") and "internal error" not in err
    summary = index(lib, [folder], clip_dir)                        # as the message says: index again
    assert summary.indexed == 3 and search(lib, "red", device="cpu")


def test_usage_errors(folder, clip_dir, tmp_path, capsys, three_scene_video):
    lib = tmp_path / "lib"
    index(lib, [folder], clip_dir)
    with pytest.raises(UsageError, match="cannot search a library"):
        search(lib, "red", method="numpro")
    with pytest.raises(UsageError, match="was built with"):
        search(lib, "red", encoder="ViT-B-32/openai")
    with pytest.raises(UsageError, match="top must be"):
        search(lib, "red", top=0)
    with pytest.raises(UsageError, match="holds features of"):
        _index_with_spec(lib, folder, "ViT-B-32/openai")
    for argv, needle in [
        (["search", "red", "--library", "nope"], "no library 'nope'"),
        (["search", "red", "--library", "bad name!"], "library name"),
        (["search", "--library", str(lib)], "query is empty"),
        (["index", str(three_scene_video), "--library", str(lib)], "takes folders"),
        (["index", str(tmp_path / "missing"), "--library", str(lib)], "does not exist"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("vtg: error:") and needle in err, (argv, err)
    not_a_library = tmp_path / "stuff"
    not_a_library.mkdir()
    (not_a_library / "mine.txt").write_text("user data")
    with pytest.raises(UsageError, match="not a vtg library"):
        open_library(not_a_library, create=True)


def _index_with_spec(lib, folder, spec):
    with open_library(lib) as opened:
        return opened.index([folder], encoder=spec, device="cpu", refresh=True, method="tfvtg")


def test_one_writer_at_a_time(tmp_path):
    with open_library(tmp_path / "lib", create=True) as lib, lib.exclusive():
        with open_library(tmp_path / "lib") as other:
            with pytest.raises(UsageError, match="being indexed by another process"):
                with other.exclusive():
                    pass


def test_plain_names_live_under_the_cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("VTG_CACHE_DIR", str(tmp_path / "cache"))
    with open_library("clips", create=True) as lib:
        assert lib.folder == tmp_path / "cache" / "libraries" / "clips"
        assert lib.videos() == [] and search(lib, "anything") == []


def test_empty_search_reports_on_stderr(tmp_path, capsys):
    open_library(tmp_path / "lib", create=True).close()
    assert main(["search", "red", "--library", str(tmp_path / "lib"), "--json"]) == 0
    captured = capsys.readouterr()
    assert "no moment found" in captured.err and json.loads(captured.out) == []
    assert "does not record the method" not in captured.err  # a new, empty library is not an old one


def test_sampled_frames_match_the_stored_times(folder, clip_dir, tmp_path):
    lib = tmp_path / "lib"
    index(lib, [folder], clip_dir)
    with open_library(lib) as opened:
        view = opened.view()
        for v in view.videos:
            expected = read_frames(v.path, fps=v.fps).times
            np.testing.assert_allclose(view.video_times(v), expected)
            assert view.video_features(v).dtype == np.float16 and len(view.video_features(v)) == v.frames


def test_damaged_manifest_is_a_data_error(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "manifest.sqlite").write_bytes(b"garbage " * 100)
    with pytest.raises(DataError, match="cannot be opened"):
        open_library(folder)


def test_blip2_token_features_and_a_decomposed_query(tmp_path, three_scene_video):
    from vtg.encoders.testing import tiny_blip2

    model = tiny_blip2(tmp_path / "blip2", num_query_tokens=4)
    root = tmp_path / "root"
    root.mkdir()
    shutil.copyfile(three_scene_video, root / "three.mp4")
    lib = tmp_path / "lib"
    index(lib, [root], model)
    query = "a person opens the door then walks down"
    hits = search(lib, query, top=10, device="cpu", calibration="minmax")
    with open_library(lib) as opened:
        assert opened.manifest.shards()[0].shape[0] == 4                  # [frames, query tokens, dim]
    ground = vtg.ground(root / "three.mp4", query, encoder=str(model), device="cpu", calibration="minmax", top_k=10)
    assert hits and hits[0].meta["decomposition"] == ground.meta["decomposition"]
    scale = (1 + hits[0].meta["relevance"]) / 2
    got = [(m.start, m.end, m.score / scale) for m in hits[0].moments]
    want = [(m.start, m.end, m.score) for m in ground.moments][:len(got)]
    assert len(got) == len(want)
    assert got[0][:2] == pytest.approx(want[0][:2], abs=0.5)


def test_index_json_lines_and_video_lookup(folder, clip_dir, tmp_path, capsys):
    lib = tmp_path / "lib"
    argv = ["index", str(folder), "--library", str(lib), "--encoder", str(clip_dir), "--device", "cpu", "--json"]
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["status"] for x in lines[:-1]] == ["indexed"] * 3
    assert lines[-1]["indexed"] == 3 and lines[-1]["videos"] == 3 and lines[-1]["folder"] == str(lib)
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["status"] for x in lines[:-1]] == ["unchanged"] * 3 and lines[-1]["frames"] == 0
    with open_library(lib) as opened:
        ids = [r.id for r in opened.videos()]
        assert all(opened.video_path(i).is_file() for i in ids)
        with pytest.raises(UsageError, match="has no video"):
            opened.video_path(max(ids) + 1)


def test_a_sentence_search_loads_only_the_text_tower(folder, clip_dir, tmp_path):
    from vtg.engine import default_manager

    lib = tmp_path / "lib"
    index(lib, [folder], clip_dir)
    manager = default_manager()
    manager.release("encoder")
    assert search(lib, "red", device="cpu")
    assert [key[-1] for _, key in manager.loaded("encoder")] == ["text"]
    assert search(lib, image=green_png(tmp_path), device="cpu")          # an image needs the image tower
    assert [key[-1] for _, key in manager.loaded("encoder")] == ["full"]


def test_a_library_from_before_methods_were_recorded_searches_as_then(folder, clip_dir, tmp_path, capsys):
    """A library built by an older vtg records no indexing method; `vtg search` keeps searching it
    with the method every search used then (said on stderr) instead of asking for --method."""
    import sqlite3

    from vtg.cli.search import LEGACY_LIBRARY_METHOD
    from vtg.library.manifest import METHOD_SETTING

    lib = tmp_path / "old"
    index(lib, [folder], clip_dir)
    with sqlite3.connect(lib / "manifest.sqlite") as db:
        db.execute("DELETE FROM settings WHERE key = ?", (METHOD_SETTING,))
    capsys.readouterr()
    assert main(["search", "a person opens the door", "--library", str(lib), "--device", "cpu", "--json"]) == 0
    captured = capsys.readouterr()
    assert f"searching with {LEGACY_LIBRARY_METHOD}" in captured.err and "internal error" not in captured.err
    results = json.loads(captured.out)
    assert results and all(r["method"] == LEGACY_LIBRARY_METHOD for r in results)

"""vtg batch: input parsing, the crash-safe journal, the local engine, resume, errors, the CLI.

The method is ``colour-test`` (tests/batch_helpers.py): real decoding through vtg.video and the
real feature cache, with a colour "encoder", so results are known exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vtg.batch import Journal, read_items, run_batch
from vtg.batch.inputs import line_qid
from vtg.cli.main import main
from vtg.errors import DataError, UsageError

RED, GREEN, BLUE = (200, 30, 30), (30, 200, 30), (30, 30, 200)


@pytest.fixture
def colour_method(monkeypatch, tmp_path):
    """Registers colour-test and returns the decode log (one line per real decode + encode)."""
    import batch_helpers

    monkeypatch.setitem(__import__("vtg.registry", fromlist=["RUNTIME_METHODS"]).RUNTIME_METHODS, "colour-test",
                        "batch_helpers:ColourMethod")
    log = tmp_path / "decodes.log"
    monkeypatch.setenv("VTG_TEST_DECODE_LOG", str(log))
    assert batch_helpers.ColourMethod.name == "colour-test"
    return log


@pytest.fixture
def videos(make_video):
    """Two 6 s videos: a = red, green, blue (2 s each); b = blue, red, green."""
    size = (64, 48)
    a = make_video("a.mp4", [(RED, 2, 0), (GREEN, 2, 0), (BLUE, 2, 0)], size=size)
    b = make_video("b.mp4", [(BLUE, 2, 0), (RED, 2, 0), (GREEN, 2, 0)], size=size)
    return a, b


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines))
    return path


def read_records(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text().splitlines()]


def six_queries(a: Path, b: Path) -> list[dict]:
    return [{"video": str(v), "query": f"the {c} part", "qid": f"{v.stem}-{c}"}
            for v in (a, b) for c in ("red", "green", "blue")]


# --- inputs -------------------------------------------------------------------------------------

def test_qids_are_stable_and_bad_lines_become_error_items(tmp_path):
    src = write_lines(tmp_path / "in.jsonl", [
        {"video": "x.mp4", "query": "a"},
        "",
        "{not json",
        {"video": "x.mp4", "query": "b", "qid": 5},
        {"video": "y.mp4", "query": "c", "qid": "5"},
        {"video": "x.mp4", "query": "   "},
        {"query": "no video"},
        [1, 2],
    ])
    items = read_items(src)
    assert [i.line for i in items] == [1, 3, 4, 5, 6, 7, 8]  # blank line 2 is not an input
    assert items[0].qid == line_qid(1, json.dumps({"video": "x.mp4", "query": "a"}))
    assert read_items(src)[0].qid == items[0].qid
    assert items[0].error is None and items[0].method == "tfvtg"
    assert "malformed JSON on line 3" in items[1].error
    assert items[2].qid == 5 and items[2].error is None
    assert "duplicate qid" in items[3].error and items[3].key != items[2].key
    assert "empty query" in items[4].error
    assert "no 'video'" in items[5].error
    assert "not a JSON object" in items[6].error
    assert len({i.key for i in items}) == len(items)


def test_annotation_lines_map_vid_to_files(tmp_path):
    vdir = tmp_path / "videos"
    vdir.mkdir()
    for name in ("3MSZA.mp4", "uqiMw7tQ1Cc.mkv", "notes.txt"):
        (vdir / name).write_bytes(b"x")
    src = write_lines(tmp_path / "ann.jsonl", [
        {"qid": 12404, "query": "person turn a light on.", "duration": 30.96, "vid": "3MSZA", "relevant_windows": [[24.3, 30.4]]},
        {"qid": 37421, "query": "A weight lifting tutorial.", "duration": 55.15, "vid": "v_uqiMw7tQ1Cc", "relevant_windows": [[0.28, 55.15]]},
        {"qid": 3, "query": "missing", "vid": "notes"},
    ])
    items = read_items(src, method="colour-test", options={"fps": 1}, video_dir=vdir)
    assert items[0].video == vdir / "3MSZA.mp4" and items[0].qid == 12404 and items[0].text == "person turn a light on."
    assert items[1].video == vdir / "uqiMw7tQ1Cc.mkv"
    assert "no video file for vid 'notes'" in items[2].error
    assert items[0].method == "colour-test" and items[0].options == {"fps": 1}
    assert "no --video-dir" in read_items(src)[0].error


def test_real_annotation_file_is_accepted(shared_data, tmp_path):
    ann = shared_data / "charades-sta" / "charades_test_release.jsonl"
    head = write_lines(tmp_path / "head.jsonl", ann.read_text().splitlines()[:20])
    vdir = tmp_path / "v"
    vdir.mkdir()
    first = json.loads(ann.read_text().splitlines()[0])
    (vdir / f"{first['vid']}.mp4").write_bytes(b"x")
    items = read_items(head, video_dir=vdir)
    assert len(items) == 20 and items[0].qid == first["qid"] and items[0].error is None
    assert all(i.error is None or "no video file" in i.error for i in items)


# --- journal ------------------------------------------------------------------------------------

def vtg_record(qid, status="ok", **extra) -> dict:
    """A record in the form vtg batch writes (marker first, settings, error kind)."""
    error = {"error": "DataError: x", "error_kind": "input"} if status == "error" else {}
    return {"vtg_batch": 1, "qid": qid, "line": 1, "status": status, **error, "settings": {}, **extra}


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_journal_truncates_a_torn_last_line_and_resumes(tmp_path):
    out = tmp_path / "out.jsonl"
    torn = b'{"vtg_batch": 1, "qid": 3, "sta'
    out.write_bytes(jsonl(vtg_record(1), vtg_record(2, "error")).encode() + torn)
    with Journal(out) as j:
        assert j.truncated_bytes == len(torn)
        assert j.done("1") and j.done("2") and not j.done("3")
        j.append(vtg_record(3, text="line\nbreak"))
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b"" and [json.loads(l)["qid"] for l in lines[:-1]] == [1, 2, 3]


def test_journal_refuses_damage_mid_file_and_a_second_writer(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(jsonl(vtg_record(1)) + 'garbage\n' + jsonl(vtg_record(2)))
    with pytest.raises(DataError, match="line 2"):
        Journal(bad).open()
    out = tmp_path / "out.jsonl"
    with Journal(out):
        with pytest.raises(UsageError, match="another vtg batch"):
            Journal(out).open()
    with Journal(out):  # released on close
        pass


def test_journal_retry_drops_error_records_atomically(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(jsonl(vtg_record(1), vtg_record(2, "error")))
    with Journal(out).open(drop_errors=True) as j:
        assert j.done("1") and not j.done("2")
    assert read_records(out) == [vtg_record(1)]


# --- local engine -------------------------------------------------------------------------------

def test_local_batch_results_errors_and_one_decode_per_video(tmp_path, videos, colour_method):
    from PIL import Image

    a, b = videos
    Image.new("RGB", (8, 8), RED).save(tmp_path / "example.png")
    src = write_lines(tmp_path / "in.jsonl", six_queries(a, b) + [
        {"video": str(tmp_path / "missing.mp4"), "query": "red", "qid": "m"},
        "{broken",
        {"video": str(a), "query": "red", "qid": "bad-option", "options": {"nope": 1}},
        {"video": str(a), "query": "red", "qid": "bad-method", "method": "no-such-method"},
        {"video": str(b), "image": str(tmp_path / "example.png"), "qid": "img"},
    ])
    out = tmp_path / "out.jsonl"
    summary = run_batch(src, out, method="colour-test")
    records = {str(r["qid"]): r for r in read_records(out)}
    assert len(records) == summary.lines == 11
    assert (summary.ok, summary.errors, summary.failed) == (6, 5, 5)
    assert "cannot take an image query" in records["img"]["error"]
    assert records["img"]["query"].endswith("example.png") and records["img"]["video"] == str(b)
    ok = {q: r for q, r in records.items() if r["status"] == "ok"}
    assert ok["a-red"]["pred_relevant_windows"][0][:2] == [0.0, 2.0]
    assert ok["a-green"]["pred_relevant_windows"][0][:2] == [2.0, 4.0]
    assert ok["b-blue"]["pred_relevant_windows"][0][:2] == [0.0, 2.0]
    assert ok["b-red"]["vid"] == "b" and ok["b-red"]["method"] == "colour-test" and ok["b-red"]["line"] == 4
    assert "VideoNotFoundError" in records["m"]["error"]
    assert "malformed JSON" in records[line_qid(8, "{broken")]["error"]
    assert "no option 'nope'" in records["bad-option"]["error"]
    assert "unknown method 'no-such-method'" in records["bad-method"]["error"]
    # 3 queries per video, each video decoded and encoded exactly once
    assert sorted(colour_method.read_text().split()) == ["a.mp4", "b.mp4"]


def test_rerun_skips_done_lines_and_retry_errors_reruns_failures(tmp_path, videos, colour_method):
    a, b = videos
    lines = six_queries(a, b) + [{"video": str(tmp_path / "late.mp4"), "query": "red", "qid": "late"}]
    src = write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    first = run_batch(src, out, method="colour-test")
    assert (first.ok, first.errors) == (6, 1)
    again = run_batch(src, out, method="colour-test")
    assert (again.skipped, again.ran, again.failed) == (7, 0, 1)
    (tmp_path / "late.mp4").write_bytes(a.read_bytes())
    retried = run_batch(src, out, method="colour-test", retry_errors=True)
    assert (retried.skipped, retried.ok, retried.failed) == (6, 1, 0)
    qids = [r["qid"] for r in read_records(out)]
    assert sorted(qids) == sorted(l["qid"] for l in lines)


def test_workers_prefetch_gives_the_same_records(tmp_path, videos, colour_method, make_video):
    a, b = videos
    c = make_video("c.mp4", [(GREEN, 2, 0), (BLUE, 2, 0)], size=(64, 48))
    lines = six_queries(a, b) + [{"video": str(c), "query": "blue", "qid": "c-blue"}]
    src = write_lines(tmp_path / "in.jsonl", lines)
    run_batch(src, tmp_path / "one.jsonl", method="colour-test", workers=1)
    run_batch(src, tmp_path / "three.jsonl", method="colour-test", workers=3, top_k=1)
    one = {r["qid"]: r for r in read_records(tmp_path / "one.jsonl")}
    three = {r["qid"]: r for r in read_records(tmp_path / "three.jsonl")}
    assert one.keys() == three.keys()
    for q in one:
        assert three[q]["pred_relevant_windows"] == one[q]["pred_relevant_windows"][:1]
        assert three[q]["saliency_scores"] == one[q]["saliency_scores"]
    assert sorted(colour_method.read_text().split()) == ["a.mp4", "b.mp4", "c.mp4"]


def test_cli_exit_code_summary_and_options(tmp_path, videos, colour_method, capsys):
    a, b = videos
    src = write_lines(tmp_path / "in.jsonl", six_queries(a, b))
    out = tmp_path / "out.jsonl"
    code = main(["batch", str(src), "-o", str(out), "-m", "colour-test", "-O", "fps=4", "-k", "1", "--no-fsync"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "6 lines: 6 done, 0 failed" in err
    records = read_records(out)
    assert all(r["meta"]["fps"] == 4.0 and len(r["pred_relevant_windows"]) == 1 for r in records)
    write_lines(src, six_queries(a, b) + ["{oops"])
    code = main(["batch", str(src), "-o", str(out), "-m", "colour-test", "-O", "fps=4", "-k", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "1 of 7 lines failed" in err and "6 already in the output" in err
    assert len(read_records(out)) == 7


def test_ray_engine_missing_is_a_dependency_error(tmp_path, videos, colour_method, monkeypatch):
    import sys

    from vtg.errors import DependencyError

    monkeypatch.setitem(sys.modules, "ray", None)
    src = write_lines(tmp_path / "in.jsonl", six_queries(*videos)[:1])
    with pytest.raises(DependencyError, match=r"vtg\[ray\]"):
        run_batch(src, tmp_path / "out.jsonl", method="colour-test", engine="ray")
    with pytest.raises(UsageError, match="unknown engine"):
        run_batch(src, tmp_path / "out.jsonl", engine="spark")


@pytest.mark.slow
def test_real_tfvtg_with_a_tiny_clip_encoder(tmp_path, videos):
    """The default method end to end: one feature-cache entry per video, QVHighlights-style records."""
    from vtg.encoders.testing import tiny_hf_clip
    from vtg.features import list_cached

    a, b = videos
    encoder = str(tiny_hf_clip(tmp_path / "tiny-clip"))
    src = write_lines(tmp_path / "in.jsonl", [{"video": str(v), "query": q} for v in (a, b)
                                              for q in ("a person opens the door", "a red car")])
    out = tmp_path / "out.jsonl"
    summary = run_batch(src, out, options={"encoder": encoder, "device": "cpu"}, workers=2, top_k=3)
    records = read_records(out)
    assert (summary.ok, summary.failed) == (4, 0), records
    assert len(list_cached()) == 2  # each video decoded and encoded once
    for r in records:
        assert r["method"] == "tfvtg" and r["status"] == "ok" and 0 < len(r["pred_relevant_windows"]) <= 3
        assert r["duration"] == pytest.approx(6.0, abs=0.1) and len(r["pred_saliency_scores"]) == 3


def test_recorder_writes_each_qid_once_and_turns_unwritable_records_into_errors(tmp_path):
    from vtg.batch.runner import BatchSummary, Recorder, progress_bar

    summary = BatchSummary(lines=3)
    with Journal(tmp_path / "out.jsonl") as journal:
        sink = Recorder(journal, summary, progress_bar(3, False))
        sink({"qid": 1, "status": "ok", "line": 1})
        sink({"qid": "1", "status": "ok", "line": 1})  # replayed (e.g. a retried Ray task)
        sink({"qid": 2, "status": "ok", "line": 2, "meta": {"x": float("nan")}})
    records = read_records(tmp_path / "out.jsonl")
    assert [r["qid"] for r in records] == [1, 2]
    assert records[1]["status"] == "error" and "ValueError" in records[1]["error"]
    assert (summary.ok, summary.errors) == (1, 1)


def test_results_find_their_videos_in_a_video_dir(tmp_path):
    """Export and report share one lookup: file name, then vid (ActivityNet's v_ too), then the path."""
    from vtg.batch.inputs import find_result_video

    vdir = tmp_path / "videos"
    vdir.mkdir()
    (vdir / "abc.mkv").write_bytes(b"x")
    assert find_result_video("/elsewhere/abc.mp4", "v_abc", vdir) == vdir / "abc.mkv"
    assert find_result_video("/elsewhere/new.mp4", "new", vdir) is None
    import os
    import time

    (vdir / "new.mp4").write_bytes(b"x")  # a file added later is found: the index follows the folder
    os.utime(vdir, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert find_result_video("/elsewhere/new.mp4", "new", vdir) == vdir / "new.mp4"
    own = tmp_path / "own.mp4"
    own.write_bytes(b"x")
    assert find_result_video(own, "own", None) == own

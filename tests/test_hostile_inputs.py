"""Hostile input through every entry point: file names, JSONL lines, checkpoints, caches, LLM answers.

The project's rule: bad input gets a clear error and nothing is lost. Each test feeds something a
careless or malicious user (or model) could produce and checks for a one-line vtg error, an error
record, or a correct result - never a traceback, never a file outside the chosen folder, never
code run from a checkpoint, never minutes of regex backtracking.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from vtg.cli.main import main
from vtg.errors import CheckpointError, DataError, VideoError, VideoNotFoundError
from vtg.types import Grounding, Moment, Saliency

ROOT = Path(__file__).resolve().parents[1]
RED = (200, 30, 30)
HOSTILE_NAMES = ["-y.mp4", "-i.mp4", "a b'c\"d.mp4", "ünï 名字.mp4", "new\nline.mp4", "concat:x.mp4"]


def result(query="person <b>opens</b> the door", video="v.mp4", qid=None, moments=((1.0, 2.0, 0.9),)):
    times = np.arange(0, 4, 0.5)
    return Grounding(query, video, 4.0, tuple(Moment(*m) for m in moments), Saliency(times, np.linspace(0, 1, 8)),
                     "test", {}, qid)


def one_line_error(capsys, code: int) -> str:
    """The CLI failed with exit code ``code`` and exactly one ``vtg: error:`` line, no traceback."""
    err = capsys.readouterr().err
    assert code != 0, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("vtg: error:")]
    assert len(lines) == 1, err
    return lines[0]


# --- writers and HTML: text that looks like markup, newlines, commas -------------------------


def test_table_writer_prints_rich_markup_as_text():
    from vtg.writers import render

    text = render([result(query="[/bold] [link=file:///etc/passwd]x[/link]", video="[red]clip.mp4")], "table")
    assert "[/bold]" in text and "[link=file:///etc/passwd]x[/link]" in text


def test_srt_cues_stay_one_line_and_csv_round_trips():
    from vtg.writers import render

    query = 'red\n\n2\n00:00:00,000 --> 00:00:09,000\nfake, "cue"'
    srt = render([result(query=query)], "srt")
    cues = [c for c in srt.split("\n\n") if c.strip()]
    assert len(cues) == 1 and len(cues[0].splitlines()) == 3
    rows = list(csv.reader(io.StringIO(render([result(query=query)], "csv"))))
    assert rows[1][2] == query and len(rows) == 2


def test_html_report_escapes_queries_names_and_qids(tmp_path):
    from vtg.report import write_report

    evil = "<script>alert(1)</script>"
    page = write_report([result(query=evil, video=f"{evil}.mp4", qid=evil)], tmp_path / f"{evil}.mp4",
                        tmp_path / "page.html", note=evil)
    text = page.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("<script>") == 1  # only the page's own player script


def test_report_embeds_only_video_files(tmp_path, make_video):
    from vtg.report import page_name, video_source

    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    assert not video_source(secret, tmp_path / "p.html", embed=True).startswith("data:")
    video = make_video("v.mp4", [(RED, 1, 0)], size=(32, 24))
    assert video_source(video, tmp_path / "p.html", embed=True).startswith("data:video/mp4;base64,")
    name = page_name("../../etc/x", set())
    assert "/" not in name and not name.startswith(".")


# --- batch: every malformed line becomes one error record; the output stays valid UTF-8 ------


@pytest.fixture
def colour_method(monkeypatch, tmp_path):
    import batch_helpers  # noqa: F401  (tests/ is on sys.path under pytest)

    monkeypatch.setitem(__import__("vtg.registry", fromlist=["RUNTIME_METHODS"]).RUNTIME_METHODS, "colour-test",
                        "batch_helpers:ColourMethod")
    monkeypatch.setenv("VTG_TEST_DECODE_LOG", str(tmp_path / "decodes.log"))


def test_batch_turns_malformed_lines_into_error_records(tmp_path, make_video, colour_method, monkeypatch):
    from vtg.batch import run_batch

    make_video("-y.mp4", [(RED, 2, 0)], size=(32, 24))
    monkeypatch.chdir(tmp_path)

    def good(qid: str) -> bytes:
        return json.dumps({"video": "-y.mp4", "query": "red", "qid": qid}).encode()

    lines = [
        b"\xef\xbb\xbf" + good("bom") + b"\r\n",                       # BOM + CRLF: a valid line
        b"\n", b"   \r\n",                                              # blank lines: not input
        good("../../etc/x") + b"\n",
        b'{"video": "-y.mp4", "query": "red \xff\xfe", "qid": "bad-utf8"}\n',
        b'{"video": "-y.mp4", "query": "red", "qid": "\\ud800"}\n',   # lone surrogate qid
        b'{"video": "-y.mp4", "query": "' + b"x" * 1_000_000 + b'", "qid": "huge"}\n',
        b"[1, 2]\n", b'"just a string"\n', b"{not json\n", b"[" * 100_000 + b"\n", b'{"qid": ' + b"9" * 5000 + b"}\n",
        b'{"video": "-y.mp4", "query": 5}\n',
        b'{"video": ["-y.mp4"], "query": "red"}\n',
        b'{"video": "-y.mp4", "query": "red", "options": "fps=2"}\n',
        b'{"video": "-y.mp4", "query": "red", "qid": 1.5}\n',
        b'{"video": "-y.mp4", "query": "   "}\n',
        b'{"video": "-y.mp4", "query": "red", "options": {"fps": NaN}, "qid": "nan-fps"}\n',
        b'{"video": "-y.mp4", "query": "red", "options": {"fps": -1}, "qid": "neg-fps"}\n',
        b'{"video": ".", "query": "red", "qid": "a-directory"}\n',
        good("bom"),                                                    # duplicate qid
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    summary = run_batch(src, out, method="colour-test", fsync=False)
    records = [json.loads(line) for line in out.read_bytes().decode("utf-8").splitlines()]  # strict UTF-8
    assert summary.lines == len(records) == len(lines) - 2
    status = {str(r["qid"]): r["status"] for r in records}
    assert status["bom"] == status["../../etc/x"] == status["bad-utf8"] == status["\ud800"] == "ok"
    assert status["huge"] == "ok"
    assert status["nan-fps"] == status["neg-fps"] == status["a-directory"] == "error"
    errors = [r for r in records if r["status"] == "error"]
    assert len(errors) == 14 and all(r["error"] and "\n" not in r["error"] for r in errors)
    assert not (tmp_path.parent / "etc").exists()
    again = run_batch(src, out, method="colour-test", fsync=False)  # the output resumes: nothing lost
    assert again.skipped == summary.lines and again.ran == 0


# --- eval: malformed ground truth and predictions are one-line errors ----------------------------

GT = {"qid": 1, "query": "q", "vid": "v", "duration": 10, "relevant_windows": [[1, 3]]}
PRED = {"qid": 1, "query": "q", "vid": "v", "pred_relevant_windows": [[1, 3, 0.9]]}


def _jsonl(path: Path, *records) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


@pytest.mark.parametrize("bad", [
    "[1, 2]", '"text"', {**GT, "relevant_windows": 5}, {**GT, "relevant_windows": "12"},
    {**GT, "relevant_windows": [[1, float("nan")]]}, {**GT, "relevant_windows": [[-2, 3]]},
    {**GT, "relevant_windows": [{"a": 1}]}, {**GT, "duration": [1]}, {**GT, "duration": "long"},
    {**GT, "relevant_clip_ids": [0], "saliency_scores": 3}, {**GT, "relevant_clip_ids": ["x"], "saliency_scores": [[1]]},
    {**GT, "qid": 2}, {**GT, "relevant_windows": [[1e400, 2]]}, "[" * 100_000, '{"qid": ' + "9" * 5000 + "}",
], ids=lambda b: str(b)[:40])
def test_eval_refuses_bad_ground_truth_in_one_line(tmp_path, capsys, bad):
    gt = _jsonl(tmp_path / "gt.jsonl", {**GT, "qid": 2}, bad)
    pred = _jsonl(tmp_path / "pred.jsonl", PRED)
    line = one_line_error(capsys, main(["eval", str(pred), str(gt)]))
    assert "gt.jsonl" in line


@pytest.mark.parametrize("bad", [
    {**PRED, "pred_relevant_windows": {"a": 1}}, {**PRED, "pred_relevant_windows": [[1, float("nan"), 1]]},
    {**PRED, "pred_relevant_windows": [[1, 3, "high"]]}, {**PRED, "pred_relevant_windows": [[1, 3, float("inf")]]},
    {**PRED, "pred_saliency_scores": "0.5"}, {**PRED, "pred_saliency_scores": [None]}, "7",
], ids=lambda b: str(b)[:40])
def test_eval_refuses_bad_predictions_in_one_line(tmp_path, capsys, bad):
    gt = _jsonl(tmp_path / "gt.jsonl", GT)
    pred = _jsonl(tmp_path / "pred.jsonl", bad)
    assert "pred.jsonl" in one_line_error(capsys, main(["eval", str(pred), str(gt)]))


def test_eval_accepts_bom_crlf_blank_lines_and_counts_duplicates(tmp_path, capsys):
    gt = tmp_path / "gt.jsonl"
    gt.write_bytes(b"\xef\xbb\xbf" + json.dumps(GT).encode() + b"\r\n\r\n   \r\n")
    pred = tmp_path / "pred.jsonl"
    pred.write_bytes(b"\xef\xbb\xbf" + (json.dumps({**PRED, "pred_relevant_windows": [[5, 6, 1]]}) + "\r\n\r\n"
                                       + json.dumps(PRED) + "\r\n").encode())
    assert main(["eval", str(pred), str(gt), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["R1@0.5"] == 100.0  # the last record of qid 1 counts
    assert "1 predictions" in captured.err and "repeat an earlier qid" in captured.err


# --- export / overlay: names are never options, protocols or paths outside the folder -----------


def test_export_with_hostile_video_names_qids_and_templates(tmp_path, make_video, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records = []
    for i, name in enumerate(HOSTILE_NAMES):
        make_video(name, [(RED, 2, 0)], size=(32, 24))
        qid = ["../../etc/x", "/abs/q", "q\nnl", "-q", "." * 3, "y" * 300][i]
        records.append({**result(video=name, moments=((0.5, 1.0, 0.9), (1.2, 1.8, 0.5))).to_dict(), "qid": qid})
    preds = _jsonl(tmp_path / "preds.jsonl", *records)
    out = tmp_path / "out dir\nwith newline"
    templates = ["../../{vid}/{qid}.mp4", "/tmp/{vid}_{qid}.mp4", "-{qid}.mp4"]
    runs = (["--copy", "--reel", "-k", "2"], ["--copy", "--name", templates[0]],
            ["--copy", "--name", templates[1]], ["--name", templates[2]])
    for i, args in enumerate(runs):
        assert main(["export", str(preds), "--out-dir", str(out / f"-{i}"), *args]) == 0, capsys.readouterr().err
    written = sorted(out.glob("*/*"))
    assert len(written) == len(runs) * len(HOSTILE_NAMES)  # every clip, each under its own safe name
    for f in written:
        assert f.parent.parent == out and f.stat().st_size > 0
        assert not f.name.startswith(("-", ".")) and "\n" not in f.name and len(f.name.encode()) <= 200
    assert not (tmp_path / "etc").exists() and not any(Path("/tmp").glob("*_..._reel*"))


@pytest.mark.parametrize("bad", [{**result().to_dict(), "pred_relevant_windows": [[5, 2, 1]]},  # end < start
                                 {**result().to_dict(), "pred_relevant_windows": [[1, float("nan"), 1]]},
                                 {**result().to_dict(), "saliency_times": [1.0]}, "[" * 100_000],
                         ids=["reversed", "nan", "saliency-no-scores", "deep"])
def test_export_refuses_malformed_records_in_one_line(tmp_path, capsys, bad):
    preds = _jsonl(tmp_path / "preds.jsonl", bad, bad)
    assert "preds.jsonl" in one_line_error(capsys, main(["export", str(preds), "--out-dir", str(tmp_path / "c")]))


def test_overlay_with_option_like_names(tmp_path, make_video, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_video("-y.mp4", [(RED, 2, 0)], size=(32, 24))
    assert main(["overlay", "--output", "-i.mp4", "--", "-y.mp4"]) == 0
    assert Path("-i.mp4").stat().st_size > 0
    assert main(["overlay", "-y.mp4", "-o", "x.mp4"]) == 2  # a usage error, not an internal error
    assert "No such option" in capsys.readouterr().err


# --- videos that are not plain readable video files ----------------------------------------------


def _lying_mp4(make_video) -> Path:
    """A 2 s MP4 whose movie, track and media headers all claim an hour."""
    import struct

    path = make_video("lie.mp4", [(RED, 2, 0)], size=(32, 24))
    data = bytearray(path.read_bytes())
    for box, skip in ((b"mvhd", 16), (b"tkhd", 20), (b"mdhd", 16)):
        at = data.find(box) + 4 + skip
        data[at:at + 4] = struct.pack(">I", struct.unpack(">I", data[at:at + 4])[0] * 1800)
    path.write_bytes(bytes(data))
    return path


def test_videos_that_are_not_regular_readable_files(tmp_path, make_video, monkeypatch):
    from vtg.video import probe, read_frames

    (tmp_path / "dir.mp4").mkdir()
    os.symlink("loop.mp4", tmp_path / "loop.mp4")
    os.mkfifo(tmp_path / "fifo.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoNotFoundError, match="a directory"):
        probe(tmp_path / "dir.mp4")
    with pytest.raises(VideoNotFoundError, match="symlink loop"):
        probe(tmp_path / "loop.mp4")
    with pytest.raises(VideoNotFoundError, match="pipe"):
        read_frames(tmp_path / "fifo.mp4", fps=1)  # would block forever if opened
    with pytest.raises(VideoError, match="empty"):
        probe(tmp_path / "empty.mp4")
    locked = make_video("locked.mp4", [(RED, 1, 0)], size=(32, 24))
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads anything: make the permission check see what a user would
        monkeypatch.setattr("vtg.video.files.os.access", lambda p, mode: Path(p) != locked)
    with pytest.raises(VideoError, match="permission denied"):
        probe(locked)


def test_tiny_one_frame_lying_and_protocol_named_videos(make_video, monkeypatch, tmp_path):
    from vtg.video import probe, read_frames

    one = make_video("one.mp4", [(RED, 0.1, 0)], size=(32, 24))
    assert probe(one).num_frames == 1 and len(read_frames(one, fps=2).times) == 1
    tiny = make_video("tiny.mp4", [(RED, 0.3, 0)], size=(2, 2))
    assert read_frames(tiny, fps=10).frames.shape[1:] == (2, 2, 3)
    lie = _lying_mp4(make_video)
    try:
        info = probe(lie)
    except VideoError:
        pass  # refusing is fine; inventing an hour of frames is not
    else:
        assert info.duration < 3.0 and len(read_frames(lie, fps=2).times) <= 5
    make_video("concat:x.mp4", [(RED, 1, 0)], size=(32, 24))
    monkeypatch.chdir(tmp_path)
    assert probe("concat:x.mp4").duration == pytest.approx(1.0, abs=0.15)  # a file, not the concat protocol


# --- checkpoints and caches ------------------------------------------------------------------------


def test_source_has_no_unsafe_loads_or_shells():
    """Static audit: every pickle-capable load is restricted, and nothing reaches a shell."""
    unsafe = [
        (re.compile(r"torch\.load\((?![^)]*weights_only\s*=\s*True)"), "torch.load without weights_only=True"),
        (re.compile(r"allow_pickle\s*=\s*True"), "np.load(allow_pickle=True)"),
        (re.compile(r"yaml\.(?:unsafe_)?load\((?![^)]*SafeLoader)"), "yaml.load"),
        (re.compile(r"pickle\.loads?\("), "pickle.load"),
        (re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\("), "a shell"),
    ]
    found = []
    for folder in ("vtg", "methods", "overlays"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            found += [f"{path.relative_to(ROOT)}: {what}" for pattern, what in unsafe if pattern.search(text)]
    assert not found


def _tiny_univtg(path: Path) -> Path:
    import torch

    from vtg.methods.univtg.config import ModelConfig
    from vtg.methods.univtg.model import UniVTGModel
    from vtg.methods.univtg.weights import save_model

    torch.manual_seed(0)
    cfg = ModelConfig(v_feat_dim=18, t_feat_dim=32, hidden_dim=16, enc_layers=1, nheads=2, dim_feedforward=32,
                      video_features="custom")
    return save_model(UniVTGModel(cfg), cfg, path)


@pytest.mark.parametrize("tamper", [
    "not json {", "[1, 2]", "null", {"unknown_key": 1}, {"nheads": 0}, {"hidden_dim": "16"}, {"hidden_dim": 32},
    {"enc_layers": -1}, {"dropout": float("nan")}, {"use_txt_pos": "yes"}, {"hidden_dim": 1 << 20, "nheads": 1},
    {"dim_feedforward": 10 ** 12}, {"n_input_proj": 7}, {"clip_length": 0}, {"source": []},
], ids=str)
def test_tampered_univtg_config_is_a_checkpoint_error(tmp_path, tamper):
    pytest.importorskip("torch")
    from vtg.methods.univtg.weights import load_model

    model = _tiny_univtg(tmp_path / "m")
    config = model / "config.json"
    if isinstance(tamper, dict):
        config.write_text(json.dumps({**json.loads(config.read_text()), **tamper}))
    else:
        config.write_text(tamper)
    with pytest.raises(CheckpointError):
        load_model(model)


def test_convert_refuses_options_that_are_not_an_object(tmp_path):
    torch = pytest.importorskip("torch")
    from vtg.methods.univtg.convert import convert_checkpoint
    from vtg.methods.univtg.model import UniVTGModel
    from vtg.methods.univtg.config import ModelConfig

    net = UniVTGModel(ModelConfig(v_feat_dim=514, t_feat_dim=512, hidden_dim=16, enc_layers=1, nheads=2,
                                  dim_feedforward=16))
    torch.save({"model": net.state_dict()}, tmp_path / "model_best.ckpt")
    for opt in ("[1, 2]", json.dumps({"hidden_dim": "wide", "v_feat_dim": 514, "t_feat_dim": 512})):
        (tmp_path / "opt.json").write_text(opt)
        with pytest.raises(CheckpointError):
            convert_checkpoint(tmp_path / "model_best.ckpt", tmp_path / "out")


def test_open_clip_weights_that_run_code_are_refused(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("open_clip")
    from vtg.encoders import load_encoder
    from vtg.encoders.testing import TINY_OPEN_CLIP_CFG

    marker = tmp_path / "PWNED"

    class RunsCode:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY_OPEN_CLIP_CFG))
    torch.save({"state_dict": RunsCode()}, tmp_path / "evil.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    for name in ("evil.pt", "empty.pt"):
        with pytest.raises(CheckpointError, match="weights_only=True"):
            load_encoder(f"open_clip:{cfg}@{tmp_path / name}", device="cpu")
    assert not marker.exists()


def test_feature_arrays_holding_pickles_are_refused(tmp_path):
    from vtg.methods.univtg.features import load_array

    np.savez(tmp_path / "obj.npz", features=np.array([{"a": 1}], dtype=object))
    (tmp_path / "trunc.npz").write_bytes((tmp_path / "obj.npz").read_bytes()[:40])
    for name in ("obj.npz", "trunc.npz"):
        with pytest.raises(DataError):
            load_array(tmp_path / name)


@pytest.mark.parametrize("damage", ["npz-garbage", "npz-object-array", "sidecar-no-duration", "sidecar-list",
                                    "nan-features"])
def test_damaged_feature_cache_entries_are_recomputed(tmp_path, make_video, damage):
    from batch_helpers import ColourEncoder

    from vtg.features import video_features

    video = make_video("v.mp4", [(RED, 2, 0)], size=(32, 24))
    first = video_features(video, ColourEncoder(), 2.0, cache_dir=tmp_path / "cache")
    expected = np.array(first.features)  # a copy: the damage below rewrites the mapped file in place
    npz = Path(first.path)
    sidecar = npz.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    if damage == "npz-garbage":
        npz.write_bytes(b"PK\x03\x04 not really a zip")
    elif damage == "npz-object-array":  # the entry's features file holding pickled objects
        np.save(npz, np.array([None] * len(first.times), dtype=object), allow_pickle=True)
    elif damage == "sidecar-no-duration":
        del meta["duration"]
        sidecar.write_text(json.dumps(meta))
    elif damage == "sidecar-list":
        sidecar.write_text("[]")
    else:
        np.save(npz, np.full_like(first.features, np.nan))
    again = video_features(video, ColourEncoder(), 2.0, cache_dir=tmp_path / "cache")
    assert not again.cached
    np.testing.assert_allclose(again.features, expected)
    assert video_features(video, ColourEncoder(), 2.0, cache_dir=tmp_path / "cache").cached  # repaired


def test_atomic_writes_survive_long_names_and_undecodable_text(tmp_path):
    from vtg.fileio import atomic_write_text

    long_name = tmp_path / ("é" * 120 + ".json")  # 244 bytes: the temporary name must still fit
    atomic_write_text(long_name, "ok")
    assert long_name.read_text() == "ok"
    atomic_write_text(tmp_path / "s.txt", "query \udcff and \ud800")
    assert (tmp_path / "s.txt").read_bytes().startswith(b"query ")


# --- LLM answers: adversarial text parses fast, never raises, never yields non-finite times -------

ADVERSARIAL = {
    "huge-int": '{"relationship": "sequentially", "sub_events": [' + "9" * 5000 + "]}",
    "1e308": '{"relationship": 1e308, "sub_events": [1e999, NaN, -Infinity, -1]}',
    "nested-json": '{"a":' * 20000 + "1" + "}" * 20000,
    "open-braces": "{" * 100_000,
    "open-brackets": "[" * 100_000,
    "python-dict": "{'a': " * 20000,
    "unclosed-think": "<think>" * 20000 + '{"relationship": "single-query"}',
    "quotes": '{"' * 50_000,
    "100k-chars": "from frame 1 to frame 2 " * 4200,
    "digits": "from " + "9" * 400 + " to 5 seconds",
    "repeated-units": "1 to " + "second" * 40 + "x 2",
    "whitespace": "start" + " " * 100_000 + "x 1" + " " * 100_000 + "x",
    "frames-ws": "frame" + " " * 100_000 + "x",
    "digit-run": "9" * 100_000 + " minutes 5 seconds",
    "unicode-digits": "from \u0663 to \u0665 and from \uff11 to \uff12",
    "colons": "1:" * 50_000,
    "commas": "[" + ",".join(["1"] * 40_000) + "]",
    "negative": "from -5 to -2 seconds, frames -3 to -1",
}


def growth(work, text: str, shrink: int = 8, rounds: int = 5) -> float:
    """How much more CPU time (this process's, not the wall clock: a busy machine does not change
    it) ``work`` takes on ``text`` than on its first ``1/shrink``, median of alternating rounds.
    Linear work grows ~``shrink``x, quadratic ~``shrink**2``x. Inputs whose whole run takes under
    a millisecond return 1.0: there is nothing to measure, and no blow-up to fear."""
    small = text[: max(1, len(text) // shrink)]
    big_t, small_t = [], []
    for _ in range(rounds):
        for sample, out in ((text, big_t), (small, small_t)):
            start = time.process_time()
            work(sample)
            out.append(time.process_time() - start)
    big, little = sorted(big_t)[rounds // 2], sorted(small_t)[rounds // 2]
    return 1.0 if big < 1e-3 else big / max(little, 1e-4)


def parse_decomposition(text: str):
    from vtg.llm.parse import AnswerError, parse_answer

    try:
        return parse_answer(text, "a person opens the door", "test")
    except AnswerError:
        return None


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_decomposition_parser_survives_adversarial_answers(name):
    parsed = parse_decomposition(ADVERSARIAL[name])
    assert growth(parse_decomposition, ADVERSARIAL[name]) < 40  # linear: ~8; quadratic: ~64
    if parsed is not None:
        assert parsed.relationship in ("single-query", "simultaneously", "sequentially")


def test_chat_backend_falls_back_on_adversarial_answers():
    from vtg.llm.chat import ChatBackend

    class Hostile(ChatBackend):
        name = "hostile"

        def complete(self, messages, attempt):
            return ADVERSARIAL["open-braces"] if attempt else ADVERSARIAL["huge-int"]

    d = Hostile(retries=1).decompose("a person opens the door")
    assert d.relationship == "single-query"


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_video_llm_parsers_survive_adversarial_answers(name):
    from vtg.methods import numpro, timemarker
    from vtg.methods.videollm.parsing import find_ranges, single_frames
    from vtg.methods.vtgllm import parse_answer as vtgllm_answer

    def parse_all(text: str) -> list:
        find_ranges(text)
        single_frames(text)
        return [*numpro.parse_answer(text, [0.0, 1.0, 2.0], 3.0), *timemarker.parse_answer(text, None),
                *timemarker.parse_answer(text, 10.0), *vtgllm_answer(text, None)]

    moments = parse_all(ADVERSARIAL[name])
    assert growth(parse_all, ADVERSARIAL[name]) < 40  # linear: ~8; quadratic: ~64
    assert all(math.isfinite(m.start) and math.isfinite(m.end) and 0 <= m.start <= m.end for m in moments)


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf{}", b'{"v": ' + b"9" * 5000 + b"}", b"[" * 100_000, b"\xff\xfe"])
def test_json_decomposition_files_are_read_or_refused_clearly(tmp_path, content):
    from vtg.llm.jsonfile import JsonFileBackend

    path = tmp_path / "llm_outputs.json"
    path.write_bytes(content)
    if content.startswith(b"\xef\xbb\xbf"):
        assert JsonFileBackend(path).decompose("a person sits").relationship == "single-query"
    else:
        with pytest.raises(DataError):
            JsonFileBackend(path)


def test_ffmpeg_gets_absolute_paths_never_option_like_names(tmp_path, make_video, monkeypatch):
    """ffmpeg-python's argument list: every input and output is absolute, so "-y.mp4" is a file."""
    from vtg.export import export_clips
    from vtg.export import ffmpeg as ff

    calls = []
    real = ff.run_args
    monkeypatch.setattr(ff, "run_args", lambda args, what: (calls.append(list(args)), real(args, what)))
    monkeypatch.chdir(tmp_path)
    make_video("-i.mp4", [(RED, 2, 0)], size=(32, 24))
    for copy in (True, False):
        export_clips([result(video="-i.mp4", moments=((0.5, 1.0, 1.0), (1.2, 1.6, 0.5)))], Path("-out"), top_k=2,
                     copy=copy, reel=True)
    assert calls
    for args in calls:
        inputs = [args[i + 1] for i, a in enumerate(args) if a == "-i"]
        assert inputs and all(os.path.isabs(p) for p in inputs)
        paths = [a for a in args if a.endswith((".mp4", ".ffconcat"))]  # inputs, outputs, concat listings
        assert len(paths) >= 2 and all(os.path.isabs(p) for p in paths)


def test_very_long_output_names(tmp_path, make_video):
    from vtg.overlays.video import write_numbered_video
    from vtg.report import write_reports

    video = make_video("v.mp4", [(RED, 1, 0)], size=(32, 24))
    out = tmp_path / ("n" * 250 + ".mp4")
    write_numbered_video(video, out)
    assert out.stat().st_size > 0
    long_vid = "v" * 251  # the file name itself fits; "<vid>.html" and "<vid>_2.html" would not
    too_long = "w" * 300  # no file can have this name: lookups must say "not found", not raise OSError
    preds = _jsonl(tmp_path / "p.jsonl", *[result(video=f"{long_vid}.mp4", qid=i).to_dict() for i in range(2)],
                   result(video=f"{long_vid}.mkv", qid=3).to_dict(), result(video=f"{too_long}.mp4", qid=4).to_dict())
    done = write_reports(preds, tmp_path / "rep", video_dir=tmp_path)
    assert len(done["pages"]) == 3 and all(len(p.name.encode()) <= 255 for p in done["pages"])
    assert len(done["missing_videos"]) == 3


def test_video_names_longer_than_the_file_system_allows(tmp_path, capsys):
    name = str(tmp_path / ("x" * 300 + ".mp4"))
    assert "not found" in one_line_error(capsys, main(["ground", name, "red", "-m", "tfvtg"]))
    assert "not found" in one_line_error(capsys, main(["overlay", name, "-o", str(tmp_path / "o.mp4")]))
    preds = _jsonl(tmp_path / "p.jsonl", result(video=name).to_dict())
    assert "not found" in one_line_error(capsys, main(["export", str(preds), "--out-dir", str(tmp_path / "c")]))


def test_nul_bytes_in_paths_from_jsonl(tmp_path):
    import vtg

    with pytest.raises(VideoNotFoundError):
        vtg.ground("a\x00b.mp4", "red")
    from vtg.video import probe

    with pytest.raises(VideoNotFoundError):
        probe("a\x00b.mp4")


def test_undecodable_query_bytes_reach_the_tokenizer_as_replacement_characters(tmp_path):
    from vtg.encoders import load_encoder
    from vtg.encoders.testing import tiny_hf_clip
    from vtg.types import Query

    assert Query(text="red \udcff door").text == "red \ufffd door"  # argv / JSONL byte 0xff
    text = Query(text="\ud800 red").text
    text.encode("utf-8")
    enc = load_encoder(str(tiny_hf_clip(tmp_path / "clip")), device="cpu")
    assert np.isfinite(enc.encode_texts([text, Query(text="x \udcff").text])).all()

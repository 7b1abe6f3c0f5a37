"""Never touch a file vtg did not write; every reader reads what vtg wrote (issue 8), and a batch
output remembers what it means (issue 9, part 5).

Every attack goes through the real CLI in-process (``vtg.cli.main.main``) and asserts the same
outcome: exactly one ``vtg: error:`` line and a non-zero exit (or an error record in a batch), no
traceback, no ``internal error``, and every file involved byte-identical afterwards (content
hash, and for links their target). Methods are the tests' tiny real ones (``colour-test`` of
tests/batch_helpers.py, decoding real frames through the real feature cache).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from test_hostile_inputs import one_line_error as one_error
from vtg.cli.main import main
from vtg.types import Grounding, Moment, Saliency

RED, GREEN, BLUE = (200, 30, 30), (30, 200, 30), (30, 30, 200)


# --- helpers ------------------------------------------------------------------------------------

def snapshot(paths) -> dict:
    """What each path is: a link (and its target), a file (content hash), a folder (listing)."""
    out = {}
    for p in map(Path, paths):
        if p.is_symlink():
            out[p] = ("link", os.readlink(p), snapshot([p.resolve()]) if p.exists() else None)
        elif p.is_file():
            out[p] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_ino)
        elif p.is_dir():
            out[p] = ("dir", sorted(os.listdir(p)))
        else:
            out[p] = ("absent" if not os.path.lexists(p) else "other",)
    return out


def refused(capsys, argv, keep, match: str | None = None) -> str:
    """Run ``vtg argv``: one error line, non-zero exit, every path in ``keep`` unchanged."""
    before = snapshot(keep)
    line = one_error(capsys, main([str(a) for a in argv]))
    assert snapshot(keep) == before, line
    if match is not None:
        assert match in line, line
    return line


def result(video: Path, qid=1, query="the red part", **overrides) -> dict:
    g = Grounding(query, str(video), 2.0, (Moment(0.0, 1.0, 0.9), Moment(1.0, 1.5, 0.2)),
                  Saliency(np.arange(0, 2, 0.5), np.linspace(0, 1, 4)), "colour-test", {}, qid)
    return {**g.to_dict(), **overrides}


def write_jsonl(path: Path, records, newline: bool = True) -> Path:
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records)
    path.write_text(text + ("\n" if newline else ""))
    return path


@pytest.fixture
def colour_method(monkeypatch, tmp_path):
    from vtg.registry import RUNTIME_METHODS

    monkeypatch.setitem(RUNTIME_METHODS, "colour-test", "batch_helpers:ColourMethod")
    monkeypatch.setitem(RUNTIME_METHODS, "nan-test", "test_no_clobber:NanMethod")
    monkeypatch.setitem(RUNTIME_METHODS, "flaky-test", "test_no_clobber:FlakyMethod")
    monkeypatch.setenv("VTG_TEST_DECODE_LOG", str(tmp_path / "decodes.log"))


@pytest.fixture
def video(make_video) -> Path:
    return make_video("v.mp4", [(RED, 1, 0), (GREEN, 1, 0)], size=(64, 48))


@pytest.fixture
def batch_input(tmp_path, video) -> Path:
    return write_jsonl(tmp_path / "in.jsonl", [{"video": str(video), "query": f"the {c} part", "qid": c}
                                              for c in ("red", "green")])


@pytest.fixture
def predictions(tmp_path, video) -> Path:
    return write_jsonl(tmp_path / "preds.jsonl", [result(video)])


@pytest.fixture
def ground_truth(tmp_path) -> Path:
    return write_jsonl(tmp_path / "gt.jsonl", [{"qid": 1, "query": "the red part", "vid": "v", "duration": 2.0,
                                                "relevant_windows": [[0, 1]]}])


def batch(out: Path, src: Path, *extra) -> list:
    return ["batch", src, "-o", out, "-m", "colour-test", "--no-fsync", "--no-progress", *extra]


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line.strip()]


# --- tiny methods with faults, importable by name for the registry -----------------------------

def _colour():
    import batch_helpers

    return batch_helpers.ColourMethod


class NanMethod(_colour()):
    """A model whose weights hold NaN: every saliency score is NaN."""

    name = "nan-test"

    def ground(self, video, query, *, progress=False):
        g = super().ground(video, query, progress=progress)
        return Grounding(g.query, g.video, g.duration, g.moments,
                         Saliency(g.saliency.times, np.full(len(g.saliency), np.nan)), self.name, {})


class FlakyMethod(_colour()):
    """Missing weights until the file named by $VTG_TEST_WEIGHTS exists (an environment error)."""

    name = "flaky-test"

    def ground(self, video, query, *, progress=False):
        from vtg.errors import WeightsNotFoundError

        if not Path(os.environ["VTG_TEST_WEIGHTS"]).exists():
            raise WeightsNotFoundError("flaky-test weights are not downloaded yet")
        return super().ground(video, query, progress=progress)


# === 1. batch -o: only vtg's own journal is appended to or repaired ===============================

@pytest.mark.parametrize("content", [
    b"my notes\nlast line without newline",                     # a text file, torn-looking tail
    b"my notes\nwith a newline\n",                              # plain text
    b'{"qid": 5, "query": "x", "vid": "v", "relevant_windows": [[1, 2]]}',  # an annotation, no newline
    b'{"qid": 5, "query": "x", "vid": "v", "relevant_windows": [[1, 2]]}\n',  # a whole annotation line
    bytes(range(256)) * 4,                                        # binary data
    b"   ",                                                       # whitespace only, no newline
], ids=["text-no-newline", "text", "annotation-no-newline", "annotation", "binary", "spaces"])
def test_batch_refuses_an_existing_file_that_is_not_its_journal(tmp_path, capsys, colour_method, batch_input, content):
    out = tmp_path / "notes.txt"
    out.write_bytes(content)
    refused(capsys, batch(out, batch_input), [out, batch_input], match="not a vtg batch output")


def test_batch_refuses_a_video_as_output(tmp_path, capsys, colour_method, batch_input, video):
    refused(capsys, batch(video, batch_input), [video, batch_input], match=str(video))


def test_batch_refuses_a_symlink_to_a_video(tmp_path, capsys, colour_method, batch_input, video):
    link = tmp_path / "out.jsonl"
    link.symlink_to(video)
    refused(capsys, batch(link, batch_input), [link, video, batch_input], match="symbolic link")


def test_batch_refuses_a_dangling_symlink(tmp_path, capsys, colour_method, batch_input):
    link = tmp_path / "out.jsonl"
    link.symlink_to(tmp_path / "elsewhere" / "target.jsonl")
    refused(capsys, batch(link, batch_input), [link, batch_input], match="symbolic link")
    assert not (tmp_path / "elsewhere").exists()


def test_batch_refuses_its_own_input_as_output(tmp_path, capsys, colour_method, batch_input):
    refused(capsys, batch(batch_input, batch_input), [batch_input], match="input of this command")


def test_batch_refuses_a_hard_link_to_its_input(tmp_path, capsys, colour_method, batch_input):
    other = tmp_path / "out.jsonl"
    os.link(batch_input, other)
    refused(capsys, batch(other, batch_input), [other, batch_input], match="input of this command")


def test_batch_refuses_a_symlinked_input_named_as_output(tmp_path, capsys, colour_method, batch_input):
    alias = tmp_path / "alias.jsonl"
    alias.symlink_to(batch_input)
    refused(capsys, batch(batch_input, alias), [batch_input, alias], match="input of this command")


def test_batch_refuses_a_directory_and_a_fifo(tmp_path, capsys, colour_method, batch_input):
    folder = tmp_path / "outdir"
    folder.mkdir()
    refused(capsys, batch(folder, batch_input), [folder, batch_input], match="directory")
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    refused(capsys, batch(fifo, batch_input), [batch_input], match="not a regular file")


def test_batch_refuses_an_output_under_a_file(tmp_path, capsys, colour_method, batch_input):
    refused(capsys, batch(batch_input / "out.jsonl", batch_input), [batch_input])


def test_batch_refuses_a_journal_with_one_foreign_line(tmp_path, capsys, colour_method, batch_input):
    out = tmp_path / "out.jsonl"
    assert main([str(a) for a in batch(out, batch_input)]) == 0
    capsys.readouterr()
    with open(out, "a") as fh:
        fh.write('{"note": "added by hand"}\n')
    refused(capsys, batch(out, batch_input), [out, batch_input], match="line 3")


def test_batch_refuses_grounding_jsonl_that_is_not_a_journal(tmp_path, capsys, colour_method, batch_input, video):
    """`vtg ground -f jsonl` output: vtg's records, but not a batch journal (no status, line)."""
    out = write_jsonl(tmp_path / "ground.jsonl", [result(video)])
    refused(capsys, batch(out, batch_input), [out, batch_input], match="not a vtg batch output")


def test_batch_refuses_a_journal_with_a_non_finite_record(tmp_path, capsys, colour_method, batch_input):
    out = tmp_path / "out.jsonl"
    assert main([str(a) for a in batch(out, batch_input)]) == 0
    capsys.readouterr()
    first, second = out.read_text().splitlines()
    out.write_text(first + "\n" + second.replace('"duration": 2.0', '"duration": Infinity') + "\n")
    refused(capsys, batch(out, batch_input), [out, batch_input], match="duration")


def test_batch_repairs_only_its_own_torn_line_and_resumes(tmp_path, capsys, colour_method, batch_input):
    out = tmp_path / "out.jsonl"
    assert main([str(a) for a in batch(out, batch_input)]) == 0
    whole = out.read_bytes().split(b"\n")[0] + b"\n"
    out.write_bytes(whole + b'{"vtg_batch": 1, "qid": "green", "li')   # killed mid-write
    assert main([str(a) for a in batch(out, batch_input)]) == 0
    assert out.read_bytes().startswith(whole) and [r["qid"] for r in records(out)] == ["red", "green"]


def test_batch_resumes_a_journal_of_an_earlier_vtg(tmp_path, capsys, colour_method, batch_input, video):
    """Records without the marker are accepted only when every line has exactly the old fields."""
    old = {**result(video, qid="red"), "status": "ok", "line": 1}
    old.pop("query")
    old = {"qid": "red", "query": "the red part", **old}
    out = write_jsonl(tmp_path / "out.jsonl", [old])
    assert main([str(a) for a in batch(out, batch_input)]) == 0
    err = capsys.readouterr().err
    assert "earlier vtg" in err and [r["qid"] for r in records(out)] == ["red", "green"]
    assert records(out)[0] == old  # kept as it was


def test_batch_repairs_a_torn_line_of_an_earlier_vtg_only_after_its_records(tmp_path, capsys, colour_method,
                                                                           batch_input, video):
    old = {"qid": "red", **{k: v for k, v in result(video, qid="red").items() if k != "qid"}, "status": "ok", "line": 1}
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps(old) + "\n" + '{"qid": "green", "que')
    assert main([str(a) for a in batch(out, batch_input)]) == 0
    assert [r["qid"] for r in records(out)] == ["red", "green"]
    alone = tmp_path / "alone.jsonl"  # the same start of a line, with no vtg record before it: not provably ours
    alone.write_text('{"qid": "green", "que')
    refused(capsys, batch(alone, batch_input), [alone, batch_input], match="no newline")


# === 2. batch settings fingerprint and error kinds ==================================================

def test_batch_refuses_to_mix_settings_and_names_both(tmp_path, capsys, colour_method, batch_input):
    out = tmp_path / "out.jsonl"
    assert main([str(a) for a in batch(out, batch_input, "--top-k", "1")]) == 0
    capsys.readouterr()
    line = refused(capsys, batch(out, batch_input, "--top-k", "1", "-O", "fps=4"), [out, batch_input])
    assert "method=colour-test top_k=1" in line and "fps=4" in line and "--new-output" in line
    line = refused(capsys, batch(out, batch_input, "--top-k", "2"), [out, batch_input])
    assert "top_k=1" in line and "top_k=2" in line


def test_batch_ignores_options_that_do_not_change_results(tmp_path, capsys, colour_method, batch_input):
    out = tmp_path / "out.jsonl"
    assert main([str(a) for a in batch(out, batch_input, "--fps", "2")]) == 0
    before = out.read_bytes()
    assert main([str(a) for a in batch(out, batch_input, "-O", "batch_size=3", "-O", "fps=2.0")]) == 0
    assert out.read_bytes() == before  # same settings, spelt differently: a resume, nothing rerun


def test_new_output_keeps_the_old_journal_aside(tmp_path, capsys, colour_method, batch_input):
    out = tmp_path / "out.jsonl"
    assert main([str(a) for a in batch(out, batch_input)]) == 0
    old = out.read_bytes()
    assert main([str(a) for a in batch(out, batch_input, "-O", "fps=4", "--new-output")]) == 0
    assert (tmp_path / "out.jsonl.~1~").read_bytes() == old
    assert all(r["settings"]["options"] == {"fps": 4.0} for r in records(out))
    assert "out.jsonl.~1~" in capsys.readouterr().err


def test_new_output_never_moves_a_foreign_file(tmp_path, capsys, colour_method, batch_input):
    out = tmp_path / "notes.txt"
    out.write_text("not vtg's\n")
    refused(capsys, batch(out, batch_input, "--new-output"), [out, batch_input, tmp_path / "notes.txt.~1~"])


def test_environment_errors_rerun_on_resume_input_errors_stay(tmp_path, capsys, colour_method, video, monkeypatch):
    weights = tmp_path / "weights.bin"
    monkeypatch.setenv("VTG_TEST_WEIGHTS", str(weights))
    src = write_jsonl(tmp_path / "in.jsonl", [{"video": str(video), "query": "red", "qid": "ok"},
                                               {"video": str(tmp_path / "gone.mp4"), "query": "red", "qid": "gone"}])
    out = tmp_path / "out.jsonl"
    argv = ["batch", src, "-o", out, "-m", "flaky-test", "--no-fsync", "--no-progress"]
    assert main([str(a) for a in argv]) == 1
    kinds = {r["qid"]: r.get("error_kind") for r in records(out)}
    assert kinds == {"ok": "environment", "gone": "input"}
    weights.write_text("now present")
    assert main([str(a) for a in argv]) == 1  # "gone" still fails, and is not run again
    status = {r["qid"]: r["status"] for r in records(out)}
    assert status == {"ok": "ok", "gone": "error"} and len(records(out)) == 2
    (tmp_path / "gone.mp4").write_bytes(video.read_bytes())
    assert main([str(a) for a in argv]) == 1  # input errors are final...
    assert main([str(a) for a in [*argv, "--retry-errors"]]) == 0  # ...unless asked
    assert {r["status"] for r in records(out)} == {"ok"} and len(records(out)) == 2


def test_a_nan_model_is_an_error_record_not_nan_json(tmp_path, capsys, colour_method, batch_input):
    out = tmp_path / "out.jsonl"
    assert main([str(a) for a in ["batch", batch_input, "-o", out, "-m", "nan-test", "--no-progress"]]) == 1
    recs = [json.loads(line) for line in out.read_text().split("\n") if line]  # strict JSON: no NaN
    assert {r["status"] for r in recs} == {"error"} and all("non-finite" in r["error"] for r in recs)
    assert {r["error_kind"] for r in recs} == {"environment"}


def test_a_nan_model_is_one_error_line_in_ground(tmp_path, capsys, colour_method, video):
    for fmt in ("json", "jsonl", "table"):
        line = refused(capsys, ["ground", video, "red", "-m", "nan-test", "-f", fmt], [video])
        assert "non-finite" in line


# === 3. whole-file writers never replace an input ==================================================

def test_eval_refuses_to_overwrite_its_ground_truth(tmp_path, capsys, predictions, ground_truth):
    refused(capsys, ["eval", predictions, ground_truth, "-o", ground_truth], [predictions, ground_truth],
            match="input of this command")


def test_eval_refuses_a_symlink_to_its_predictions(tmp_path, capsys, predictions, ground_truth):
    link = tmp_path / "metrics.json"
    link.symlink_to(predictions)
    refused(capsys, ["eval", predictions, ground_truth, "-o", link], [link, predictions, ground_truth],
            match="symbolic link")


def test_eval_refuses_a_hard_link_and_a_directory(tmp_path, capsys, predictions, ground_truth):
    hard = tmp_path / "metrics.json"
    os.link(ground_truth, hard)
    refused(capsys, ["eval", predictions, ground_truth, "-o", hard], [hard, ground_truth], match="same file")
    refused(capsys, ["eval", predictions, ground_truth, "-o", tmp_path], [predictions, ground_truth],
            match="directory")


def test_overlay_refuses_to_overwrite_its_video(tmp_path, capsys, video):
    refused(capsys, ["overlay", video, "-o", video], [video], match="input of this command")
    refused(capsys, ["overlay", video, "-o", tmp_path / "n.mp4", "--times", video], [video, tmp_path / "n.mp4"],
            match="--times")


def test_overlay_refuses_a_symlink_to_another_video(tmp_path, capsys, video, make_video):
    other = make_video("other.mp4", [(BLUE, 1, 0)], size=(64, 48))
    link = tmp_path / "numbered.mp4"
    link.symlink_to(other)
    refused(capsys, ["overlay", video, "-o", link], [video, other, link], match="symbolic link")


def test_overlay_refuses_a_video_as_frames_dir(tmp_path, capsys, video):
    refused(capsys, ["overlay", video, "--frames-dir", video], [video], match="not a directory")


def test_plot_refuses_its_own_input_and_links(tmp_path, capsys, video):
    res = tmp_path / "result.svg"
    res.write_text(json.dumps(result(video)))
    refused(capsys, ["plot", res, "-o", res], [res], match="input of this command")
    link = tmp_path / "curve.png"
    link.symlink_to(video)
    refused(capsys, ["plot", res, "-o", link], [res, link, video], match="symbolic link")


def test_plot_writes_a_temporary_sibling_and_renames(tmp_path, capsys, predictions):
    out = tmp_path / "curve.png"
    out.write_bytes(b"old picture")
    inode = out.stat().st_ino
    assert main(["plot", str(predictions), "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG" and out.stat().st_ino != inode  # replaced, not rewritten
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_report_refuses_a_file_as_out_dir_and_its_input_as_index(tmp_path, capsys, predictions, video):
    refused(capsys, ["report", predictions, "--out-dir", predictions], [predictions], match="not a directory")
    index = tmp_path / "site" / "index.html"
    index.parent.mkdir()
    index.write_text(json.dumps(result(video)) + "\n")
    refused(capsys, ["report", index, "--out-dir", index.parent], [index], match="input of this command")


def test_report_refuses_a_page_that_is_a_symlink(tmp_path, capsys, predictions, video):
    site = tmp_path / "site"
    site.mkdir()
    (site / "v.html").symlink_to(video)
    refused(capsys, ["report", predictions, "--out-dir", site], [predictions, video, site / "v.html"],
            match="symbolic link")


def test_export_refuses_its_results_file_as_out_dir(tmp_path, capsys, predictions):
    refused(capsys, ["export", predictions, "-d", predictions], [predictions], match="not a directory")


def test_export_never_replaces_the_source_video(tmp_path, capsys, video):
    """--name '{vid}.mp4' into the video's own folder would name the clip exactly like its source."""
    preds = write_jsonl(tmp_path / "p.jsonl", [result(video)])
    refused(capsys, ["export", preds, "-d", video.parent, "--name", "{vid}.mp4"], [video, preds],
            match="input of this command")


def test_export_refuses_a_clip_name_that_is_a_symlink(tmp_path, capsys, video):
    preds = write_jsonl(tmp_path / "p.jsonl", [result(video)])
    clips = tmp_path / "clips"
    clips.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("keep me")
    (clips / "clip.mp4").symlink_to(secret)
    refused(capsys, ["export", preds, "-d", clips, "--name", "clip.mp4"], [secret, clips / "clip.mp4", preds],
            match="symbolic link")


def test_ground_refuses_outputs_naming_its_video_before_loading_a_model(tmp_path, capsys, video):
    """tfvtg's weights are not in the test cache: the output check must come first to be seen."""
    refused(capsys, ["ground", video, "red", "-o", video], [video], match="input of this command")
    refused(capsys, ["ground", video, "red", "--html", video], [video], match="input of this command")
    link = tmp_path / "r.json"
    link.symlink_to(video)
    refused(capsys, ["ground", video, "red", "-o", link], [video, link], match="symbolic link")


def test_models_convert_and_train_refuse_their_inputs_as_output(tmp_path, capsys, ground_truth):
    ckpt = tmp_path / "model_best.ckpt"
    ckpt.write_bytes(b"PK\x03\x04 a checkpoint")
    refused(capsys, ["models", "convert", "univtg", ckpt, "-o", ckpt], [ckpt], match="not a directory")
    refused(capsys, ["train", "univtg", ground_truth, "-o", ground_truth], [ground_truth], match="not a directory")


def test_pseudo_label_refuses_its_video_as_output(tmp_path, capsys, video):
    refused(capsys, ["pseudo-label", video, "-o", video, "--concepts", "red"], [video],
            match="input of this command")


# === 4. every reader reads what vtg wrote ============================================================

LINE_BREAKS = "\u2028 \u2029 \x85 \x0b \x0c \x1c \x1d \x1e \r"


def test_batch_output_splits_into_one_record_per_line_for_every_reader(tmp_path, capsys, colour_method, video):
    query = f"the red{LINE_BREAKS}part"
    src = write_jsonl(tmp_path / "in.jsonl", [json.dumps({"video": str(video), "query": query, "qid": 1},
                                                         ensure_ascii=False)])
    out = tmp_path / "out.jsonl"
    assert main([str(a) for a in batch(out, src)]) == 0
    text = out.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 1 and json.loads(text)["query"] == query  # str.splitlines agrees
    gt = write_jsonl(tmp_path / "gt.jsonl", [{"qid": 1, "query": query, "vid": "v", "duration": 2.0,
                                              "relevant_windows": [[0, 1]]}])
    capsys.readouterr()
    assert main(["eval", str(out), str(gt), "--json"]) == 0
    assert main(["plot", str(out), "-o", str(tmp_path / "c.png")]) == 0
    assert main(["report", str(out), "--out-dir", str(tmp_path / "site")]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_readers_split_on_newline_only(tmp_path, capsys, video, ground_truth):
    """A file another tool wrote with raw U+2028 inside a string (legal JSON) still reads."""
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps(result(video, query="a\u2028b\x85c"), ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["eval", str(preds), str(ground_truth), "--json"]) == 0
    from vtg.export import load_results
    from vtg.report.data import pick_record

    assert load_results(preds)[0].query == pick_record(preds).query == "a\u2028b\x85c"


BAD_FIELDS = [
    ("duration", float("inf")), ("duration", float("nan")), ("duration", -3), ("duration", "10"),
    ("query", ["a", "list"]), ("method", ["tfvtg"]), ("vid", 7), ("qid", 1.5), ("meta", []),
    ("pred_relevant_windows", [[2.0, 1.0, 0.5]]), ("pred_relevant_windows", [[0, float("inf"), 1]]),
    ("pred_relevant_windows", "0-1"), ("saliency_scores", [0.1]), ("pred_saliency_scores", [float("nan")]),
]


@pytest.mark.parametrize("command", ["eval", "plot", "report", "export"])
@pytest.mark.parametrize("field,value", BAD_FIELDS, ids=[f"{f}={v!r}" for f, v in BAD_FIELDS])
def test_every_reader_names_file_line_and_field(tmp_path, capsys, video, ground_truth, command, field, value):
    good = result(video, qid=2)
    bad = {**result(video), field: value}
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")  # json writes NaN/Infinity
    argv = {"eval": ["eval", preds, ground_truth], "plot": ["plot", preds, "-o", tmp_path / "c.png", "--qid", "2"],
            "report": ["report", preds, "--out-dir", tmp_path / "site"],
            "export": ["export", preds, "-d", tmp_path / "clips"]}[command]
    line = refused(capsys, argv, [preds, ground_truth, video])
    assert f"{preds}:2: field '{field}" in line  # file, line, field (and index where one applies)


# === 5. the machine fails mid-write: one line, nothing half-written =================================

def test_a_full_disk_during_a_whole_file_write_is_one_line(tmp_path, capsys, predictions, ground_truth, monkeypatch):
    import errno

    out = tmp_path / "metrics.json"
    out.write_text("earlier metrics\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    line = refused(capsys, ["eval", predictions, ground_truth, "-o", out], [out, predictions, ground_truth])
    assert "No space left on device" in line and str(out) in line
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_a_full_disk_during_a_batch_keeps_what_was_written(tmp_path, capsys, colour_method, batch_input, monkeypatch):
    import errno

    out = tmp_path / "out.jsonl"
    real_write = os.write
    calls = []

    def write(fd, data):
        if bytes(data[:12]) == b'{"vtg_batch"':
            calls.append(1)
            if len(calls) == 2:  # the second record finds the disk full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    line = one_error(capsys, main([str(a) for a in batch(out, batch_input)]))
    assert "No space left on device" in line
    monkeypatch.setattr(os, "write", real_write)
    assert [r["qid"] for r in records(out)] == ["red"]
    assert main([str(a) for a in batch(out, batch_input)]) == 0  # resumes: nothing lost, nothing twice
    assert [r["qid"] for r in records(out)] == ["red", "green"]


def test_overlay_frames_never_write_through_a_planted_link(tmp_path, capsys, video):
    frames = tmp_path / "frames"
    frames.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("keep me")
    (frames / "frame_000001.png").symlink_to(secret)
    refused(capsys, ["overlay", video, "--frames-dir", frames], [video, secret, frames / "frame_000001.png"],
            match="symbolic link")


def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path, capsys, predictions, ground_truth,
                                                                 monkeypatch):
    """Checked with os.access (root passes every permission check, so the answer is simulated)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != locked and real_access(p, mode, **kw))
    read = []
    import vtg.eval.loaders as loaders

    monkeypatch.setattr(loaders, "_open_text", lambda path: read.append(path) or "")
    line = refused(capsys, ["eval", predictions, ground_truth, "-o", locked / "m.json"], [locked])
    assert "permission denied" in line and str(locked) in line and read == []


def test_plot_refuses_a_format_it_cannot_write_before_drawing(tmp_path, capsys, predictions):
    refused(capsys, ["plot", predictions, "-o", tmp_path / "curve.xyz"], [predictions, tmp_path / "curve.xyz"],
            match="cannot write .xyz")


def test_batch_keeps_a_whole_last_record_that_lost_its_newline(tmp_path, capsys, colour_method, batch_input):
    out = tmp_path / "out.jsonl"
    assert main([str(a) for a in batch(out, batch_input)]) == 0
    out.write_bytes(out.read_bytes().rstrip(b"\n"))  # an editor dropped the final newline
    before = records(out)
    assert main([str(a) for a in batch(out, batch_input)]) == 0
    assert records(out) == before and out.read_bytes().endswith(b"}\n")


def test_new_output_never_overwrites_an_earlier_backup(tmp_path, capsys, colour_method, batch_input):
    out = tmp_path / "out.jsonl"
    assert main([str(a) for a in batch(out, batch_input)]) == 0
    first = out.read_bytes()
    (tmp_path / "out.jsonl.~1~").write_text("someone's file\n")
    assert main([str(a) for a in batch(out, batch_input, "--new-output")]) == 0
    assert (tmp_path / "out.jsonl.~1~").read_text() == "someone's file\n"
    assert (tmp_path / "out.jsonl.~2~").read_bytes() == first


@pytest.mark.parametrize("window", [[1e6, 1e6 + 5], [0, 1e6], [25, 30]])
def test_ground_truth_windows_outside_the_video_are_refused(tmp_path, capsys, predictions, window):
    gt = write_jsonl(tmp_path / "gt.jsonl", [{"qid": 1, "query": "q", "vid": "v", "duration": 20.0,
                                              "relevant_windows": [window]}])
    refused(capsys, ["eval", predictions, gt], [gt, predictions], match=f"{gt}:1")
    refused(capsys, ["train", "univtg", gt, "-o", tmp_path / "run", "--features", tmp_path], [gt],
            match="outside the video")


def test_parse_refuses_to_overwrite_its_answers(tmp_path, capsys):
    answers = write_jsonl(tmp_path / "answers.jsonl", [{"qid": 1, "video": "v.mp4", "query": "q", "duration": 10,
                                                        "answer": "From 1 to 2 seconds."}])
    refused(capsys, ["parse", answers, "-a", "timechat", "-o", answers], [answers], match="input of this command")


def test_predictions_of_unknown_duration_read_everywhere(tmp_path, capsys, ground_truth):
    """`vtg parse` writes duration 0 when an answer has none: every reader accepts it."""
    answers = write_jsonl(tmp_path / "answers.jsonl", [{"qid": 1, "video": "v.mp4", "query": "q",
                                                        "answer": "From 1 to 2 seconds."}])
    preds = tmp_path / "preds.jsonl"
    assert main(["parse", str(answers), "-a", "timechat", "-o", str(preds)]) == 0
    assert main(["eval", str(preds), str(ground_truth), "--json"]) == 0


def test_error_kinds_of_exceptions_and_of_earlier_records():
    from vtg.batch.journal import error_kind, recorded_kind
    from vtg.errors import (CorruptVideoError, DataError, DependencyError, EmptyQueryError, UnknownNameError,
                            WeightsNotFoundError)
    from vtg.outputs import WriteError

    assert [error_kind(e) for e in (DataError("x"), EmptyQueryError("x"), UnknownNameError("method", "m", []),
                                    CorruptVideoError("x"), "malformed JSON on line 3")] == ["input"] * 5
    assert [error_kind(e) for e in (WeightsNotFoundError("x"), DependencyError("f", "p"), MemoryError(),
                                    PermissionError("x"), RuntimeError("CUDA out of memory"),
                                    WriteError("disk full"))] == ["environment"] * 6
    assert error_kind(ZeroDivisionError()) == "internal"
    old = [("VideoNotFoundError: video not found: x.mp4", "input"), ("malformed JSON on line 3", "input"),
           ("WeightsNotFoundError: not cached", "environment"), ("ValueError: boom", "environment")]
    assert [recorded_kind({"status": "error", "error": text}) for text, _ in old] == [k for _, k in old]


def test_an_earlier_vtg_journal_with_another_method_is_a_mismatch(tmp_path, capsys, colour_method, batch_input, video):
    old = {"qid": "red", **{k: v for k, v in result(video, qid="red").items() if k != "qid"}, "status": "ok", "line": 1}
    out = write_jsonl(tmp_path / "out.jsonl", [{**old, "method": "tfvtg"}])
    line = refused(capsys, batch(out, batch_input), [out, batch_input], match="method=tfvtg")
    assert "not recorded by that vtg" in line

"""Regressions from walking through the README, docs and examples as a new user: output that fits
an 80-column terminal, files other people can read, messages that name the right input."""

from __future__ import annotations

import json
import os
import runpy
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from vtg.cli.main import main
from vtg.types import Grounding, Moment, Saliency

ROOT = Path(__file__).resolve().parents[1]


def result(duration: float = 3600.0, scores=None, moments=(Moment(224.0, 236.0, 1.0), Moment(26.0, 38.0, 0.9))):
    scores = np.linspace(0, 1, 3600) if scores is None else np.asarray(scores, float)
    times = np.linspace(0, duration, scores.size, endpoint=False)
    return Grounding("a person opens the door", "/videos/long.mp4", duration, moments, Saliency(times, scores), "tfvtg")


@pytest.mark.parametrize("columns", [60, 80, 132])
def test_table_fits_the_terminal(monkeypatch, columns):
    """The sparkline line was 83-85 characters whatever the terminal (it wrapped at 80), and the
    title wrapped onto two centred lines over the narrow table."""
    from vtg.writers import render

    monkeypatch.setenv("COLUMNS", str(columns))
    lines = render([result()], "table").splitlines()
    assert max(len(line) for line in lines) <= max(columns, 40)
    assert lines[0] == "'a person opens the door' in long (1:00:00.0, tfvtg)"
    spark = [line for line in lines if line.startswith("saliency ")]
    assert len(spark) == 1 and spark[0].endswith(" 1:00:00.0")


def test_flat_saliency_is_still_a_visible_line():
    """A Video-LLM answer with no interval gives an all-zero curve; it printed as blank space."""
    from vtg.writers import TableWriter

    line = TableWriter().sparkline(result(30.0, np.zeros(31), moments=()))
    assert len(line) == 31 and " " not in line


def test_csv_uses_plain_newlines():
    from vtg.writers import render

    text = render([result()], "csv")
    assert "\r" not in text and text.count("\n") == 3


def test_eval_table_keeps_whole_headers_at_80_columns(monkeypatch, tmp_path, capsys):
    """At 80 columns rich cut the ten-column table's headers to 'R1@0…'; it is split in two now."""
    gt = tmp_path / "gt.jsonl"
    gt.write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "duration": 30, "relevant_windows": [[5, 10]]}) + "\n")
    pred = tmp_path / "pred.jsonl"
    pred.write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "pred_relevant_windows": [[5, 10, 1.0]]}) + "\n")
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["eval", str(pred), str(gt)]) == 0
    out = capsys.readouterr().out
    assert "…" not in out and max(map(len, out.splitlines())) <= 80
    for header in ("R1@0.3", "R5@0.7", "mIoU", "mAP@0.75"):
        assert header in out
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["eval", str(pred), str(gt)]) == 0
    wide = capsys.readouterr().out
    assert sum("R1@0.3" in line and "mAP@0.75" in line for line in wide.splitlines()) == 1  # one table


def test_eval_with_the_files_swapped_says_so(tmp_path, capsys):
    pred = tmp_path / "pred.jsonl"
    pred.write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "pred_relevant_windows": [[5, 10, 1.0]]}) + "\n")
    assert main(["eval", str(pred), str(pred)]) != 0
    err = capsys.readouterr().err
    assert "PREDICTIONS first" in err and len(err.strip().splitlines()) == 1


def test_written_results_are_readable_by_others(tmp_path):
    """mkstemp's 0600 leaked into every result, report page and converted model."""
    from vtg.fileio import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "result.json", "{}")
        assert stat.S_IMODE((tmp_path / "result.json").stat().st_mode) == 0o644
        (tmp_path / "private.json").write_text("")
        (tmp_path / "private.json").chmod(0o600)
        atomic_write_text(tmp_path / "private.json", "{}")  # an existing file keeps its mode
        assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_missing_query_image_is_called_an_image(three_scene_video, tmp_path, capsys):
    code = main(["ground", str(three_scene_video), "--image", str(tmp_path / "frame.png"), "-e", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and err.strip() == f"vtg: error: image not found: {tmp_path / 'frame.png'}"


def test_methods_wrap_to_the_terminal(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 80 and "tfvtg" in out


def test_quickstart_example_stops_with_one_line_not_a_traceback(three_scene_video, tmp_path, monkeypatch):
    """Without cached BLIP-2 weights the README's quickstart command printed a 20-line traceback."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setattr(sys, "argv", ["quickstart.py", str(three_scene_video), "a person"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    message = str(exc.value.code)
    assert message.startswith("error: weights for") and "vtg models download" in message


def test_table_prints_the_query_as_typed():
    """rich turned ':dog:' in a query into an emoji."""
    from vtg.writers import render

    g = Grounding("a :dog: barks", "v.mp4", 10.0, (Moment(1, 2, 1),), Saliency(np.arange(10.0), np.arange(10.0)), "tfvtg")
    assert render([g], "table").splitlines()[0] == "'a :dog: barks' in v (0:10.0, tfvtg)"


def test_models_listing_fits_80_columns(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("VTG_CACHE_DIR", str(tmp_path / "vtg"))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    ours = [line for line in out.splitlines() if str(tmp_path) not in line]  # paths are as long as they are
    assert "blip2-itm-coco" in out and max(map(len, ours)) <= 80


def test_batch_summary_of_a_finished_run_has_no_zero_rate():
    """Rerunning a finished batch printed '0.0 s (0.00 queries/s)'."""
    from vtg.batch.runner import BatchSummary

    assert "queries/s" not in BatchSummary(lines=3, skipped=3, seconds=0.01).text()
    assert "(2.00 queries/s)" in BatchSummary(lines=3, ok=2, seconds=1.0).text()


def test_json_keeps_number_lists_on_one_line():
    """`vtg ground --json` on an hour of video was 9,150 lines, one number per line."""
    from vtg.writers import render

    g = result()
    text = render([g], "json")
    assert len(text.splitlines()) < 40
    assert json.loads(text) == json.loads(render([g], "jsonl"))
    assert '\n    [224.0, 236.0, 1.0],\n' in text  # one window per line
    odd = Grounding("find [1,\n  2] and [3,   4]", "v.mp4", 10.0, (), Saliency.empty(), "tfvtg")
    assert json.loads(render([odd], "json"))["query"] == odd.query  # strings are never touched


def test_index_for_univtg_fills_what_ground_reads(three_scene_video, tmp_path, capsys):
    """`vtg index --method univtg` stopped with 'chooses its frame rate per video; pass --fps',
    though UniVTG always reads two frames per 2-s clip (1 fps; it keeps the centre ones)."""
    torch = pytest.importorskip("torch")
    import vtg
    from vtg.encoders.testing import tiny_hf_clip
    from vtg.methods.univtg.config import ModelConfig
    from vtg.methods.univtg.model import UniVTGModel
    from vtg.methods.univtg.weights import save_model

    encoder = tiny_hf_clip(tmp_path / "clip")
    torch.manual_seed(0)
    cfg = ModelConfig(v_feat_dim=18, t_feat_dim=32, hidden_dim=16, enc_layers=1, nheads=2, dim_feedforward=32,
                      video_features="custom")
    model = save_model(UniVTGModel(cfg), cfg, tmp_path / "univtg")
    assert main(["index", str(three_scene_video), "--method", "univtg", "-e", str(encoder), "--device", "cpu"]) == 0
    assert "computed 12 frames [16] at 1.0 fps" in capsys.readouterr().out  # 2 per clip: centre frames used
    cache = Path(os.environ["VTG_CACHE_DIR"]) / "features"
    before = sorted(cache.glob("*.npy"))
    vtg.ground(three_scene_video, "red", method="univtg", model=str(model), encoder=str(encoder), device="cpu")
    assert sorted(cache.glob("*.npy")) == before  # ground found the indexed features


def test_long_plots_use_clock_time_throughout():
    """An hour's plot had ticks at 8:20, 16:40, ... and legends in raw seconds ('2006.0-2019.0 s');
    a 150-s plot mixed '90' with '2:00' on one axis and showed '20-37.6667' in its legend."""
    from vtg.plot import seconds_label, tick_step

    assert seconds_label(5400) == "1:30:00" and seconds_label(754) == "12:34" and seconds_label(30) == "30"
    assert seconds_label(30, clock=True) == "0:30" and seconds_label(150, clock=False) == "150"
    assert tick_step(30.7) is None and tick_step(150) == 30 and tick_step(3600) == 600
    assert tick_step(36000) == 3600 and tick_step(100 * 3600) == 36000  # ~10 ticks however long


def test_report_curve_ticks_on_whole_minutes():
    from vtg.report.svg import saliency_svg

    svg = saliency_svg(result())  # one hour
    assert ">10:00<" in svg and ">1:00:00<" in svg and "8:20" not in svg
    assert ">0:30<" in saliency_svg(result(150.0))  # no '30s' next to '2:00' on one axis


@pytest.mark.parametrize("command", ["ground", "index", "batch", "export", "eval", "plot", "report", "summarize",
                                     "train univtg", "pseudo-label", "overlay", "models convert"])
def test_help_is_not_cut_at_80_columns(monkeypatch, capsys, command):
    """rich cuts a help word longer than its column with '…': `vtg ground --help` lost the BLIP-2
    spec, `vtg export --help` the default name template."""
    monkeypatch.setenv("COLUMNS", "80")
    main([*command.split(), "--help"])
    out = capsys.readouterr().out
    assert "Usage" in out and "…" not in out


def test_eval_says_when_nothing_matches(tmp_path, capsys):
    gt = tmp_path / "gt.jsonl"
    gt.write_text(json.dumps({"qid": 1, "query": "q", "vid": "v", "duration": 30, "relevant_windows": [[5, 10]]}) + "\n")
    pred = tmp_path / "pred.jsonl"
    pred.write_text(json.dumps({"qid": 2, "query": "other", "vid": "w", "pred_relevant_windows": [[5, 10, 1.0]]}) + "\n")
    assert main(["eval", str(pred), str(gt)]) == 1                     # a script notices the wrong pair
    err = capsys.readouterr().err
    assert err.startswith("vtg: error: none of the 1 predictions") and err.count("\n") == 1

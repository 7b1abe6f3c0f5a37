"""Hostile numbers, second pass: every option, flag and environment value typed and ranged.

Each case gives a value nobody means (``nan``, ``inf``, ``1e308``, an IoU of 5, a frame rate of 0)
through one front end (``-O key=value``, a CLI flag, an environment variable, a batch line, a
server request) and asserts exactly one ``vtg: error:`` line (or one JSON error body / one error
record) naming the option, the value and the allowed range, no traceback, and that no model was
loaded or downloaded for it (counted: the preflight's download step and the grounding call are
patched to count; in a subprocess, torch is never imported).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vtg
from vtg.cli.main import main
from vtg.errors import UsageError

REPO = Path(__file__).resolve().parents[1]


def one_line_error(capsys, code: int) -> str:
    """The CLI failed with exit code ``code`` and exactly one ``vtg: error:`` line, no traceback."""
    err = capsys.readouterr().err
    assert code != 0, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("vtg: error:")]
    assert len(lines) == 1 and len(err.strip().splitlines()) == 1, err
    return lines[0]


@pytest.fixture
def model_work(monkeypatch):
    """Counts the two steps that load or fetch models: the preflight's download and the grounding."""
    calls: list[str] = []
    import vtg.planning

    monkeypatch.setattr(vtg.planning, "fetch_models", lambda *a, **k: calls.append("fetch_models"))
    monkeypatch.setattr(vtg, "ground", lambda *a, **k: calls.append("ground"))
    return calls


@pytest.fixture
def no_gpu_driver(monkeypatch):
    """This machine's GPU driver files, as if there were none (the check must not need torch)."""
    import vtg.options

    monkeypatch.setattr(vtg.options, "GPU_DRIVER_FILES", ("/nonexistent/nvidia0",))


# -- 1. -O key=value for every method -------------------------------------------------------------

OPTION_CASES = [
    ("tfvtg", "nms_iou", "inf", "[0, 1]"),
    ("tfvtg", "nms_iou", "5", "[0, 1]"),
    ("tfvtg", "gamma", "nan", "[0, 10]"),
    ("tfvtg", "gamma", "-1e308", "[0, 10]"),
    ("tfvtg", "mask_threshold", "-0.5", "[0, 1]"),
    ("tfvtg", "stride", "0", "[1, 100000]"),
    ("tfvtg", "top_k", "2.5", "[1, 1000]"),
    ("tfvtg", "llm_timeout", "1e308", "(0, 86400]"),
    ("tfvtg", "fps", "0", "(0, 1000]"),
    ("univtg", "nms_iou", "1.5", "[0, 1]"),
    ("univtg", "summary_ratio", "0", "(0, 1]"),
    ("numpro", "select_threshold", "nan", "[0, 1000]"),
    ("numpro", "select_threshold", "inf", "[0, 1000]"),
    ("numpro", "input", "audio", "one of video, images"),
    ("timemarker", "short_fps", "-2", "(0, 1000]"),
    ("vtgllm", "num_frames", "-3", "[1, 1000000]"),
    ("refine", "k", "0", "[1, 1000]"),
    ("refine", "margin", "inf", "[0, 100]"),
]


@pytest.mark.parametrize("method,key,value,allowed", OPTION_CASES,
                         ids=[f"{m}-{k}={v}" for m, k, v, _ in OPTION_CASES])
def test_out_of_range_method_option_is_one_line_before_any_model(capsys, three_scene_video, model_work,
                                                                   method, key, value, allowed):
    code = main(["ground", str(three_scene_video), "a person", "-m", method, "-O", f"{key}={value}"])
    line = one_line_error(capsys, code)
    assert f"{method} option {key} must be" in line and allowed in line and value in line, line
    assert model_work == []


def test_python_api_checks_the_same_ranges_defaults_included(three_scene_video):
    from vtg.registry import method_class

    tfvtg = method_class("tfvtg")
    with pytest.raises(UsageError, match=r"nms_iou must be a number in \[0, 1\], got nan"):
        vtg.ground(three_scene_video, "x", nms_iou=math.nan)
    with pytest.raises(UsageError, match=r"gamma must be a number in \[0, 10\], got -1"):
        tfvtg(config=tfvtg.Config(gamma=-1.0))  # a Config built by hand is checked too
    with pytest.raises(UsageError, match=r"top_k must be an integer in \[1, 1000\], got 0"):
        vtg.ground("missing.mp4", "x", top_k=0)  # before the video is even looked at
    assert tfvtg(nms_iou="0.5", top_k="3").config.top_k == 3  # strings from -O are still typed


@pytest.mark.parametrize("options", [{"nms_iou": 10 ** 400}, {"top_k": -10 ** 400}, {"stride": 1e400},
                                     {"top_k": True}, {"preset": 5}], ids=["huge-int-float", "huge-int", "inf-int",
                                                                           "bool-int", "number-for-text"])
def test_json_values_of_the_wrong_kind_or_size_are_usage_errors(options):
    """A JSON line or request can carry a 400-digit integer (float() overflows on it), a bool where
    an integer belongs, or a number where a word does: each is the same one-line UsageError."""
    from vtg.registry import load_method

    (key, value), = options.items()
    with pytest.raises(UsageError, match=f"tfvtg option {key} must be"):
        load_method("tfvtg", **options)


# -- 2. CLI flags, checked while the command line is parsed ---------------------------------------

FLAG_CASES = [
    (["ground", "VIDEO", "q", "--fps", "-1"], "--fps", "(0, 1000]", "-1"),
    (["ground", "VIDEO", "q", "--fps", "0"], "--fps", "(0, 1000]", "got 0"),
    (["ground", "VIDEO", "q", "--fps", "nan"], "--fps", "(0, 1000]", "nan"),
    (["ground", "VIDEO", "q", "--top-k", "0"], "--top-k", "[1, 1000]", "got 0"),
    (["index", "VIDEO", "--max-frames", "0"], "--max-frames", "[1, 1000000]", "got 0"),
    (["overlay", "VIDEO", "-o", "o.mp4", "--out-fps", "inf"], "--out-fps", "(0, 1000]", "inf"),
    (["search", "q", "-L", "lib", "--top", "100000"], "--top", "[1, 10000]", "100000"),
    (["export", "RESULTS", "--pad", "-3"], "--pad", "[0, 10000000]", "-3"),
    (["--frame-limit", "inf", "ground", "VIDEO", "q"], "--frame-limit", "[1, 1000000000]", "inf"),
]


@pytest.mark.parametrize("argv,flag,allowed,shown", FLAG_CASES, ids=[" ".join(c[0][:3]) + " " + c[1] for c in FLAG_CASES])
def test_out_of_range_flag_is_one_line(capsys, tmp_path, three_scene_video, model_work, argv, flag, allowed, shown):
    results = tmp_path / "r.jsonl"
    results.write_text("")
    argv = [str(three_scene_video) if a == "VIDEO" else str(results) if a == "RESULTS" else a for a in argv]
    line = one_line_error(capsys, main(argv))
    assert f"{flag} must be" in line and allowed in line and shown in line, line
    assert model_work == []


def test_device_cuda_without_a_gpu_driver_is_refused_at_once(capsys, three_scene_video, model_work, no_gpu_driver):
    line = one_line_error(capsys, main(["ground", str(three_scene_video), "q", "--device", "cuda"]))
    assert "--device cuda" in line and "no GPU driver" in line and "--device cpu" in line
    line = one_line_error(capsys, main(["ground", str(three_scene_video), "q", "--device", "tpu"]))
    assert "one of auto, cpu, cuda, cuda:N" in line and "'tpu'" in line
    assert model_work == []


def test_resolve_device_refuses_cuda_without_a_driver_before_torch(no_gpu_driver):
    from vtg.device import resolve_device

    with pytest.raises(UsageError, match="no GPU driver"):
        resolve_device("cuda:1")


# -- 3. environment variables ---------------------------------------------------------------------

ENV_CASES = [
    ("VTG_LLM_TIMEOUT", "1e308", "(0, 86400]"),
    ("VTG_LLM_TIMEOUT", "inf", "(0, 86400]"),
    ("VTG_DEBUG", "maybe", "one of 1, true, yes, on, 0, false, no, off"),
    ("VTG_MAX_FRAMES", "nan", "[1, 1000000000]"),
    ("VTG_MAX_PIXELS", "-1", "[1, 10000000000]"),
    ("VTG_MAX_FRAME_BYTES", "1e60", "[1, 1125899906842624]"),
    ("VTG_MAX_CHECKPOINT_BYTES", "0", "[1, 1125899906842624]"),
    ("HF_HUB_ETAG_TIMEOUT", "1e308", "(0, 86400]"),
]


@pytest.mark.parametrize("name,value,allowed", ENV_CASES, ids=[f"{n}={v}" for n, v, _ in ENV_CASES])
def test_bad_environment_value_is_one_line_naming_it(capsys, monkeypatch, three_scene_video, model_work,
                                                     name, value, allowed):
    monkeypatch.setenv(name, value)
    line = one_line_error(capsys, main(["ground", str(three_scene_video), "a person"]))
    assert line == f"vtg: error: {name} must be {_describe(name)}, got {value!r}" and allowed in line, line
    assert model_work == []


def _describe(name: str) -> str:
    from vtg.envvars import ENV_VARS

    return ENV_VARS[name].describe()


def test_llm_timeout_of_1e308_is_a_usage_error_not_a_thread_overflow(monkeypatch):
    from vtg.llm.openai_http import OpenAIBackend

    monkeypatch.setenv("VTG_LLM_TIMEOUT", "1e308")
    with pytest.raises(UsageError, match=r"VTG_LLM_TIMEOUT must be a number in \(0, 86400\]"):
        OpenAIBackend("http://127.0.0.1:9/v1", "m")


def test_every_environment_variable_read_is_declared():
    """Every VTG_* name the source reads from os.environ is in the registry (so it has a range)."""
    from vtg.envvars import ENV_VARS

    read: set[str] = set()
    for folder in ("vtg", "methods", "overlays"):
        for path in (REPO / folder).rglob("*.py"):
            read |= set(re.findall(r"""environ(?:\.get)?[\[(]\s*["'](VTG_[A-Z_]+)""", path.read_text()))
            read |= set(re.findall(r"""positive_number\(\s*["'](VTG_[A-Z_]+)""", path.read_text()))
    assert read and read <= set(ENV_VARS), read - set(ENV_VARS)


def test_decoder_choices_match_the_backends():
    from vtg.envvars import ENV_VARS
    from vtg.video.backends import BACKENDS

    assert sorted(ENV_VARS["VTG_DECODER"].check.values) == sorted(BACKENDS)


def test_every_numeric_option_of_every_method_has_a_range():
    from vtg.options import field_specs
    from vtg.registry import method_class, registered_methods

    for name in registered_methods():
        for field, spec in field_specs(method_class(name).Config).items():
            if spec.kind in (int, float):
                assert spec.check is not None, f"{name} option {field} has no declared range"


# -- 4. batch lines and the batch command line ----------------------------------------------------

def test_batch_lines_out_of_range_get_error_records_and_load_nothing(tmp_path, three_scene_video, monkeypatch):
    from vtg.batch import local, run_batch

    loaded: list[str] = []
    real = local.instantiate
    monkeypatch.setattr(local, "instantiate", lambda *a, **k: loaded.append("method") or real(*a, **k))
    bad = [{"nms_iou": 5}, {"gamma": "nan"}, {"top_k": 0}, {"fps": -1}, {"mask_threshold": 1e308}]
    lines = [{"video": str(three_scene_video), "query": "red", "qid": i, "options": o} for i, o in enumerate(bad)]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    summary = run_batch(src, out, method="tfvtg", fsync=False)
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert summary.failed == len(bad) and [r["status"] for r in records] == ["error"] * len(bad)
    for record, options in zip(records, bad):
        (key, value), = options.items()
        assert f"option {key} must be" in record["error"] and f"got {value!r}"[:8] in record["error"], record
    assert loaded == []


def test_batch_command_line_option_out_of_range_is_one_line_and_no_output(capsys, tmp_path, three_scene_video):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"video": str(three_scene_video), "query": "red"}) + "\n")
    line = one_line_error(capsys, main(["batch", str(src), "-o", str(out), "-O", "top_k=0", "--no-progress"]))
    assert "tfvtg option top_k must be an integer in [1, 1000], got '0'" in line
    assert not out.exists()


# -- 5. the server: its command line, and request options (JSON 400) ------------------------------

def test_serve_option_out_of_range_is_refused_before_starting(capsys, tmp_path, monkeypatch):
    import vtg.serve

    started: list[str] = []
    monkeypatch.setattr(vtg.serve, "run", lambda *a, **k: started.append("run"))
    line = one_line_error(capsys, main(["serve", str(tmp_path), "-O", "nms_iou=2"]))
    assert "tfvtg option nms_iou must be a number in [0, 1], got '2'" in line and started == []


def test_request_options_out_of_range_are_a_400_before_the_method_runs():
    """The server's per-request copy of the warm method (Service.method_for) applies the schema; the
    app maps the UsageError to a JSON 400 (vtg.serve.errors)."""
    from vtg.registry import load_method
    from vtg.serve.errors import status_of
    from vtg.serve.service import Service

    service = Service.__new__(Service)  # only the method: no models, roots or port for this check
    service.method = load_method("tfvtg", encoder="ViT-B-32/openai")
    for options, words in [({"nms_iou": 5}, "nms_iou must be a number in [0, 1], got 5"),
                           ({"gamma": float("nan")}, "gamma must be a number in [0, 10], got nan"),
                           ({"stride": 0}, "stride must be an integer in [1, 100000]"),
                           ({"mask_threshold": "inf"}, "mask_threshold must be a number in [0, 1], got 'inf'")]:
        with pytest.raises(UsageError) as caught:
            service.method_for(options)
        assert words in str(caught.value)
        assert status_of(caught.value) == 400
    assert service.method_for({"nms_iou": 0.5}).config.nms_iou == 0.5


@pytest.mark.slow
def test_live_server_answers_out_of_range_request_options_with_json_400(tmp_path, three_scene_video):
    from serve_helpers import start_server

    from vtg.encoders.testing import tiny_hf_clip

    root = tmp_path / "root"
    root.mkdir()
    three_scene_video.rename(root / "clip.mp4")
    model = tiny_hf_clip(tmp_path / "clip")
    server = start_server([str(root), "--encoder", str(model), "--device", "cpu", "-O", "stride=6"],
                          tmp_path / "server.log", cache=tmp_path / "cache")
    try:
        for options, words in [({"nms_iou": 5}, "nms_iou must be a number in [0, 1], got 5"),
                               ({"gamma": "nan"}, "gamma must be a number in [0, 10], got 'nan'"),
                               ({"rise_threshold": -1e308}, "rise_threshold must be a number in [0, 1]")]:
            status, body = server.json("POST", "/ground", {"video": "clip.mp4", "query": "red", "options": options})
            assert status == 400 and words in body["error"], body
        status, body = server.json("POST", "/ground", {"video": "clip.mp4", "query": "red", "options": {"nms_iou": 0.5}})
        assert status == 200 and body["pred_relevant_windows"], body
    finally:
        server.stop()
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "Traceback" not in log and "RuntimeWarning" not in log


# -- 6. before any heavy import: torch is never imported for a bad argument ------------------------

SUBPROCESS_CASES = [
    ["ground", "VIDEO", "q", "-O", "nms_iou=inf"],
    ["ground", "VIDEO", "q", "--fps", "0"],
    ["ground", "VIDEO", "q", "-m", "numpro", "-O", "select_threshold=nan"],
]


@pytest.mark.parametrize("argv", SUBPROCESS_CASES, ids=[" ".join(a[3:]) for a in SUBPROCESS_CASES])
def test_bad_arguments_fail_without_importing_torch(three_scene_video, argv):
    argv = [str(three_scene_video) if a == "VIDEO" else a for a in argv]
    code = ("import sys; from vtg.cli.main import main; rc = main(sys.argv[1:]); "
            "heavy = [m for m in ('torch', 'transformers', 'open_clip', 'av') if m in sys.modules]; "
            "print(rc, heavy)")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.strip() == "2 []", done
    assert [line.startswith("vtg: error:") for line in done.stderr.splitlines()] == [True], done.stderr


def test_docs_list_every_option_with_its_range():
    """docs/options.md shows what `vtg methods -v` shows (the tables are the schema's own words)."""
    import dataclasses

    from vtg.envvars import ENV_VARS
    from vtg.registry import list_methods
    from vtg.options import describe_options

    page = (REPO / "docs" / "options.md").read_text()
    for cls in list_methods():
        section = page.split(f"### {cls.name}\n", 1)[1].split("###", 1)[0]
        for field in dataclasses.fields(cls.Config):
            assert f"| `{field.name}` | `{field.default!r}` | {describe_options(cls.Config)[field.name]} |" in section, \
                (cls.name, field.name)
    for var in ENV_VARS.values():
        assert f"| `{var.name}` | {var.describe()} |" in page, var.name

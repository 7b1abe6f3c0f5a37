"""Every bad input of `vtg ground` ends in one line on stderr and a non-zero exit, no traceback."""

from __future__ import annotations

import pytest

from vtg.cli.main import main


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code != 0
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("vtg: error:"), err
    assert "Traceback" not in err
    for f in fragments:
        assert f.lower() in lines[0].lower(), lines[0]


def test_missing_video(capsys, tmp_path):
    code, _, err = run_cli(capsys, "ground", tmp_path / "nope.mp4", "a person")
    assert_one_line_error(code, err, "not found")


def test_text_file_is_not_a_video(capsys, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    code, _, err = run_cli(capsys, "ground", bad, "a person", "--encoder", tmp_path)
    assert_one_line_error(code, err)


def test_zero_length_file(capsys, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    code, _, err = run_cli(capsys, "ground", empty, "a person")
    assert_one_line_error(code, err)


def test_truncated_video(capsys, three_scene_video, tmp_path):
    data = three_scene_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    code, _, err = run_cli(capsys, "ground", cut, "a person")
    assert_one_line_error(code, err)


def test_empty_query(capsys, three_scene_video):
    code, _, err = run_cli(capsys, "ground", three_scene_video, "   ")
    assert_one_line_error(code, err, "empty")


def test_no_query_at_all(capsys, three_scene_video):
    code, _, err = run_cli(capsys, "ground", three_scene_video)
    assert_one_line_error(code, err, "empty")


def test_unknown_method_lists_known(capsys, three_scene_video):
    code, _, err = run_cli(capsys, "ground", three_scene_video, "a person", "--method", "magic")
    assert_one_line_error(code, err, "unknown method", "tfvtg")


def test_unknown_encoder(capsys, three_scene_video):
    code, _, err = run_cli(capsys, "ground", three_scene_video, "a person", "--encoder", "nosuchfamily:xyz")
    assert_one_line_error(code, err)


def test_missing_weights_say_how_to_get_them(capsys, three_scene_video):
    code, _, err = run_cli(capsys, "ground", three_scene_video, "a person",
                           "--encoder", "hf-clip:nobody/not-a-cached-model")
    assert_one_line_error(code, err, "nobody/not-a-cached-model")


def test_unknown_option(capsys, three_scene_video):
    code, _, err = run_cli(capsys, "ground", three_scene_video, "a person", "-O", "no_such_option=1")
    assert_one_line_error(code, err, "no_such_option")


def test_debug_flag_shows_traceback(three_scene_video, monkeypatch):
    from vtg.errors import VtgError

    monkeypatch.setenv("VTG_DEBUG", "0")  # restored after the test, whatever --debug sets

    with pytest.raises(VtgError):
        main(["--debug", "ground", str(three_scene_video), "  "])


def test_methods_lists_registered_methods(capsys):
    code, out, _ = run_cli(capsys, "methods", "--verbose")
    assert code == 0
    assert "tfvtg" in out
    assert "stride" in out


def test_help_works(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "ground" in out


def test_models_download_offline_fails_clearly(capsys):
    """HF_HUB_OFFLINE=1 (set for every test) must stop a download with one line, not hang or crash."""
    code, _, err = run_cli(capsys, "models", "download", "hf-clip-vit-b-32")
    assert_one_line_error(code, err, "could not download", "HF_HUB_OFFLINE")


def test_models_download_unknown_name(capsys):
    code, _, err = run_cli(capsys, "models", "download", "no-such-model-anywhere")
    assert code != 0 and "Traceback" not in err


def test_library_warnings_are_prefixed_lines(capsys, three_scene_video, tmp_path):
    """A json: decomposition file without this query falls back to the whole query with a warning."""
    import json

    from vtg.encoders.testing import tiny_hf_clip

    model = tiny_hf_clip(tmp_path / "clip")
    empty = tmp_path / "llm.json"
    empty.write_text(json.dumps({}))
    code, out, err = run_cli(capsys, "ground", three_scene_video, "a red wall", "--encoder", model,
                             "--llm", f"json:{empty}", "--json", "--no-progress")
    assert code == 0, err
    warnings = [l for l in err.splitlines() if l.startswith("vtg: warning:")]
    assert warnings, err

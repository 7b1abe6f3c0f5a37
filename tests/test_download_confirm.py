"""A large first download asks on a terminal, says its size, and can be declined or pre-approved.

Real downloads from ``tests/hub_server.py`` (127.0.0.1) through huggingface_hub's client; the
"large" threshold is lowered with ``$VTG_ASK_ABOVE_BYTES`` so a tiny test model counts as large.
"""

from __future__ import annotations

import io
import os

import pytest

import vtg
from hub_server import LocalHub
from vtg.cli.main import main
from vtg.encoders import clear_loaded, fetch, hub, weights
from vtg.encoders.testing import tiny_hf_clip
from vtg.errors import VtgError

REPO = "vtg-test/tiny-clip"


class Terminal(io.StringIO):
    """A stdin/stderr stand-in that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    return {REPO: tiny_hf_clip(tmp_path_factory.mktemp("confirm") / "clip")}


@pytest.fixture
def online(repos, tmp_path, monkeypatch):
    import huggingface_hub.constants

    with LocalHub(repos) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
        monkeypatch.delenv("VTG_YES", raising=False)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("VTG_ASK_ABOVE_BYTES", "1000")  # the tiny model is "large" here
        clear_loaded()
        yield server
        clear_loaded()


def at_terminal(monkeypatch, answer: str) -> Terminal:
    err = Terminal()
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    monkeypatch.setattr("sys.stderr", err)
    return err


def test_no_at_the_prompt_downloads_nothing_and_names_the_small_model(online, monkeypatch):
    err = at_terminal(monkeypatch, "n\n")
    with pytest.raises(hub.DownloadDeclinedError, match="ViT-B-32/openai, about 600 MB") as caught:
        fetch.ensure_weights(f"hf-clip:{REPO}")
    assert f"{REPO} is " in err.getvalue() and "KB to download" in err.getvalue()
    assert "[y/N]" in err.getvalue() and isinstance(caught.value, VtgError)
    assert online.downloaded() == []                                    # not a byte of weights


def test_yes_at_the_prompt_downloads(online, monkeypatch):
    err = at_terminal(monkeypatch, "y\n")
    assert fetch.ensure_weights(f"hf-clip:{REPO}").endswith("model.safetensors")
    assert "[y/N]" in err.getvalue() and f"vtg: downloading {REPO}" in err.getvalue()


def test_yes_flag_and_scripts_do_not_ask(online, monkeypatch, tmp_path):
    err = at_terminal(monkeypatch, "")                                    # nobody would answer
    code = main(["ground", str(tmp_path / "missing.mp4"), "q", "--yes"])  # --yes after the command works
    assert code == 1 and "[y/N]" not in err.getvalue()
    assert main(["models", "download", f"hf-clip:{REPO}", "--yes"]) == 0
    assert "[y/N]" not in err.getvalue() and "vtg: downloading" in err.getvalue()


def test_no_terminal_goes_ahead_with_the_size_line(online, monkeypatch, capsys):
    monkeypatch.setenv("VTG_ASK_ABOVE_BYTES", "1000")
    assert fetch.ensure_weights(f"hf-clip:{REPO}")                     # stdin is not a TTY under pytest
    assert "[y/N]" not in capsys.readouterr().err


def test_a_missing_repo_is_a_vtg_error_in_the_python_api(online, tmp_path):
    """The README's snippet against a hub without the model: vtg's one-line error, no chained
    huggingface_hub traceback."""
    from conftest import scene_frame, write_video

    video = write_video(tmp_path / "v.mp4", (scene_frame((200, 30, 30), (64, 48), 0) for _ in range(10)), 5.0)
    with pytest.raises(VtgError, match="no model 'nobody/nothing'") as caught:
        vtg.ground(video, "a red scene", encoder="hf-clip:nobody/nothing", device="cpu")
    error = caught.value  # Python would print no chained traceback under vtg's line
    assert error.__cause__ is None and (error.__suppress_context__ or error.__context__ is None), error.__context__


def test_bar_width_never_squeezes_to_nothing(monkeypatch):
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=0: os.terminal_size((0, 0)))
    assert hub.bar_width() == {"ncols": 80}
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=0: os.terminal_size((120, 40)))
    assert hub.bar_width() == {"dynamic_ncols": True}

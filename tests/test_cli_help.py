"""What the CLI prints about itself: help at 80 columns, --version, --debug anywhere."""

from __future__ import annotations

import re

import pytest

import vtg
from vtg.cli.main import lift_debug, main
from vtg.errors import VtgError


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


def help_text(capsys, *argv: str) -> str:
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


def test_help_prints_brackets_literally(narrow, capsys):
    assert "needs vtg[ray]" in " ".join(help_text(capsys, "batch").split())


@pytest.mark.parametrize("command", [("train", "univtg"), ("batch",), ("ground",), ("eval",)])
def test_help_leaves_room_for_the_text_at_80_columns(narrow, capsys, command):
    out = help_text(capsys, *command)
    assert max(len(line) for line in out.splitlines()) <= 80
    starts = []
    for line in out.splitlines():
        found = re.match(r"  (-\S.*?\S)  +(\S)", line)  # an option row with its help text
        if found:
            starts.append(found.start(2))
    assert starts and max(starts) <= 32, starts  # at least 48 columns for the text


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vtg {vtg.__version__}"


def test_debug_after_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VTG_DEBUG", "")  # restored after the test: --debug sets it
    missing = str(tmp_path / "missing.mp4")
    assert main(["ground", missing, "a person"]) != 0
    assert capsys.readouterr().err.startswith("vtg: error:")
    with pytest.raises(VtgError):  # --debug shows the traceback, wherever it is given
        main(["ground", missing, "a person", "--debug"])


def test_lift_debug_keeps_arguments_after_the_separator():
    assert lift_debug(["ground", "v.mp4", "q", "--debug"]) == ["--debug", "ground", "v.mp4", "q"]
    assert lift_debug(["--debug", "ground", "v.mp4"]) == ["--debug", "ground", "v.mp4"]
    assert lift_debug(["ground", "v.mp4", "--", "--debug"]) == ["ground", "v.mp4", "--", "--debug"]
    assert lift_debug(["eval", "p.jsonl"]) == ["eval", "p.jsonl"]
    assert lift_debug(["ground", "v.mp4", "q", "--yes", "--debug"]) == ["--debug", "--yes", "ground", "v.mp4", "q"]
    assert lift_debug(["ground", "v.mp4", "--", "--yes"]) == ["ground", "v.mp4", "--", "--yes"]


def test_python_dash_m_vtg_is_the_same_command_line():
    """``python -m vtg`` runs vtg's CLI (it used to fail: the package had no ``__main__``)."""
    import subprocess
    import sys

    import vtg

    proc = subprocess.run([sys.executable, "-m", "vtg", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert vtg.__version__ in proc.stdout + proc.stderr

"""Every command's help shows metavars people read (VIDEO, FILE, DIR, N, KEY=VALUE), never a
Python type (``<list[str]>``, ``<int range>``, ``<path>``) or typer's ``{video}``."""

from __future__ import annotations

import re

import pytest

from vtg.cli.main import command, main

#: A metavar that is a Python type (typer's ``<str>``, ``<list[Path]>``, ``<int range>``) or a
#: required argument in braces (``{video}``), at the start of a help row or in the usage line.
PYTHON_TYPE = re.compile(r"<(?:int|float|str|bool|path|file|dir|list\[[^\]]*\]|[a-z]+ range)>|\{[a-z_]+\}")


def all_commands():
    """(``vtg sub ...`` path, click command) for every command and group, plugins' included."""
    found = []

    def walk(cmd, path):
        found.append((path, cmd))
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, path + [name])

    walk(command(), [])
    return found


COMMANDS = all_commands()


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) or "vtg" for p, _ in COMMANDS])
def test_help_has_no_python_type_metavars(capsys, path):
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    usage = out.splitlines()[0]
    rows = [line.split("  ")[0] for line in out.splitlines() if line.startswith("  ")]  # the name column
    bad = PYTHON_TYPE.findall(usage) + [m for row in rows for m in PYTHON_TYPE.findall(row)]
    assert not bad, f"vtg {' '.join(path)} --help shows {bad}:\n{out}"


def test_the_metavars_say_what_to_type(capsys):
    assert main(["ground", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Usage: vtg ground [OPTIONS] VIDEO [QUERY]"
    for expected in ("--fps FPS", "-k, --top-k N", "-O, --option KEY=VALUE", "-o, --output FILE", "--image FILE"):
        assert expected in out, expected
    assert main(["export", "--help"]) == 0
    assert "--out-dir DIR" in capsys.readouterr().out
    assert main(["train", "univtg", "--help"]) == 0
    assert "-o, --output DIR" in capsys.readouterr().out  # a path whose help calls it a directory


def test_every_parameter_taking_a_value_has_a_readable_metavar():
    for path, cmd in COMMANDS:
        for param in getattr(cmd, "params", ()):
            if param.param_type_name == "option" and (param.is_flag or param.count):
                continue
            assert param.metavar and re.fullmatch(r"[A-Z][A-Za-z0-9_=.\-]*", param.metavar), (path, param.name)

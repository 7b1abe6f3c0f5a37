"""examples/ agree with the README: the same encoder as its main command, and every method runnable."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_encoder(path: Path, command: str) -> str:
    """The --encoder of the first line of ``path`` that runs ``command``."""
    line = next(l for l in path.read_text().splitlines() if command in l and "--encoder" in l)
    return re.search(r"--encoder (\S+)", line).group(1)


def test_quickstart_uses_the_readme_main_command_encoder():
    main_encoder = readme_encoder(ROOT / "README.md", "vtg ground ../shared/data/videos/charades_example.mp4")
    assert readme_encoder(ROOT / "examples" / "README.md", "examples/quickstart.py") == main_encoder
    source = (ROOT / "examples" / "quickstart.py").read_text()
    assert f'parser.add_argument("--encoder", default="{main_encoder}"' in source


def test_compare_methods_routes_encoder_and_models_to_the_methods_that_take_them():
    helpers = runpy.run_path(str(ROOT / "examples" / "compare_methods.py"))
    route = helpers["method_options"]
    models = ["univtg=runs/univtg", "numpro=Qwen/Qwen2-VL-2B-Instruct"]
    assert route("tfvtg", "ViT-B-32/openai", models) == {"encoder": "ViT-B-32/openai"}
    assert route("univtg", "ViT-B-32/openai", models) == {"encoder": "ViT-B-32/openai", "model": "runs/univtg"}
    assert route("numpro", "ViT-B-32/openai", models) == {"model": "Qwen/Qwen2-VL-2B-Instruct"}
    assert route("vtgllm", None, ["some/model"]) == {"model": "some/model"}  # a plain --model goes to all


def test_quickstart_runs_with_a_local_encoder(three_scene_video, tmp_path, monkeypatch, capsys):
    from vtg.encoders.testing import random_open_clip

    encoder = random_open_clip(tmp_path / "oc")
    monkeypatch.setattr(sys, "argv", ["quickstart.py", str(three_scene_video), "red", "--encoder", str(encoder),
                                      "--offline"])
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "with tfvtg:" in out and "#1:" in out and "saliency peaks at" in out


@pytest.mark.parametrize("script", ["quickstart.py", "compare_methods.py"])
def test_examples_document_their_flags(script):
    text = (ROOT / "examples" / "README.md").read_text()
    assert f"examples/{script}" in text and "--encoder" in text and "--model" in text


def test_readme_snippet_first_command_and_help_agree_on_the_encoder(capsys, monkeypatch):
    """The main command, the first "Using it" line and the Python snippet fetch the same ~600 MB
    encoder; `vtg ground --help` names TFVTG's default and both sizes; the CPU install comes
    before the plain `pip install -e .`."""
    from vtg.cli.main import main

    text = (ROOT / "README.md").read_text()
    main_encoder = readme_encoder(ROOT / "README.md", "vtg ground ../shared/data/videos/charades_example.mp4")
    using = text[text.index("## Using it"):]
    first = next(l for l in using.splitlines() if l.startswith("vtg ground"))
    assert re.search(r"(-e|--encoder) (\S+)", first).group(2) == main_encoder
    snippet = next(l for l in using.splitlines() if l.startswith("result = vtg.ground("))
    assert f'encoder="{main_encoder}"' in snippet
    install = text[text.index("## Install"):]
    assert install.index("download.pytorch.org/whl/cpu") < install.index("\npip install -e .\n")
    assert "MB" in install.split("pip install -e .")[0] and "GB" in install.split("pip install -e .")[0]
    monkeypatch.setenv("COLUMNS", "100")
    main(["ground", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "TFVTG's default is blip2" in help_text and "about 600 MB" in help_text

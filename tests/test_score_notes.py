"""Tables and reports say what a moment's score means, per method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vtg.registry import registered_methods, score_meaning
from vtg.types import Grounding, Moment, Saliency
from vtg.writers import render

ROOT = Path(__file__).resolve().parents[1]


def result(method: str, score: float = -0.42) -> Grounding:
    return Grounding("q", "v.mp4", 30.0, (Moment(1, 5, 1.0), Moment(8, 9, score)),
                     Saliency(np.arange(3.0), np.zeros(3)), method)


@pytest.mark.parametrize("name", sorted(registered_methods()))
def test_every_method_says_what_its_score_is(name):
    assert len(score_meaning(name)) > 40


def test_table_footnote_once_per_method():
    text = render([result("tfvtg"), result("tfvtg"), result("univtg")], "table")
    assert text.count("score (tfvtg):") == 1 and text.count("score (univtg):") == 1
    assert "less than the rest of the video" in " ".join(text.split())
    assert "score (" not in render([result("some-other-tool")], "table")
    assert score_meaning("some-other-tool") == ""


def test_docs_name_no_paths_of_the_development_machine():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        for prefix in ("/work/", "/home/"):
            assert prefix not in text, f"{page.name} names {prefix}...: use a path relative to the repository"

"""The server's per-request allow-list is derived from the option schema (issue 18): an option a
request may set is one a batch line may set (``line_options``) that its annotation marks
``SCORING``; nothing is kept by hand in vtg/serve."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

from vtg.method import line_options, request_options
from vtg.options import SCORING, IoU, Range, field_specs
from vtg.registry import list_methods

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ToyConfig:
    threshold: Annotated[IoU, SCORING] = 0.5          # scoring, line: a request may set it
    window: Annotated[int, Range(1, 10), SCORING] | None = None  # scoring, line, optional
    frames: Annotated[int, Range(1, 100)] = 8         # a line may set it, but it is not scoring
    secret_scale: Annotated[float, SCORING] = 1.0     # scoring, but no line may set it
    line_options: ClassVar[frozenset[str]] = frozenset({"threshold", "window", "frames"})


def test_scoring_marker_is_read_from_the_annotation_with_its_range():
    specs = field_specs(ToyConfig)
    assert specs["threshold"].scoring and specs["threshold"].check == Range(0.0, 1.0)
    assert specs["window"].scoring and specs["window"].optional and specs["window"].kind is int
    assert not specs["frames"].scoring


def test_request_options_are_scoring_options_a_line_may_set():
    assert request_options(ToyConfig) == {"threshold", "window"}


def test_tfvtg_keeps_the_scoring_parameters_it_always_allowed():
    from vtg.registry import method_class

    assert request_options(method_class("tfvtg").Config) == {
        "preset", "stride", "max_window_fraction", "mask_threshold", "rise_threshold", "nms_iou",
        "gamma", "dynamic_weight", "calibration"}


def test_no_method_lets_a_request_set_more_than_a_line():
    for cls in list_methods():
        allowed = request_options(cls.Config)
        assert allowed <= line_options(cls.Config), cls.name
        assert not allowed & {"encoder", "device", "model", "fps", "llm", "llm_url", "top_k"}, cls.name


def test_server_answers_with_the_derived_list():
    from vtg.registry import load_method
    from vtg.serve.service import Service, allowed_request_options, request_options as checked
    from vtg.errors import UsageError
    import pytest

    service = Service.__new__(Service)
    service.method = load_method("tfvtg", encoder="ViT-B-32/openai")
    assert allowed_request_options(service.method) == sorted(request_options(type(service.method.config)))
    with pytest.raises(UsageError, match="cannot be set per request"):
        checked(service.method, {"fps": 2})


def test_docs_options_table_shows_the_derived_line_and_request_columns():
    page = (REPO / "docs" / "options.md").read_text()
    for cls in list_methods():
        section = page.split(f"### {cls.name}\n", 1)[1].split("###", 1)[0].split("\n## ", 1)[0]
        rows = dict(re.findall(r"^\| `(\w+)` \|.*\| ([^|]*) \|$", section, re.M))
        for name in field_specs(cls.Config):
            marks = [word for word, on in (("line", name in line_options(cls.Config)),
                                           ("request", name in request_options(cls.Config))) if on]
            assert rows[name].strip() == ", ".join(marks), (cls.name, name)

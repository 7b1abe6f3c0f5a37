"""--engine ray keeps Ray's own log lines off the terminal unless --debug."""

from __future__ import annotations

import logging

import pytest

from vtg.batch import ray_engine


class FakeRay:
    def __init__(self):
        self.calls = []

    def is_initialized(self):
        return False

    def init(self, **kwargs):
        self.calls.append(kwargs)


@pytest.mark.parametrize("debug,level", [("", "error"), ("1", "info")])
def test_connect_sets_ray_logging_from_debug(monkeypatch, debug, level):
    fake = FakeRay()
    monkeypatch.setattr(ray_engine, "import_ray", lambda: fake)
    monkeypatch.setenv("VTG_DEBUG", debug)
    assert ray_engine.connect(None, num_cpus=1) is True
    assert ray_engine.connect("auto") is True
    for call in fake.calls:
        assert call["logging_level"] == level and call["log_to_driver"] is False
        assert call["include_dashboard"] is False
    assert fake.calls[1]["address"] == "auto"


def test_ray_data_console_handlers_follow_debug():
    pytest.importorskip("ray.data")
    consoles = [h for h in logging.getLogger("ray.data").handlers
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]
    assert consoles  # Ray Data logs to the console by default: what this quiets
    before = [h.level for h in consoles]
    try:
        ray_engine.quiet_ray_data(False)
        assert all(h.level == logging.ERROR for h in consoles)
        ray_engine.quiet_ray_data(True)
        assert all(h.level == logging.INFO for h in consoles)
    finally:
        for h, level in zip(consoles, before):
            h.setLevel(level)

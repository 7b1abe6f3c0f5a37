"""The plan line: frames, model, device and an estimated time on stderr before long work."""

from __future__ import annotations

import json

import pytest

from vtg.cli import plan
from vtg.cli.main import main
from vtg.encoders.testing import random_open_clip
from vtg.features import features_dir


def test_the_issue_example_ten_minutes_at_three_fps_on_a_cpu(monkeypatch):
    """A 10-minute video at TFVTG's 3 fps is 1,845 frames: ~11 min of ViT-B/32 on a CPU (as measured
    in the issue), long enough to suggest a lower --fps."""
    monkeypatch.setattr("vtg.device.emulated_on_cpu", lambda precision, cpuinfo="": True)  # no bf16 units
    lines, long = plan.describe(1845, 615.0, 3.0, "open_clip:ViT-B-32/openai", "cpu")
    assert long and len(lines) == 2
    assert lines[0].startswith("vtg: plan: 1,845 frames (3 fps over 10:15) with open_clip:ViT-B-32/openai on cpu")
    assert "estimated 11 min (rough estimate for this model size on a CPU" in lines[0]
    assert lines[1].startswith("vtg: hint: --fps 0.5 would sample 308 frames")


def test_long_cpu_work_points_at_bf16_where_the_cpu_has_bf16_units(monkeypatch):
    from vtg.settings import changed

    monkeypatch.delenv("VTG_PRECISION", raising=False)
    monkeypatch.setattr("vtg.device.emulated_on_cpu", lambda precision, cpuinfo="": False)  # bf16 units
    lines, long = plan.describe(1845, 615.0, 3.0, "open_clip:ViT-B-32/openai", "cpu")
    assert long and lines[-1].startswith("vtg: hint: this CPU has bf16 units: vtg --precision bf16 encodes ~3.5x")
    assert "cosine of 0.9999 of fp32" in lines[-1]
    assert not any("bf16" in line for line in plan.describe(30, 30.0, 1.0, "open_clip:ViT-B-32/openai", "cpu")[0])
    assert not any("bf16" in line for line in plan.describe(1845, 615.0, 3.0, "open_clip:ViT-B-32/openai", "cuda")[0])
    with changed(precision="fp32"):  # a precision the user chose: no hint
        assert not any("bf16" in line for line in plan.describe(1845, 615.0, 3.0, "open_clip:ViT-B-32/openai", "cpu")[0])
    monkeypatch.setattr("vtg.device.emulated_on_cpu", lambda precision, cpuinfo="": True)  # emulated: no hint
    assert not any("bf16" in line for line in plan.describe(1845, 615.0, 3.0, "open_clip:ViT-B-32/openai", "cpu")[0])


def test_short_work_and_unknown_models():
    lines, long = plan.describe(30, 30.0, 1.0, "open_clip:ViT-B-32/openai", "cuda")
    assert not long and "on cuda; estimated 1 s" in lines[0]
    lines, long = plan.describe(30, 30.0, 1.0, "hf-clip:/some/dir", "cpu")
    assert not long and lines == ["vtg: plan: 30 frames (1 fps over 0:30) with hf-clip:/some/dir on cpu; "
                                  "no time estimate for this model"]
    assert plan.model_gflops("blip2:Salesforce/blip2-itm-vit-g-coco") > plan.model_gflops("open_clip:ViT-L-14/openai") \
        > plan.model_gflops("hf-siglip:google/siglip-base-patch16-224") > plan.model_gflops("open_clip:ViT-B-32/openai")


def record_run(encoder: str, count: int, seconds: float, name: str) -> None:
    """A feature-cache sidecar as vtg writes one after computing features."""
    folder = features_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"encoder": encoder, "count": count, "seconds": seconds}))


def test_this_machines_own_record_wins_over_the_table():
    spec = "open_clip:ViT-B-32/openai"
    for i, (count, seconds) in enumerate([(100, 50.0), (100, 25.0), (100, 100.0), (3, 100.0)]):
        record_run(spec, count, seconds, f"run{i}")
    rate, source = plan.frames_per_second(spec, "cpu")
    assert rate == pytest.approx(2.0) and source == "from 3 earlier runs of this model here"  # 3-frame run ignored


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return random_open_clip(tmp_path_factory.mktemp("oc"))


def test_ground_prints_the_plan_on_stderr_only(three_scene_video, tiny_encoder, capsys):
    args = ["ground", str(three_scene_video), "red", "-e", str(tiny_encoder), "--fps", "1", "--device", "cpu", "--json"]
    assert main(args + ["--progress"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout stays pure JSON
    assert f"vtg: plan: 12 frames (1 fps over 0:12) with open_clip:local-dir:{tiny_encoder} on cpu" in captured.err
    assert main(args + ["--progress"]) == 0  # features cached now: nothing to plan
    assert "vtg: plan" not in capsys.readouterr().err


def test_long_estimates_are_shown_even_without_progress(three_scene_video, tiny_encoder, capsys):
    record_run(f"open_clip:local-dir:{tiny_encoder}", 100, 2000.0, "slow")  # 0.05 frames/s here
    assert main(["index", str(three_scene_video), "-e", str(tiny_encoder), "--fps", "1", "--device", "cpu",
                 "--no-progress", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["frames"] == 12
    lines = captured.err.splitlines()
    assert lines[0].endswith("estimated 4 min (from 1 earlier run of this model here, ~0.05 frames/s)")
    assert lines[1].startswith("vtg: hint: --fps 0.5 would sample 6 frames (~2 min)")

"""``vtg --precision``: the precision encoders compute in (fp32, fp16, bf16), chosen once per process.

bf16 is the fast path on CPUs with bf16 units; these tests check every encoder family computes in
it on the CPU, agrees with fp32 to well within the float16 cache's precision, and that the choice
reaches Ray workers, the plan line and the cache's record without changing the cache key.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from vtg import device
from vtg.cli import plan
from vtg.cli.main import main
from vtg.encoders import load_encoder, testing
from vtg.engine import ModelManager
from vtg.errors import UsageError
from vtg.features import features_dir
from vtg.settings import Settings, activate, changed, current_settings, deactivate


@pytest.fixture(autouse=True)
def choose(monkeypatch):
    """``choose(name)`` makes ``name`` the precision for the rest of the test, as ``vtg --precision``
    does for a run (None: back to the environment's)."""
    monkeypatch.delenv("VTG_PRECISION", raising=False)
    tokens = []
    yield lambda name: tokens.append(activate(Settings.from_environment(precision=name)))
    for token in reversed(tokens):
        deactivate(token)


def test_defaults_then_environment_then_flag(monkeypatch):
    assert device.encoder_precision("cpu") == "fp32" and device.encoder_precision("cuda:0") == "fp16"
    monkeypatch.setenv("VTG_PRECISION", "BF16 ")
    assert device.encoder_precision("cpu") == device.encoder_precision("cuda") == "bf16"
    with changed(precision="fp32"):  # the flag wins over the environment
        assert device.encoder_precision("cuda") == "fp32"
        assert str(device.default_dtype("cpu")) == "torch.float32"
        assert str(device.default_dtype("cpu", half=True)) == "torch.float16"  # an explicit half wins
    with pytest.raises(UsageError, match=r"unknown precision 'half' \(--precision\); choose one of fp32, fp16, bf16"):
        Settings.from_environment(precision="half")
    monkeypatch.setenv("VTG_PRECISION", "int8")
    with pytest.raises(UsageError, match=r"'int8' \(VTG_PRECISION\)"):
        device.encoder_precision("cpu")


def test_a_bad_precision_is_one_line_before_anything_loads(monkeypatch, capsys):
    assert main(["--precision", "fp64", "methods"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["vtg: error: unknown precision 'fp64' (--precision); choose one of fp32, fp16, bf16"]
    monkeypatch.setenv("VTG_PRECISION", "fp8")
    assert main(["methods"]) == 2
    assert "'fp8' (VTG_PRECISION)" in capsys.readouterr().err


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


FAMILIES = {
    "open_clip": lambda d: str(testing.random_open_clip(d)),
    "hf-clip": lambda d: "hf-clip:" + str(testing.tiny_hf_clip(d)),
    "hf-siglip": lambda d: "hf-siglip:" + str(testing.tiny_hf_siglip(d)),
    "blip2": lambda d: "blip2:" + str(testing.tiny_blip2(d)),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_encodes_in_bf16_on_the_cpu_close_to_fp32(choose, family, tmp_path):
    """Weights in bf16 (open_clip's and transformers' own mixed precision: LayerNorms, BLIP-2's
    Q-Former in fp32), features back as float32 arrays, cosine to fp32 >= 0.999 for frames, sentences
    and the text tower alone (measured 0.9999 for every family)."""
    spec = FAMILIES[family](tmp_path / family)
    frames = np.random.default_rng(0).integers(0, 255, (4, 64, 80, 3), dtype=np.uint8)
    texts = ["a person opens the door", "a dog runs"]
    out = {}
    for precision in ("fp32", "bf16"):
        choose(precision)
        full = load_encoder(spec, "cpu", manager=ModelManager())
        text_only = load_encoder(spec, "cpu", text_only=True, manager=ModelManager())
        out[precision] = (full.encode_images(frames), full.encode_texts(texts), text_only.encode_texts(texts))
        assert str(full.dtype) == {"fp32": "torch.float32", "bf16": "torch.bfloat16"}[precision]
        assert str(text_only.dtype) == str(full.dtype)
    for fp32, bf16 in zip(out["fp32"], out["bf16"]):
        assert bf16.dtype == np.float32 and bf16.shape == fp32.shape
        assert _cosines(fp32, bf16).min() >= 0.999
        assert not np.array_equal(fp32, bf16)  # it did compute in another precision


def test_the_cache_records_how_features_were_made_but_keys_without_it(three_scene_video, tmp_path, capsys):
    """A bf16 run's features serve a later fp32 query (same key: they agree to float16 storage
    precision); the sidecar says they were made in bf16 on the CPU, for the plan line."""
    encoder = testing.random_open_clip(tmp_path / "oc")
    args = ["index", str(three_scene_video), "-e", str(encoder), "--fps", "1", "--device", "cpu", "--json"]
    assert main(["--precision", "bf16", *args]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["status"] == "computed"
    sidecar = json.loads(next(features_dir().glob("*.json")).read_text())
    assert sidecar["computed"] == {"device": "cpu", "precision": "bf16"}
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "cached"


def _record(name: str, encoder: str, count: int, seconds: float, computed: dict | None) -> None:
    folder = features_dir()
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"encoder": encoder, "count": count, "seconds": seconds}
    if computed is not None:
        meta["computed"] = computed
    (folder / f"{name}.json").write_text(json.dumps(meta))


def test_the_plan_estimates_from_runs_made_the_same_way(choose):
    spec = "open_clip:ViT-B-32/openai"
    _record("fp32", spec, 100, 50.0, {"device": "cpu", "precision": "fp32"})  # 2 frames/s
    _record("bf16", spec, 100, 10.0, {"device": "cpu", "precision": "bf16"})  # 10 frames/s
    _record("gpu", spec, 100, 1.0, {"device": "cuda", "precision": "fp16"})  # 100 frames/s
    _record("old", spec, 100, 25.0, None)  # written before vtg recorded it: the CPU's default, fp32
    assert plan.frames_per_second(spec, "cpu") == (pytest.approx(3.0), "from 2 earlier runs of this model here")
    assert plan.frames_per_second(spec, "cuda")[0] == pytest.approx(52.0)  # median of the GPU run and the old one
    choose("bf16")
    assert plan.frames_per_second(spec, "cpu") == (pytest.approx(10.0), "from 1 earlier run of this model here")
    lines, _ = plan.describe(120, 120.0, 1.0, spec, "cpu")
    assert " with open_clip:ViT-B-32/openai on cpu (bf16); estimated 12 s" in lines[0]


def test_the_table_estimate_counts_bf16_units_only_where_the_cpu_has_them(choose, monkeypatch):
    spec = "open_clip:ViT-B-32/openai"
    fp32, _ = plan.frames_per_second(spec, "cpu")
    choose("bf16")
    monkeypatch.setattr(device, "emulated_on_cpu", lambda precision: False)
    native, _ = plan.frames_per_second(spec, "cpu")
    monkeypatch.setattr(device, "emulated_on_cpu", lambda precision: True)
    emulated, _ = plan.frames_per_second(spec, "cpu")
    assert emulated == fp32 < native


def test_cpu_flags_decide_whether_low_precision_is_emulated(tmp_path):
    with_units = tmp_path / "xeon"
    with_units.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n")
    without = tmp_path / "old"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert not device.emulated_on_cpu("bf16", str(with_units))
    assert device.emulated_on_cpu("bf16", str(without)) and device.emulated_on_cpu("fp16", str(with_units))
    assert not device.emulated_on_cpu("fp32", str(without))
    assert not device.emulated_on_cpu("bf16", str(tmp_path / "missing"))  # unknown: no warning


def test_emulated_precision_warns_once_per_load(choose, monkeypatch, tmp_path, caplog):
    spec = str(testing.random_open_clip(tmp_path / "oc"))
    monkeypatch.setattr(device, "emulated_on_cpu", lambda precision: precision == "bf16")
    choose("bf16")
    manager = ModelManager()
    with caplog.at_level(logging.WARNING, logger="vtg.encoders.loading"):
        load_encoder(spec, "cpu", manager=manager)
        load_encoder(spec, "cpu", manager=manager)  # shared: loaded (and warned) once
    warnings = [r.getMessage() for r in caplog.records if r.name == "vtg.encoders.loading"]
    assert len(warnings) == 1 and "bf16 on this CPU is emulated" in warnings[0] and "--precision fp32" in warnings[0]
    choose("fp32")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vtg.encoders.loading"):
        load_encoder(spec, "cpu", manager=ModelManager())
    assert not [r for r in caplog.records if r.name == "vtg.encoders.loading"]


def test_batch_workers_in_other_processes_get_the_drivers_precision(choose):
    import pickle

    from vtg.batch.ray_engine import GroundActor

    choose("bf16")
    shipped = pickle.loads(pickle.dumps(current_settings()))  # what crosses to a Ray actor
    choose(None)
    actor = GroundActor(settings=shipped)
    assert device.encoder_precision("cpu") == "fp32"  # the driver's thread is untouched
    assert actor.session.run(device.encoder_precision, "cpu") == "bf16"

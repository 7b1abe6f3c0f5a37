"""The model manager and the one grounding path: shared loads, release, memory reports, one probe
and one path check per query, text-only encoders equal to the full models, the text cache."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
import time
import weakref

import numpy as np
import pytest

import vtg
from vtg.engine import ModelManager, default_manager
from vtg.errors import UsageError
from vtg.registry import load_method


# --- the manager --------------------------------------------------------------------------------
def test_concurrent_callers_share_one_load_and_release_frees_it():
    import torch

    manager = ModelManager()
    calls = []

    def load():
        calls.append(1)
        time.sleep(0.05)  # let the other threads arrive while this load runs
        return torch.nn.Linear(4, 4)

    got = []
    threads = [threading.Thread(target=lambda: got.append(manager.get("encoder", "k", load))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(m is got[0] for m in got)
    memory = manager.memory()
    assert memory["parameter_bytes"] == (16 + 4) * 4
    assert memory["models"] == [{"kind": "encoder", "label": "k", "device": "cpu", "parameter_bytes": 80}]
    ref = weakref.ref(got[0])
    got.clear()
    assert manager.release() == 1
    gc.collect()
    assert ref() is None and manager.loaded() == [] and manager.memory()["parameter_bytes"] == 0


def test_a_failed_load_stores_nothing_and_is_retried():
    manager = ModelManager()
    attempts = []

    def load():
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("weights not there yet")
        return "model"

    with pytest.raises(OSError):
        manager.get("univtg", "k", load)
    assert manager.get("univtg", "k", load) == "model" and len(attempts) == 2
    assert manager.release("encoder") == 0 and manager.release("univtg") == 1


def test_release_by_kind_keeps_the_other_kinds():
    manager = ModelManager()
    manager.get("encoder", 1, lambda: "enc")
    manager.get("video-llm", 2, lambda: "llm")
    assert manager.release("encoder") == 1
    assert manager.loaded() == [("video-llm", 2)]


# --- encoders through the manager ---------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    from vtg.encoders.testing import random_open_clip, tiny_blip2, tiny_hf_clip, tiny_hf_siglip

    root = tmp_path_factory.mktemp("engine-models")
    return {"open_clip": random_open_clip(root / "oc"), "hf-clip": tiny_hf_clip(root / "clip"),
            "hf-siglip": tiny_hf_siglip(root / "siglip"), "blip2": tiny_blip2(root / "blip2")}


TEXTS = ["a person opens the door", "A DOG runs &amp; jumps!!", "red car 123", "x " * 40, "naïve café ☕ 東京", ""]


@pytest.mark.parametrize("family", ["open_clip", "hf-clip", "hf-siglip", "blip2"])
def test_text_only_encoder_equals_the_full_model(model_dirs, family):
    from vtg.encoders import clear_loaded, load_encoder

    clear_loaded()
    text = load_encoder(str(model_dirs[family]), device="cpu", text_only=True)
    assert text.text_only and text.family == family
    with pytest.raises(UsageError, match="text-only"):
        text.encode_images(np.zeros((1, 32, 32, 3), np.uint8))
    a = text.encode_texts(TEXTS)
    tokens_a = text.encode_text_tokens(TEXTS) if family != "blip2" else None
    clear_loaded()
    full = load_encoder(str(model_dirs[family]), device="cpu")
    assert not full.text_only and (full.spec, full.fingerprint) == (text.spec, text.fingerprint)
    np.testing.assert_allclose(a, full.encode_texts(TEXTS), atol=1e-5)
    if tokens_a is not None:
        for x, y in zip(tokens_a, full.encode_text_tokens(TEXTS)):
            np.testing.assert_allclose(x, y, atol=1e-5)
    clear_loaded()


def test_open_clip_text_tower_in_half_precision_equals_open_clip(model_dirs):
    from vtg.encoders import clear_loaded, load_encoder

    clear_loaded()
    a = load_encoder(str(model_dirs["open_clip"]), device="cpu", half=True, text_only=True).encode_texts(TEXTS)
    clear_loaded()
    b = load_encoder(str(model_dirs["open_clip"]), device="cpu", half=True).encode_texts(TEXTS)
    np.testing.assert_allclose(a, b, atol=1e-3)  # fp16: same graph and casts; tolerance of half precision
    clear_loaded()


def test_text_tower_runs_only_up_to_the_last_eot_with_the_same_result(model_dirs, monkeypatch):
    """Short sentences (no padding reaches the pooled state under the causal mask): the tower runs
    a few positions, open_clip all of them; the features agree."""
    import torch

    from vtg.encoders import clear_loaded, load_encoder
    from vtg.encoders.clip_text_model import _Transformer

    short = ["a dog", "a person opens the door", "red"]
    clear_loaded()
    text = load_encoder(str(model_dirs["open_clip"]), device="cpu", text_only=True)
    lengths = []
    original = _Transformer.forward
    monkeypatch.setattr(_Transformer, "forward", lambda self, x, attn_mask=None: lengths.append(x.shape[1])
                        or original(self, x, attn_mask))
    a = text.encode_texts(short)
    assert lengths == [7] and text.tokenizer(short).shape[1] == 16  # [SOT] 5 words [EOT] of 16 positions
    clear_loaded()
    with torch.inference_mode():
        b = load_encoder(str(model_dirs["open_clip"]), device="cpu").encode_texts(short)
    np.testing.assert_allclose(a, b, atol=1e-5)
    clear_loaded()


def test_text_tower_reads_a_pytorch_checkpoint(model_dirs, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    from vtg.encoders import clear_loaded, load_encoder
    from vtg.encoders.clip_text_model import ClipTextTower

    folder = tmp_path / "bin-model"
    folder.mkdir()
    shutil.copy(model_dirs["open_clip"] / "open_clip_config.json", folder)
    state = load_file(str(model_dirs["open_clip"] / "open_clip_model.safetensors"))
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, folder / "open_clip_pytorch_model.bin")
    clear_loaded()
    text = load_encoder(str(folder), device="cpu", text_only=True)
    assert isinstance(text.model, ClipTextTower)
    a = text.encode_texts(TEXTS)
    clear_loaded()
    np.testing.assert_allclose(a, load_encoder(str(model_dirs["open_clip"]), device="cpu").encode_texts(TEXTS), atol=1e-5)
    clear_loaded()


@pytest.mark.parametrize("change", [{"custom_text": True}, {"text_cfg": {"hf_model_name": "bert-base-uncased"}},
                                    {"text_cfg": {"pool_type": "last"}}, {"text_cfg": {"qk_norm": True}},
                                    {"text_cfg": {"something_new": 1}}, {"multimodal_cfg": {}}])
def test_text_configs_the_tower_does_not_reproduce_go_to_open_clip(change):
    from vtg.encoders.clip_text import text_tower_config
    from vtg.encoders.testing import TINY_OPEN_CLIP_CFG

    base = json.loads(json.dumps(TINY_OPEN_CLIP_CFG))
    assert text_tower_config(base)["width"] == 32
    cfg = dict(base, **{k: v for k, v in change.items() if k != "text_cfg"})
    cfg["text_cfg"] = dict(base["text_cfg"], **change.get("text_cfg", {}))
    assert text_tower_config(cfg) is None


def test_clip_tokenizer_matches_open_clips():
    import open_clip
    import torch

    from vtg.encoders.clip_text import clip_tokenizer

    texts = TEXTS + ["it's the man's DOG", "3.14 apples", "<start_of_text> hi", "tab\there\nnewline", "ﬁne ｗｉｄｅ"]
    assert torch.equal(clip_tokenizer(77)(texts), open_clip.get_tokenizer("ViT-B-32")(texts))
    assert torch.equal(clip_tokenizer(8)(texts), open_clip.tokenize(texts, context_length=8))


def test_text_only_open_clip_imports_nothing_heavy(model_dirs):
    """The cold-query path: no open_clip (torchvision, transformers) and no torch compiler stack."""
    code = (f"import sys; from vtg.encoders import load_encoder; "
            f"e = load_encoder({str(model_dirs['open_clip'])!r}, device='cpu', text_only=True); "
            "e.encode_texts(['a person']); "
            "print([m for m in ('open_clip', 'torchvision', 'transformers', 'torch._dynamo') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_full_load_after_text_only_replaces_it_and_serves_text(model_dirs):
    from vtg.encoders import clear_loaded, load_encoder

    clear_loaded()
    manager = default_manager()
    text = load_encoder(str(model_dirs["hf-clip"]), device="cpu", text_only=True)
    full = load_encoder(str(model_dirs["hf-clip"]), device="cpu")
    assert full is not text
    assert [k[1][-1] for k in manager.loaded("encoder")] == ["full"]  # the text-only copy was dropped
    assert load_encoder(str(model_dirs["hf-clip"]), device="cpu", text_only=True) is full
    clear_loaded()


def test_repeated_sentences_come_from_the_text_cache(model_dirs, monkeypatch):
    from vtg.encoders import clear_loaded, load_encoder

    clear_loaded()
    enc = load_encoder(str(model_dirs["open_clip"]), device="cpu", text_only=True)
    batches = []
    original = enc._encode_text_batch
    monkeypatch.setattr(enc, "_encode_text_batch", lambda texts: batches.append(list(texts)) or original(texts))
    first = enc.encode_texts(["a dog", "a cat", "a dog"])
    again = enc.encode_texts(["a cat", "a dog", "red car"])
    assert batches == [["a dog", "a cat"], ["red car"]]
    np.testing.assert_array_equal(first[1], again[0])
    again[0] += 1  # callers get their own copy; the cache is not changed through it
    np.testing.assert_array_equal(enc.encode_texts(["a cat"])[0], first[1])
    clear_loaded()
    assert len(default_manager().text_cache) == 0


def test_release_frees_loaded_encoders_and_reports_their_bytes(model_dirs):
    from vtg.encoders import load_encoder

    manager = default_manager()
    manager.release()
    enc = load_encoder(str(model_dirs["hf-siglip"]), device="cpu", text_only=True)
    expected = sum(p.numel() * p.element_size() for p in enc.model.parameters())
    report = manager.memory()
    assert [m["kind"] for m in report["models"]] == ["encoder"] and report["models"][0]["label"].endswith("text tower")
    assert report["parameter_bytes"] >= expected > 0 and report["cuda"] is None
    model = weakref.ref(enc.model)
    del enc
    assert manager.release() == 1
    gc.collect()
    assert model() is None and manager.memory()["parameter_bytes"] == 0


def test_open_clip_directory_without_weights_is_refused(tmp_path):
    from vtg.encoders import load_encoder
    from vtg.encoders.testing import TINY_OPEN_CLIP_CFG
    from vtg.errors import WeightsNotFoundError

    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_OPEN_CLIP_CFG}))
    for text_only in (False, True):
        with pytest.raises(WeightsNotFoundError):
            load_encoder(str(tmp_path), device="cpu", text_only=text_only)


def test_skipped_weight_init_restores_torch_initialisers():
    import torch

    from vtg.encoders.base import skipped_weight_init

    before = torch.nn.init.normal_
    with skipped_weight_init():
        t = torch.zeros(3)
        assert torch.nn.init.normal_(t) is t and not t.any()
    assert torch.nn.init.normal_ is before


# --- one probe, one check per query ---------------------------------------------------------------
@pytest.fixture
def counted(monkeypatch):
    """Counts of path checks (existing_file), container probes (the PyAV backend's probe), content
    hashes (the feature cache's key) and method objects made, per query. Each count starts as a
    fresh process would: the process-wide probe and identity memos are emptied, so a second probe
    or hash within one query is counted, not hidden by them."""
    import vtg.features as features
    import vtg.video.files as files
    import vtg.video.pyav_backend as pyav
    from vtg.method import Method
    from vtg.video.source import PROBES

    counts = {"checks": 0, "probes": 0, "hashes": 0, "methods": 0}

    def counting(key: str, real):
        def counted_call(*args, **kwargs):
            counts[key] += 1
            return real(*args, **kwargs)
        return counted_call

    monkeypatch.setattr(files, "existing_file", counting("checks", files.existing_file))
    monkeypatch.setattr(pyav, "probe", counting("probes", pyav.probe))
    monkeypatch.setattr(features, "content_hash", counting("hashes", features.content_hash))
    monkeypatch.setattr(Method, "__init__", counting("methods", Method.__init__))

    def take():
        out = dict(counts)
        counts.update(checks=0, probes=0, hashes=0, methods=0)
        PROBES.clear()
        features.IDENTITIES.clear()
        return out

    return take


def test_a_query_checks_the_path_once_and_probes_once(three_scene_video, model_dirs, counted):
    method = load_method("tfvtg", encoder=str(model_dirs["open_clip"]), device="cpu")
    counted()
    cold = vtg.ground(three_scene_video, "a red person", method=method)  # decodes and encodes
    assert counted() == {"checks": 1, "probes": 1, "hashes": 1, "methods": 0} and not cold.meta["features_cached"]
    warm = vtg.ground(three_scene_video, "a red person", method=method)  # cached features
    assert counted() == {"checks": 1, "probes": 1, "hashes": 1, "methods": 0} and warm.meta["features_cached"]
    assert warm.to_dict() == cold.to_dict() | {"meta": warm.to_dict()["meta"]}


def test_a_query_by_method_name_makes_one_method_object(three_scene_video, model_dirs, counted):
    options = {"encoder": str(model_dirs["open_clip"]), "device": "cpu"}
    counted()
    cold = vtg.ground(three_scene_video, "a red person", method="tfvtg", **options)
    assert counted() == {"checks": 1, "probes": 1, "hashes": 1, "methods": 1} and not cold.meta["features_cached"]
    warm = vtg.ground(three_scene_video, "a red person", method="tfvtg", **options)
    assert counted() == {"checks": 1, "probes": 1, "hashes": 1, "methods": 1} and warm.meta["features_cached"]


def test_a_plan_then_its_grounding_share_one_probe_and_one_hash(three_scene_video, model_dirs, counted):
    """The API's two steps (plan, then ground with the same source and method object) read the
    video as often as the grounding alone."""
    from vtg.video.source import VideoSource

    counted()
    method = load_method("tfvtg", encoder=str(model_dirs["open_clip"]), device="cpu")
    source = VideoSource.of(three_scene_video)
    plan = method.plan(source, vtg.types.Query("a red door"))
    assert not plan.features_cached and plan.frames == 36  # 12 s at the charades preset's 3 fps
    result = vtg.ground(source, "a red door", method=method)
    assert counted() == {"checks": 1, "probes": 1, "hashes": 1, "methods": 1}
    assert len(result.saliency.times) == plan.frames
    assert load_method("tfvtg", encoder=str(model_dirs["open_clip"]), device="cpu").plan(
        three_scene_video).features_cached


def test_the_cli_query_checks_and_probes_once_too(three_scene_video, model_dirs, counted, capsys):
    """`vtg ground` prints the method's plan and fetches before grounding: the plan and the
    grounding share the one method object and the one VideoSource (one probe, one hash)."""
    from vtg.cli.main import main

    args = ["ground", str(three_scene_video), "a red door", "-e", str(model_dirs["open_clip"]), "--device", "cpu",
            "--json", "--progress"]
    counted()
    assert main(args) == 0  # features computed (the plan line needs the frame count)
    assert counted() == {"checks": 1, "probes": 1, "hashes": 1, "methods": 1}
    assert "vtg: plan: 36 frames" in capsys.readouterr().err
    assert main(args) == 0  # cached
    assert counted() == {"checks": 1, "probes": 1, "hashes": 1, "methods": 1}
    assert "vtg: plan" not in capsys.readouterr().err  # nothing to compute, nothing to fetch


def test_a_cached_query_loads_only_the_text_tower(three_scene_video, model_dirs):
    from vtg.encoders import clear_loaded

    spec = str(model_dirs["hf-clip"])
    vtg.ground(three_scene_video, "a person", method="tfvtg", encoder=spec, device="cpu")  # fills the cache
    clear_loaded()
    manager = default_manager()
    before = dict(manager.loads)
    result = vtg.ground(three_scene_video, "a person", method="tfvtg", encoder=spec, device="cpu")
    assert result.meta["features_cached"]
    assert manager.loads.get("encoder", 0) - before.get("encoder", 0) == 1
    assert [k[1][-1] for k in manager.loaded("encoder")] == ["text"]
    clear_loaded()


def test_batch_checks_and_probes_each_video_once(three_scene_video, model_dirs, counted):
    from vtg.batch.inputs import BatchItem
    from vtg.batch.local import run_local

    options = {"encoder": str(model_dirs["open_clip"]), "device": "cpu"}
    items = [BatchItem(qid=i, line=i + 1, video=three_scene_video, text=t, options=options)
             for i, t in enumerate(["a red door", "a dog", "blue car"])]
    items.append(BatchItem(qid=3, line=4, video=three_scene_video.parent / "missing.mp4", text="x", options=options))
    records = []
    counted()
    run_local(items, records.append)
    assert [r["status"] for r in records] == ["ok", "ok", "ok", "error"]
    assert "not found" in records[3]["error"]
    # one check per video (the missing one is never probed), one hash, one method object for all
    assert counted() == {"checks": 2, "probes": 1, "hashes": 1, "methods": 1}


def test_ground_takes_a_loaded_method_object(three_scene_video, model_dirs):
    method = load_method("tfvtg", encoder=str(model_dirs["open_clip"]), device="cpu")
    by_object = vtg.ground(three_scene_video, "a red door", method=method, top_k=2)
    by_name = vtg.ground(three_scene_video, "a red door", method="tfvtg", encoder=str(model_dirs["open_clip"]),
                         device="cpu", top_k=2)
    assert by_object.moments == by_name.moments and len(by_object.moments) <= 2
    with pytest.raises(UsageError, match="already configured"):
        vtg.ground(three_scene_video, "a red door", method=method, fps=2.0)
    with pytest.raises(UsageError, match="method must be"):
        vtg.ground(three_scene_video, "a red door", method=3)


# --- method hooks and the CLI ---------------------------------------------------------------------
def test_feature_settings_is_declared_with_a_default():
    from vtg.method import Method

    assert "feature_settings" in Method.__dict__ and "prepare" in Method.__dict__
    assert "encoder" not in load_method("numpro").feature_settings()  # Video-LLMs read no cached features
    assert load_method("tfvtg", fps=2.0).feature_settings() == {
        "encoder": load_method("tfvtg").config.encoder, "fps": 2.0, "max_frames": None}


def test_cli_imports_no_method_internals():
    """vtg/cli reaches methods only through the registry (vtg.registry) and the contract (vtg.method)."""
    import ast
    from pathlib import Path

    import vtg.cli

    allowed: set[str] = set()
    for path in Path(vtg.cli.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                assert not name.startswith("vtg.methods.") or name in allowed, f"{path.name} imports {name}"


def test_methods_mount_their_commands_through_the_hook(monkeypatch):
    import typer
    from typer.testing import CliRunner

    import vtg.cli.method_commands as mount
    import vtg.cli.models
    import vtg.registry
    from vtg.method import MethodCommand

    def train(data: str = typer.Argument(...)) -> None:
        """Train the dummy method."""
        typer.echo(f"trained on {data}")

    def convert(ckpt: str = typer.Argument(...)) -> None:
        """Convert a dummy checkpoint."""
        typer.echo(f"converted {ckpt}")

    monkeypatch.setattr(vtg.registry, "method_commands",
                        lambda: [MethodCommand(("train", "dummy"), train), MethodCommand(("models", "convert", "dummy"), convert)])
    models_app = typer.Typer()
    models_app.command("list")(lambda: None)
    monkeypatch.setattr(vtg.cli.models, "models_app", models_app)
    app = typer.Typer()
    app.add_typer(models_app, name="models")
    mount.register(app)
    runner = CliRunner()
    assert runner.invoke(app, ["train", "dummy", "data.jsonl"]).output.strip() == "trained on data.jsonl"
    assert runner.invoke(app, ["models", "convert", "dummy", "x.ckpt"]).output.strip() == "converted x.ckpt"
    assert runner.invoke(app, ["train", "other"]).exit_code == 2


def test_method_commands_come_from_their_packages():
    from vtg.registry import COMMANDS_GROUP, _group, method_commands

    assert set(_group(COMMANDS_GROUP)) == {"univtg", "videollm", "detr"}
    paths = {c.path: c.callback.__module__ for c in method_commands()}
    assert paths == {("train", "univtg"): "vtg.methods.univtg.cli", ("pseudo-label",): "vtg.methods.univtg.cli",
                     ("summarize",): "vtg.methods.univtg.cli", ("models", "convert", "univtg"): "vtg.methods.univtg.cli",
                     ("parse",): "vtg.methods.videollm.cli",
                     **{("models", "convert", name): "vtg.methods.detr.cli" for name in ("moment_detr", "qd_detr", "cg_detr")}}

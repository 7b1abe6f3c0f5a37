"""Encoders: every family built tiny from a config, saved, and loaded through the user's path."""

from __future__ import annotations

import numpy as np
import pytest

from vtg.encoders import clear_loaded, load_encoder, parse_spec
from vtg.encoders.testing import BUILDERS, TINY_OPEN_CLIP_CFG
from vtg.errors import UnknownNameError, UsageError, WeightsNotFoundError

FAMILIES = ["open_clip", "hf-clip", "hf-siglip", "blip2"]
TEXTS = ["a person opens the door", "red car", "a dog runs"]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    return {family: build(root / family) for family, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def frames():
    rng = np.random.RandomState(0)
    out = rng.randint(0, 256, (5, 48, 64, 3), dtype=np.uint8)
    out[3] = out[1]
    return out


def _enc(model_dirs, family):
    return load_encoder(str(model_dirs[family]), device="cpu")


@pytest.mark.parametrize("family", FAMILIES)
def test_bare_directory_is_recognised(model_dirs, family):
    enc = _enc(model_dirs, family)
    assert enc.family == family
    assert enc.device == "cpu"
    assert enc.spec == parse_spec(str(model_dirs[family])).canonical
    assert enc.spec.startswith(f"{family}:")
    assert load_encoder(enc.spec, device="cpu") is enc  # memoised, canonical spec round-trips


@pytest.mark.parametrize("family", FAMILIES)
def test_image_features_shape_norm_and_determinism(model_dirs, frames, family):
    enc = _enc(model_dirs, family)
    feats = enc.encode_images(frames)
    expected = (5, 32, enc.dim) if family == "blip2" else (5, enc.dim)
    assert feats.shape == expected and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(feats[1], feats[3])  # identical frames -> identical features
    assert not np.allclose(feats[0], feats[1])


@pytest.mark.parametrize("family", FAMILIES)
def test_batching_equals_unbatched(model_dirs, frames, family):
    enc = _enc(model_dirs, family)
    whole = enc.encode_images(frames)
    saved = enc.batch_size
    try:
        enc.batch_size = 2
        chunked = enc.encode_images(frames)
    finally:
        enc.batch_size = saved
    one = np.concatenate([enc.encode_images(f) for f in frames])  # single [H, W, 3] frames too
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    np.testing.assert_allclose(one, whole, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_text_features_and_similarity(model_dirs, frames, family):
    enc = _enc(model_dirs, family)
    txt = enc.encode_texts(TEXTS)
    assert txt.shape == (3, enc.dim) and txt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(txt, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(enc.encode_texts(TEXTS[1]), txt[1:2], atol=1e-5)
    img = enc.encode_images(frames)
    sim = enc.similarity(img, txt)
    assert sim.shape == (5, 3) and sim.dtype == np.float32
    manual = (img @ txt.T).max(axis=1) if family == "blip2" else img @ txt.T
    np.testing.assert_allclose(sim, manual, atol=1e-5)
    assert np.all(np.abs(sim) <= 1.0 + 1e-5)


def test_blip2_matches_the_itc_forward_pass(model_dirs, frames):
    """Our split image/text halves reproduce Blip2ForImageTextRetrieval's ITC score."""
    import torch

    enc = _enc(model_dirs, "blip2")
    pixels = enc.image_processor(images=list(frames[:2]), return_tensors="pt")["pixel_values"]
    tokens = enc.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = enc.model(pixel_values=pixels, input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                        use_image_text_matching_head=False)
    ours = enc.similarity(enc.encode_images(frames[:2]), enc.encode_texts(TEXTS))
    np.testing.assert_allclose(ours, out.logits_per_image.numpy(), atol=1e-5)


def test_hf_clip_matches_the_model_forward_pass(model_dirs, frames):
    import torch

    enc = _enc(model_dirs, "hf-clip")
    pixels = enc.image_processor(images=list(frames[:2]), return_tensors="pt")["pixel_values"]
    tokens = enc.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = enc.model(pixel_values=pixels, input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
    cosine = out.logits_per_image.numpy() / enc.model.logit_scale.exp().item()
    np.testing.assert_allclose(enc.similarity(enc.encode_images(frames[:2]), enc.encode_texts(TEXTS)), cosine, atol=1e-5)


@pytest.mark.parametrize("family", ["open_clip", "hf-clip", "hf-siglip"])
def test_text_tokens(model_dirs, family):
    enc = _enc(model_dirs, family)
    toks = enc.encode_text_tokens(["a person opens the door", "red car"])
    # start token + words + end token; width of the text transformer (32), unprojected
    assert [t.shape for t in toks] == [(7, 32), (4, 32)]
    assert all(t.dtype == np.float32 and np.isfinite(t).all() for t in toks)
    assert not np.allclose(toks[0][:4], toks[1][:4])


def test_blip2_has_no_text_tokens(model_dirs):
    with pytest.raises(UsageError, match="per-token"):
        _enc(model_dirs, "blip2").encode_text_tokens(["a"])


def test_spec_forms_share_canonical_names(model_dirs, tmp_path):
    d = model_dirs["open_clip"]
    assert parse_spec(f"open_clip:local-dir:{d}").canonical == parse_spec(str(d)).canonical
    assert parse_spec(f"hf-clip:{model_dirs['hf-clip']}").canonical == f"hf-clip:{model_dirs['hf-clip']}"
    assert parse_spec("ViT-B-32/openai").canonical == "open_clip:ViT-B-32/openai"
    assert parse_spec("clip-vit-b-32").canonical == "open_clip:ViT-B-32/openai"
    assert parse_spec("blip2").canonical == "blip2:Salesforce/blip2-itm-vit-g-coco"
    assert parse_spec("open_clip:hf-hub:org/model").kind == "hub"


def test_open_clip_config_json_at_weights_file(model_dirs, frames, tmp_path):
    """``open_clip:<model config json>@<weights>`` loads the same weights as the directory."""
    import json

    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY_OPEN_CLIP_CFG))
    d = model_dirs["open_clip"]
    enc = load_encoder(f"open_clip:{cfg}@{d / 'open_clip_model.safetensors'}", device="cpu")
    ref = _enc(model_dirs, "open_clip")
    assert enc.family == "open_clip" and enc is not ref and "@" in enc.spec
    # same weights and default (OpenAI) normalisation in both -> same text features
    np.testing.assert_allclose(enc.encode_texts(TEXTS), ref.encode_texts(TEXTS), atol=1e-5)
    assert enc.encode_images(frames).shape == (5, 16)


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    clear_loaded()


@pytest.mark.parametrize("spec, remedy", [
    ("blip2", "hf download Salesforce/blip2-itm-vit-g-coco"),
    ("hf-siglip:google/siglip-base-patch16-224", "vtg models download google/siglip-base-patch16-224"),
    ("ViT-B-32/openai", "vtg models download ViT-B-32/openai"),
    ("clip-vit-b-32", "open_clip:ViT-B-32@/path/to/weights"),
])
def test_missing_weights_say_how_to_get_them(empty_caches, spec, remedy):
    with pytest.raises(WeightsNotFoundError) as info:
        load_encoder(spec, device="cpu")
    assert remedy in str(info.value)


def test_directory_without_weights(model_dirs, tmp_path):
    import shutil

    d = tmp_path / "noweights"
    shutil.copytree(model_dirs["hf-clip"], d)
    (d / "model.safetensors").unlink()
    with pytest.raises(WeightsNotFoundError, match="no weights"):
        load_encoder(str(d), device="cpu")


@pytest.mark.parametrize("spec, error", [
    ("", UsageError), ("no-such-model", UnknownNameError), ("./missing/dir", UsageError),
    ("ViT-B-32", UsageError), ("open_clip:ViT-B-32@/no/such/file.safetensors", WeightsNotFoundError),
])
def test_bad_specs(spec, error):
    with pytest.raises(error):
        load_encoder(spec, device="cpu")


def test_bad_frames_are_usage_errors(model_dirs):
    enc = _enc(model_dirs, "hf-clip")
    with pytest.raises(UsageError):
        enc.encode_images(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(UsageError):
        enc.encode_images(np.zeros((2, 8, 8, 3), np.float32))
    assert enc.encode_images(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, enc.dim)


@pytest.mark.gpu
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("precision", [None, "bf16"], ids=["default-fp16", "bf16"])
def test_cuda_half_precision_agrees_with_cpu(model_dirs, frames, family, precision):
    from vtg.settings import changed

    cpu = load_encoder(str(model_dirs[family]), device="cpu")
    with changed(precision=precision):  # vtg --precision (None: the device's default)
        gpu = load_encoder(str(model_dirs[family]), device="cuda")
    assert str(gpu.dtype) == {None: "torch.float16", "bf16": "torch.bfloat16"}[precision]
    a, b = cpu.encode_images(frames), gpu.encode_images(frames)
    assert b.dtype == np.float32
    assert float((a * b).sum(-1).min()) > 0.99
    assert float(np.diag(cpu.encode_texts(TEXTS) @ gpu.encode_texts(TEXTS).T).min()) > 0.99


def test_blip2_text_is_truncated_like_the_reference(tmp_path):
    """TFVTG's reference (LAVIS) cuts BLIP-2 text at 35 tokens: words past the cut must not matter."""
    from vtg.encoders import load_encoder
    from vtg.encoders.blip2 import REFERENCE_TEXT_TOKENS
    from vtg.encoders.testing import tiny_blip2

    enc = load_encoder(str(tiny_blip2(tmp_path / "b2")), device="cpu")
    assert REFERENCE_TEXT_TOKENS == 35 and enc.max_length <= REFERENCE_TEXT_TOKENS
    head = " ".join(["a person opens the door"] * 12)
    late_a, late_b, early = enc.encode_texts([head + " red", head + " blue", "blue " + head])
    assert np.allclose(late_a, late_b)
    assert not np.allclose(late_a, early)

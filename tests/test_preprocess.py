"""Batched preprocessing and the indexing pipeline agree with each family's reference preprocessing.

Tolerances (stated in vtg/encoders/preprocess.py): transformers' torchvision-backend processors
are called on the batch, so pixels are identical; open_clip's PIL resize is replaced by
torchvision's uint8 antialiased bicubic, within 8/255 per pixel and 0.5/255 on average. Frames
shrunk inside the decoder's colour conversion differ more (libswscale's filter is not PIL's):
on a real clip, mean |difference| under 5/255 at these tiny 32-px inputs and feature cosine
above 0.97 against the reference path on full-size frames (tiny random models: a
worst case, every pixel matters).
"""

from __future__ import annotations

import numpy as np
import pytest

from vtg.encoders import load_encoder
from vtg.encoders.testing import BUILDERS

FAMILIES = ["open_clip", "hf-clip", "hf-siglip", "blip2"]


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    return {family: load_encoder(str(build(root / family)), device="cpu") for family, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def frames():
    rng = np.random.RandomState(0)
    return rng.randint(0, 256, (5, 48, 64, 3), dtype=np.uint8)


def _unnormalised(enc, pixels):
    """Pixel tensor back in 0-255 units (undo the std scaling), for tolerances in grey levels."""
    import torch

    std = torch.tensor(enc.image_transform.std).view(1, 3, 1, 1)
    return pixels.float() * std * 255


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_pixels_match_the_reference(encoders, frames, family):
    enc = encoders[family]
    assert enc.image_transform is not None and enc.supports_pixels
    ours, ref = enc.prepare_images(frames), enc._reference_pixels(frames)
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    diff = (_unnormalised(enc, ours) - _unnormalised(enc, ref)).abs()
    if family == "open_clip":
        assert float(diff.max()) <= 8.01 and float(diff.mean()) < 0.5
    else:
        assert float(diff.max()) < 1e-3
    np.testing.assert_allclose(enc.encode_images(frames), enc._run(enc._forward, ref),
                               atol=0.05 if family == "open_clip" else 1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_decoder_shrunk_frames_match_the_reference(encoders, family, shared_data):
    from vtg.features import compute_features
    from vtg.video import iter_frames, read_frames

    enc = encoders[family]
    clip = shared_data / "videos" / "charades_example.mp4"
    full = read_frames(clip, fps=0.5)
    shrunk = np.concatenate([b.frames for b in iter_frames(clip, 0.5, frame_size=enc.decode_size)])
    w, h = enc.decode_size(full.frames.shape[2], full.frames.shape[1])
    assert shrunk.shape == (len(full), h, w, 3) and h * w < full.frames.shape[1] * full.frames.shape[2]
    diff = (_unnormalised(enc, enc.prepare_images(shrunk)) - _unnormalised(enc, enc._reference_pixels(full.frames)))
    assert float(diff.abs().mean()) < 5.0
    reference = enc.encode_images(full.frames) if family != "open_clip" else \
        enc._run(enc._forward, enc._reference_pixels(full.frames))
    indexed = compute_features(clip, enc, 0.5)
    np.testing.assert_array_equal(indexed.times, full.times)
    cosine = (indexed.features * reference).sum(-1)
    assert cosine.min() > 0.97


def test_decode_size_only_shrinks(encoders):
    clip = encoders["hf-clip"]  # shortest edge 32, crop 32
    assert clip.decode_size(640, 360) == (56, 32)
    assert clip.decode_size(360, 640) == (32, 56)
    assert clip.decode_size(20, 10) == (20, 10)  # never enlarged by the decoder
    siglip = encoders["hf-siglip"]  # squash to 32x32
    assert siglip.decode_size(640, 360) == (32, 32)


def test_unknown_transform_keeps_the_reference_path(encoders, frames):
    from torchvision import transforms as T

    from vtg.encoders.preprocess import for_open_clip

    enc = encoders["open_clip"]
    odd = T.Compose([T.RandomHorizontalFlip(p=0.0), *enc.preprocess.transforms])
    assert for_open_clip(odd) is None
    saved = enc.image_transform
    try:
        enc.image_transform = None
        assert enc.decode_size(640, 360) == (640, 360)
        np.testing.assert_allclose(enc.encode_images(frames), enc._run(enc._forward, enc._reference_pixels(frames)),
                                   atol=1e-6)
    finally:
        enc.image_transform = saved


def test_small_frames_are_enlarged_like_the_reference(encoders):
    rng = np.random.RandomState(1)
    tiny = rng.randint(0, 256, (2, 12, 20, 3), dtype=np.uint8)
    for family in FAMILIES:
        enc = encoders[family]
        ours, ref = enc.prepare_images(tiny), enc._reference_pixels(tiny)
        assert ours.shape == ref.shape
        diff = (_unnormalised(enc, ours) - _unnormalised(enc, ref)).abs()
        if family == "open_clip":  # enlarging random noise: the worst case for filter rounding
            assert float(diff.max()) <= 16.01 and float(diff.mean()) < 1.5
        else:
            assert float(diff.max()) < 1e-3


@pytest.mark.gpu
@pytest.mark.parametrize("family", FAMILIES)
def test_gpu_pipeline_matches_cpu(tmp_path, family, three_scene_video):
    from vtg.features import compute_features

    model = BUILDERS[family](tmp_path / family)
    cpu = compute_features(three_scene_video, load_encoder(str(model), device="cpu"), 2.0)
    gpu = compute_features(three_scene_video, load_encoder(str(model), device="cuda"), 2.0)
    np.testing.assert_array_equal(gpu.times, cpu.times)
    assert (gpu.features * cpu.features).sum(-1).min() > 0.99


@pytest.mark.gpu
def test_gpu_batch_size_comes_from_free_memory(tmp_path):
    from vtg.pipeline import CUDA_MAX_BATCH, cuda_batch_size

    enc = load_encoder(str(BUILDERS["open_clip"](tmp_path / "oc")), device="cuda")
    size = cuda_batch_size(enc, 56, 32)
    assert 8 <= size <= CUDA_MAX_BATCH and (size % 8 == 0 or size < 16)
    assert cuda_batch_size(enc, 56, 32) == size  # measured once per encoder

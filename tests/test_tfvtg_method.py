"""The TFVTG method end to end: real decoding, tiny random encoders, the user-facing CLI and API."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import vtg
from vtg.cli.main import main
from vtg.encoders.testing import tiny_blip2, tiny_hf_clip
from vtg.errors import DataError, UnknownNameError, UsageError
from vtg.registry import load_method
from vtg.methods.tfvtg.method import TFVTG
from vtg.video import read_frames


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tiny_hf_clip(tmp_path_factory.mktemp("tfvtg-clip"))


@pytest.fixture(scope="module")
def blip2_dir(tmp_path_factory):
    return tiny_blip2(tmp_path_factory.mktemp("tfvtg-blip2"))


def test_image_query_finds_the_middle_scene(three_scene_video, clip_dir, tmp_path, capsys):
    """Frames identical to the example image embed identically even with random weights, so their
    cosine is exactly the curve's maximum; min-max calibration (automatic for image queries) puts
    the other scenes below it, and the window that holds exactly the middle scene wins.

    The Charades preset's stride is 20 frames at 3 fps (6.7 s, capped at half of this 12-s clip:
    6 s), too coarse to express a 4-s moment; a 2-s stride (6 frames) is the granularity a clip
    this short needs.
    """
    middle = read_frames(three_scene_video, fps=1).frames[6]  # t = 6 s, green scene
    png = tmp_path / "green.png"
    Image.fromarray(middle).save(png)
    code = main(["ground", str(three_scene_video), "--image", str(png), "--encoder", str(clip_dir),
                 "--device", "cpu", "--json", "-O", "stride=6"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    result = result[0] if isinstance(result, list) else result
    start, end, score = result["pred_relevant_windows"][0]
    inter = max(0.0, min(end, 8.0) - max(start, 4.0))
    assert inter / (max(end, 8.0) - min(start, 4.0)) >= 0.7
    assert score == 1.0
    meta = result["meta"]
    assert meta["calibration"] == "minmax" and meta["preset"] == "charades" and meta["fps"] == 3.0
    sal = np.asarray(result["saliency_scores"])
    times = np.asarray(result["saliency_times"])
    assert sal.size == meta["frames"] == times.size
    assert sal[(times > 4.2) & (times < 7.8)].min() > sal[(times < 3.8) | (times > 8.2)].max()


def test_text_query_with_blip2_and_rules_decomposition(three_scene_video, blip2_dir):
    # BLIP-2 text queries keep the reference thresholds on the raw similarity; random weights give
    # similarities anywhere, so whether anything clears the 0.2 mask is not known in advance.
    raw = vtg.ground(three_scene_video, "a person opens the door then walks down", encoder=str(blip2_dir),
                     device="cpu")
    assert raw.meta["calibration"] == "none" and raw.meta["encoder"].startswith("blip2:")
    assert bool(raw.moments) != ("note" in raw.meta)
    result = vtg.ground(three_scene_video, "a person opens the door then walks down", method="tfvtg",
                        encoder=str(blip2_dir), device="cpu", calibration="minmax", top_k=3)
    assert result.meta["features_cached"]  # the second query on the same video skips decoding
    assert result.method == "tfvtg" and 0 < len(result.moments) <= 3
    assert all(0 <= m.start <= m.end <= result.duration + 1e-6 for m in result.moments)
    assert result.moments[0].score == 1.0
    decomposition = result.meta["decomposition"]
    assert decomposition["relationship"] == "sequentially" and len(decomposition["sub_events"]) == 2
    assert len(result.saliency) == result.meta["frames"] == 36


def test_json_decompositions_are_used_by_video_id(three_scene_video, clip_dir, tmp_path):
    answers = {three_scene_video.stem: {"sentences": ["red car"], "response": [{
        "relationship": "simultaneously",
        "query_json": [{"sub_query_id": 0, "descriptions": ["a red car", "red car video"]},
                       {"sub_query_id": 1, "descriptions": ["red"]}, {"sub_query_id": 2, "descriptions": ["car"]}]}]}}
    path = tmp_path / "llm.json"
    path.write_text(json.dumps(answers))
    result = vtg.ground(three_scene_video, "red car", encoder=str(clip_dir), device="cpu", llm=f"json:{path}",
                        calibration="minmax", stride=6)
    assert result.meta["decomposition"]["rewrites"] == ["a red car", "red car video"]
    assert result.meta["decomposition"]["relationship"] == "simultaneously"
    assert result.moments and result.moments[0].score == 1.0


def test_options_are_typed_and_checked():
    method = load_method("tfvtg", stride="6", fps="2.5", llm="none", calibration="affine:2,-0.1")
    assert method.config.stride == 6 and method.config.fps == 2.5
    assert TFVTG.supports_image_query and TFVTG.Config().preset == "charades"
    with pytest.raises(UsageError):
        load_method("tfvtg", mask=0.3)


def test_bad_calibration_and_preset_fail_before_any_work(three_scene_video):
    with pytest.raises(UsageError):
        vtg.ground(three_scene_video, "x", calibration="sigmoid")
    with pytest.raises(UsageError):
        vtg.ground(three_scene_video, "x", preset="imagenet")


def test_blip2_image_similarity_compares_query_tokens_pairwise(blip2_dir, tmp_path):
    from vtg.encoders import load_encoder
    from vtg.methods.tfvtg.method import image_similarity

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    Image.fromarray(frames[1]).save(tmp_path / "q.png")
    encoder = load_encoder(str(blip2_dir), device="cpu")
    feats = encoder.encode_images(frames)
    sims = image_similarity(encoder, feats, tmp_path / "q.png")
    assert feats.ndim == 3 and sims.shape == (3,)
    assert sims[1] == pytest.approx(1.0, abs=1e-5) and sims.argmax() == 1
    expected = np.mean([feats[0, t] @ feats[1, t] for t in range(feats.shape[1])])
    assert sims[0] == pytest.approx(expected, abs=1e-5)


def test_long_videos_switch_to_the_long_preset_unless_sampling_is_fixed(three_scene_video, clip_dir):
    switched = vtg.ground(three_scene_video, "red car", encoder=str(clip_dir), device="cpu", long_after=10.0)
    assert switched.meta["preset"] == "long" and switched.meta["fps"] == 1.0 and switched.meta["frames"] == 12
    assert "long" in switched.meta["preset_note"]
    fixed = vtg.ground(three_scene_video, "red car", encoder=str(clip_dir), device="cpu", long_after=10.0, fps=3.0)
    assert fixed.meta["preset"] == "charades" and fixed.meta["frames"] == 36


def test_a_misconfigured_llm_fails_before_any_decoding(three_scene_video, tmp_path, monkeypatch):
    import vtg.features

    def no_decoding(*args, **kwargs):
        raise AssertionError("features were computed before the LLM backend was checked")

    monkeypatch.setattr(vtg.features, "video_features", no_decoding)
    with pytest.raises(DataError):
        vtg.ground(three_scene_video, "x", llm=f"json:{tmp_path / 'missing.json'}")
    with pytest.raises(UnknownNameError):
        vtg.ground(three_scene_video, "x", llm="gpt-17")

"""A query's plan (``Method.plan`` -> :class:`vtg.planning.Plan`): what will run, said before it runs,
without loading or downloading anything; the one frame-count rule; the named download step."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import vtg
from vtg.errors import WeightsNotFoundError
from vtg.planning import Plan, fetch_models
from vtg.registry import load_method
from vtg.types import Query
from vtg.video.sampling import expected_frames, target_times


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    from vtg.encoders.testing import random_open_clip

    return random_open_clip(tmp_path_factory.mktemp("oc"))


@pytest.fixture
def no_downloads(monkeypatch):
    """Any download attempt fails the test: planning must only look."""
    import vtg.encoders.hub as hub

    def refuse(*args, **kwargs):
        raise AssertionError(f"a plan tried to download {args[:1]}")

    monkeypatch.setattr(hub, "download", refuse)
    monkeypatch.setattr(hub, "repo_files", refuse)


# --- one frame-count rule --------------------------------------------------------------------------
@pytest.mark.parametrize("duration,fps,max_frames,num_frames", list(itertools.product(
    [0.0, 0.05, 1.0, 12.0, 615.3], [None, 0.1, 1.0, 3.0, 29.97], [None, 1, 7, 100], [None, 0, 5, 360])))
def test_expected_frames_is_what_the_sampler_takes(duration, fps, max_frames, num_frames):
    """The plan's count equals the sampler's grid (or, for every frame, the header's count)."""
    grid = target_times(duration, fps, max_frames, num_frames)
    count = expected_frames(duration, fps, max_frames, num_frames)
    if grid is None:  # every frame: as many as the header says (None: it does not say)
        assert count == num_frames
    else:
        assert count == len(grid)


def test_the_progress_bar_counts_with_the_same_rule(three_scene_video, tiny_encoder, monkeypatch):
    import vtg.features as features

    totals = []
    monkeypatch.setattr(features, "_bar", lambda enabled, total, name: totals.append(total))
    feats = features.video_features(three_scene_video, str(tiny_encoder), 1.5, device="cpu", progress=True)
    assert totals == [len(feats)] == [18]


# --- the plan --------------------------------------------------------------------------------------
def test_plan_says_what_will_run_and_changes_once_features_are_cached(three_scene_video, tiny_encoder,
                                                                      no_downloads):
    method = load_method("tfvtg", encoder=str(tiny_encoder), fps=2.0, device="cpu")
    plan = method.plan(three_scene_video, Query("a red door"))
    assert isinstance(plan, Plan) and plan.method == "tfvtg" and plan.video == str(three_scene_video)
    assert (plan.encoder, plan.fps, plan.max_frames, plan.frames) == (
        f"open_clip:local-dir:{tiny_encoder}", 2.0, None, 24)
    assert plan.duration == pytest.approx(12.0, abs=0.05) and plan.features_cached is False
    assert plan.llm == "rules" and plan.missing == ()
    (encoder,) = plan.models
    assert encoder.cached and encoder.role == "encoder" and encoder.size > 0
    vtg.ground(three_scene_video, "a red door", method=method)
    again = method.plan(three_scene_video, Query("a red door"))
    assert again.features_cached is True and again.frames == plan.frames
    assert method.plan(three_scene_video, Query(image=three_scene_video)).llm is None  # images are not decomposed


def test_plan_lists_missing_models_without_fetching_them(three_scene_video, no_downloads, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(three_scene_video.parent / "empty-hub"))
    method = load_method("tfvtg", encoder="hf-clip:acme/not-here", llm="hf:acme/chat", device="cpu")
    plan = method.plan(three_scene_video, Query("a person sits"))
    assert [(m.role, m.name, m.source, m.cached) for m in plan.missing] == [
        ("encoder", "hf-clip:acme/not-here", "encoder", False), ("chat model (--llm)", "acme/chat", "hub", False)]
    assert plan.features_cached is False and plan.frames == 36 and plan.llm == "hf:acme/chat"
    monkeypatch.undo()  # the fixture's refusal goes too; offline (conftest) the step fails in one line
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="not-here"):
        fetch_models(plan)


def test_video_llm_plan_names_the_model_and_its_frames(three_scene_video, no_downloads, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(three_scene_video.parent / "empty-hub"))
    method = load_method("numpro", model="acme/video-llm", device="cpu")
    plan = method.plan(three_scene_video)
    fps, max_frames = method.frame_rule(plan.duration)
    assert plan.encoder is None and plan.features_cached is None
    assert plan.frames == expected_frames(plan.duration, fps, max_frames, 120) and plan.frames > 0
    assert [(m.role, m.name, m.source, m.cached) for m in plan.models] == [("video-llm", "acme/video-llm", "hub", False)]


def test_a_missing_model_folder_fails_the_plan(three_scene_video, tmp_path):
    """UniVTG's --model folder is checked first (its own weights, before any encoder)."""
    with pytest.raises(vtg.VtgError, match="missing"):
        load_method("univtg", model=str(tmp_path / "missing")).plan(three_scene_video)


def test_find_weights_only_looks(tmp_path, no_downloads, monkeypatch, tiny_encoder):
    from vtg.encoders import weights
    from vtg.encoders.specs import parse_spec

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE")  # downloads allowed: still nothing may be fetched
    assert weights.find_weights("hf-clip:acme/not-here") is None
    assert weights.local_fingerprint(parse_spec("hf-clip:acme/not-here")) is None
    assert weights.find_weights(str(tiny_encoder)) == str(tiny_encoder)
    assert weights.local_fingerprint(parse_spec(str(tiny_encoder))) == weights.fetch_fingerprint(
        parse_spec(str(tiny_encoder)))


def test_features_of_a_missing_model_are_a_miss_and_the_load_step_says_so(three_scene_video, tmp_path,
                                                                          monkeypatch):
    """The cache lookup no longer fetches weights to build its key: missing weights are a miss, and
    the encoder's load (offline here) is the step that reports them."""
    from vtg.features import features_cached, video_features

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert not features_cached(three_scene_video, "hf-clip:acme/not-here", 1.0, None)
    with pytest.raises(WeightsNotFoundError, match="acme/not-here"):
        video_features(three_scene_video, "hf-clip:acme/not-here", 1.0, device="cpu")


def test_plan_round_trips_as_data(three_scene_video, tiny_encoder):
    plan = load_method("tfvtg", encoder=str(tiny_encoder)).plan(three_scene_video)
    data = plan.to_dict()
    assert data["frames"] == plan.frames and data["models"][0]["name"] == str(tiny_encoder)
    assert np.isfinite(data["duration"])

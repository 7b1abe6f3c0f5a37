"""The shared Video-LLM runner and the whole frames -> prompt -> generate -> parse path of every
Video-LLM method, with a tiny random Qwen2-VL saved to disk and loaded like real weights."""

from __future__ import annotations

import numpy as np
import pytest

from vtg.errors import UsageError, WeightsNotFoundError
from vtg.registry import load_method
from vtg.types import Query
from vtg.methods.videollm import Image, Video, fit_frames, load_videollm, smart_resize
from vtg.methods.videollm.tiny import save_tiny_qwen2vl
from vtg.types import Grounding


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return str(save_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl")))


@pytest.fixture(scope="module")
def tiny_model_25(tmp_path_factory):
    return str(save_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen25vl"), version="2.5"))


def test_smart_resize_keeps_grid_and_budget():
    h, w = smart_resize(270, 480, 336 * 336)
    assert h % 28 == 0 and w % 28 == 0 and h * w <= 336 * 336
    assert abs(w / h - 480 / 270) < 0.15
    assert smart_resize(336, 336, 336 * 336) == (336, 336)
    frames = np.zeros((2, 120, 160, 3), np.uint8)
    assert fit_frames(frames, 224 * 224).shape[1:3] == smart_resize(120, 160, 224 * 224)


@pytest.mark.parametrize("which", ["tiny_model", "tiny_model_25"])
def test_runner_generates_from_video_and_interleaved_images(which, request):
    llm = load_videollm(request.getfixturevalue(which), "cpu")
    assert llm.device == "cpu" and llm.model.dtype.is_floating_point
    frames = fit_frames(np.random.default_rng(0).integers(0, 255, (4, 112, 140, 3), dtype=np.uint8), 112 * 140)
    assert frames.shape[1:3] == (112, 140)
    video_answer = llm.generate([Video(frames, np.arange(4.0)), "During which frames?"], max_new_tokens=6)
    image_answer = llm.generate(["Second{0.0}", Image(frames[0]), "Second{1.0}", Image(frames[1]), "When?"],
                                max_new_tokens=6)
    assert isinstance(video_answer, str) and isinstance(image_answer, str)
    # One token per 28x28 pixels, used as given (no rescaling by the processor): 4 frames of
    # 112x140 are 2 temporal groups x 4x5 tokens; 2 images are 2 x 4x5 tokens.
    assert llm.count_visual_tokens([Video(frames, np.arange(4.0))]) == 40
    assert llm.count_visual_tokens([Image(frames[0]), Image(frames[1])]) == 40


def test_greedy_decoding_is_deterministic(tiny_model):
    llm = load_videollm(tiny_model, "cpu")
    frames = np.full((2, 56, 56, 3), 128, np.uint8)
    parts = [Video(frames, np.array([0.0, 1.0])), "When?"]
    assert llm.generate(parts, max_new_tokens=5) == llm.generate(parts, max_new_tokens=5)


def test_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="--model"):
        load_videollm(str(tmp_path / "nowhere"), "cpu")
    with pytest.raises(WeightsNotFoundError, match="hf download"):
        load_videollm("nobody-has-this/qwen-vl-nothing", "cpu")


def test_bad_dtype_is_usage_error(tiny_model):
    with pytest.raises(UsageError, match="dtype"):
        load_videollm(tiny_model, "cpu", "int3")


@pytest.mark.parametrize("method,options", [
    ("numpro", {}),
    ("timemarker", {"max_frame_tokens": 16}),
    ("vtgllm", {"num_frames": 16, "time_tokens": "add"}),
])
def test_whole_path_on_a_real_video_file(method, options, tiny_model, three_scene_video):
    m = load_method(method, model=tiny_model, device="cpu", max_new_tokens=12, **options)
    result = m.ground(three_scene_video, Query("the blue screen"))
    assert isinstance(result, Grounding) and result.method == method
    assert result.meta["model"] == tiny_model and isinstance(result.meta["answer"], str)
    assert result.meta["status"] in ("ok", "no moment found")
    assert abs(result.duration - 12.0) < 0.2
    times = result.saliency.times
    assert len(times) == result.meta["num_frames"] > 0 and np.all(np.diff(times) > 0)
    assert times[0] < 0.2 and times[-1] < 12.0
    assert set(np.unique(result.saliency.scores)) <= {0.0, 1.0}
    assert (result.meta["status"] == "ok") == bool(result.moments)
    for moment in result.moments:
        assert 0.0 <= moment.start <= moment.end <= result.duration + 1e-6
    result.to_dict()  # JSON-ready


def scripted(monkeypatch, llm, answer):
    """Make the loaded tiny model 'answer' a fixed text while the rest of the path stays real."""
    seen = {}

    def generate(parts, **kwargs):
        seen["parts"] = parts
        return answer

    monkeypatch.setattr(llm, "generate", generate)
    return seen


def test_numpro_answer_maps_through_true_timestamps(monkeypatch, tiny_model, three_scene_video):
    m = load_method("numpro", model=tiny_model, device="cpu")
    seen = scripted(monkeypatch, m.runner(), "From Frame 8 to Frame 11.")
    result = m.ground(three_scene_video, Query("blue"))
    assert [round(x, 1) for x in (result.moments[0].start, result.moments[0].end)] == [8.0, 12.0]
    assert result.saliency.scores.tolist() == [0.0] * 8 + [1.0] * 4
    video, prompt = seen["parts"]
    assert isinstance(video, Video) and video.frames.shape[0] == 12
    assert "red numbers" in prompt and "From Frame x to Frame y" in prompt and "blue" in prompt
    corner = video.frames[3, -40:, -40:].reshape(-1, 3).astype(int)
    assert ((corner[:, 0] > 180) & (corner[:, 1] < 80) & (corner[:, 2] < 80)).any()  # red digits


def test_no_interval_answer_reports_no_moment(monkeypatch, tiny_model, three_scene_video):
    m = load_method("timemarker", model=tiny_model, device="cpu")
    scripted(monkeypatch, m.runner(), "I cannot tell from this video.")
    result = m.ground(three_scene_video, Query("a dog"))
    assert result.moments == () and result.meta["status"] == "no moment found"
    assert result.meta["answer"] == "I cannot tell from this video."
    assert not result.saliency.scores.any()


def test_cli_ground_with_a_video_llm_method(tiny_model, three_scene_video, capsys):
    import json

    from vtg.cli.main import main

    code = main(["ground", str(three_scene_video), "the red stripes", "-m", "numpro", "--model", tiny_model,
                 "--device", "cpu", "-O", "max_new_tokens=8", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    record = out[0] if isinstance(out, list) else out
    assert record["method"] == "numpro" and record["meta"]["model"] == tiny_model
    assert len(record["saliency_times"]) == 12


def test_cli_ground_missing_model_is_one_line_error(three_scene_video, tmp_path, capsys):
    from vtg.cli.main import main

    code = main(["ground", str(three_scene_video), "anything", "-m", "timemarker", "--model", str(tmp_path / "none")])
    assert code != 0
    err = capsys.readouterr().err
    assert err.startswith("vtg: error:") and "--model" in err and "Traceback" not in err


def test_timemarker_interleaves_separators_and_reads_seconds(monkeypatch, tiny_model, three_scene_video):
    m = load_method("timemarker", model=tiny_model, device="cpu")
    seen = scripted(monkeypatch, m.runner(), "The event happens in second{8.0} - second{11.0}.")
    result = m.ground(three_scene_video, Query("blue"))
    parts = seen["parts"]
    assert parts[0] == "Second{0.0}" and isinstance(parts[1], Image) and parts[2] == "Second{1.0}"
    assert sum(isinstance(p, Image) for p in parts) == 12  # 12 s video: 1 frame per second
    assert parts[1].frame.shape[0] * parts[1].frame.shape[1] <= 256 * 28 * 28
    assert [(m.start, m.end) for m in result.moments] == [(8.0, 11.0)]
    assert result.saliency.scores.tolist() == [0.0] * 8 + [1.0] * 4


def test_vtgllm_writes_times_in_time_tokens(monkeypatch, tiny_model, three_scene_video):
    from vtg.methods.vtgllm import TIME_TOKENS, format_time

    m = load_method("vtgllm", model=tiny_model, device="cpu", num_frames=12, time_tokens="add")
    llm = m.runner()
    seen = scripted(monkeypatch, llm, f"{format_time(8.0)} - {format_time(11.5)} seconds")
    result = m.ground(three_scene_video, Query("blue"))
    video, prompt = seen["parts"]
    assert video.frames.shape[0] == 12 and prompt.startswith("The video contains 12 frames sampled at ")
    assert f", {format_time(video.times[-1])} seconds. Find the video segment" in prompt
    ids = llm.tokenizer.encode(prompt, add_special_tokens=False)
    assert set(llm.tokenizer.convert_tokens_to_ids(list(TIME_TOKENS))) & set(ids)
    assert [(m.start, m.end) for m in result.moments] == [(8.0, 11.5)]


def test_each_separator_comes_right_before_its_frames_visual_tokens(tiny_model):
    # Decode what the processor really feeds the model: Second{t}, then that frame's vision block.
    import re

    llm = load_videollm(tiny_model, "cpu")
    frames = np.random.default_rng(2).integers(0, 255, (3, 56, 84, 3), dtype=np.uint8)
    parts = []
    for i, frame in enumerate(frames):
        parts += [f"Second{{{float(i):.1f}}}", Image(frame)]
    ids = llm.build_inputs(parts + ["\nWhen?"])["input_ids"][0].tolist()
    text = llm.tokenizer.decode(ids, skip_special_tokens=False)
    blocks = re.findall(r"Second\{(\d\.\d)\}<\|vision_start\|>((?:<\|image_pad\|>)+)<\|vision_end\|>", text)
    assert [b[0] for b in blocks] == ["0.0", "1.0", "2.0"]
    assert all(b[1].count("<|image_pad|>") == 2 * 3 for b in blocks)  # 56x84 frame: 2x3 tokens


def test_numbered_frames_reach_the_model_unresized(tiny_model):
    # The processor must not resize NumPro's frames, or the number would not sit where drawn: undo
    # its patching and normalisation and compare with the numbered frames pixel for pixel.
    import torch

    from vtg.overlays.numbers import number_box, number_frames

    llm = load_videollm(tiny_model, "cpu")
    numbered = number_frames(fit_frames(np.random.default_rng(3).integers(0, 60, (2, 270, 480, 3), dtype=np.uint8),
                                        336 * 336))
    inputs = llm.build_inputs([Video(numbered, np.arange(2.0)), "q"])
    t, gh, gw = inputs["video_grid_thw"][0].tolist()
    x = inputs["pixel_values_videos"].reshape(t, gh // 2, gw // 2, 2, 2, 3, 2, 14, 14)
    x = x.permute(0, 6, 5, 1, 3, 7, 2, 4, 8).reshape(2 * t, 3, gh * 14, gw * 14)
    mean = torch.tensor(llm.processor.video_processor.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(llm.processor.video_processor.image_std).view(1, 3, 1, 1)
    seen = ((x * std + mean) * 255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    assert seen.shape == numbered.shape and np.abs(seen.astype(int) - numbered.astype(int)).max() <= 1
    left, top, right, bottom = number_box(*numbered.shape[1:3], "1")
    ys, xs = np.nonzero((seen[1, ..., 0] > 200) & (seen[1, ..., 1] < 80))
    assert xs.min() >= left and xs.max() <= right and ys.min() >= top and ys.max() <= bottom


def test_warm_up_loads_the_video_llm(tiny_model):
    """`vtg serve` warms the method before binding its port: a Video-LLM method loads its model then."""
    from vtg.engine import default_manager
    from vtg.registry import load_method

    manager = default_manager()
    manager.release("video-llm")
    load_method("numpro", model=tiny_model, device="cpu").warm_up()
    assert [key[0] for kind, key in manager.loaded("video-llm")] == [tiny_model]

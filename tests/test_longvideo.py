"""Long videos and Video-LLMs: frame selection rules, window sampling with true timestamps,
coarse-to-fine grounding (windows, answers mapped back, ranking rule) and other models' answer
formats (TimeChat, VTimeLLM) with ``vtg parse``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vtg.errors import UnknownNameError, UsageError
from vtg.registry import load_method
from vtg.types import Query
from vtg.methods.refine import Window, normalised_scores, rank, widen
from vtg.methods.videollm.answers import parse_answer, parse_timechat, parse_vtimellm
from vtg.methods.videollm.selection import diff_prune, keyframes, merge_to_budget, select
from vtg.methods.videollm.tiny import save_tiny_qwen2vl
from vtg.types import Moment


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return str(save_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl")))


def scripted(monkeypatch, llm, answers):
    """The tiny model 'answers' the given texts in turn; everything else stays real."""
    seen = []
    queue = list(answers)

    def generate(parts, **kwargs):
        seen.append(parts)
        return queue.pop(0) if queue else "no idea"

    monkeypatch.setattr(llm, "generate", generate)
    return seen


# -- selection rules on features -------------------------------------------------------------

def static_and_busy(n_static=20, n_busy=20, dim=16, seed=0):
    """Features: a static stretch (one vector + tiny noise), then a busy one (a new vector each)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=dim)
    static = base + 1e-4 * rng.normal(size=(n_static, dim))
    busy = rng.normal(size=(n_busy, dim))
    return np.concatenate([static, busy])


def test_keyframes_keep_one_frame_of_a_static_stretch_and_every_busy_frame():
    kept = keyframes(static_and_busy(), threshold=0.05)
    assert kept[0] == 0
    assert np.sum(kept < 20) == 1            # the static stretch collapses to its first frame
    assert np.array_equal(kept[1:], np.arange(20, 40))


def test_diff_prune_compares_with_the_previous_frame_not_the_last_kept_one():
    # A slow drift: each step (0.04 -> ~38 on VideoLLaMA3's x255 normalised scale) is below a
    # threshold of 100, and as in VideoLLaMA3 the drift never accumulates: only frame 0 stays.
    frames = np.stack([np.full((4, 4, 3), 0.04 * i, np.float32) for i in range(10)])
    assert diff_prune(frames, threshold=100.0).tolist() == [0]
    assert diff_prune(frames).tolist() == list(range(10))  # the default 0.1 keeps every change


def test_diff_prune_drops_repeated_frames():
    frames = np.zeros((6, 4, 4, 3), np.float32)
    frames[3:] = 1.0
    assert diff_prune(frames).tolist() == [0, 3]


def test_merge_to_budget_keeps_one_real_frame_per_similar_run():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 32))
    feats = np.concatenate([c + 0.01 * rng.normal(size=(5, 32)) for c in centres])   # 4 runs of 5
    kept = merge_to_budget(feats, 4)
    assert len(kept) == 4 and np.all(np.diff(kept) > 0)
    assert [k // 5 for k in kept] == [0, 1, 2, 3]  # one representative inside each run


def test_merge_to_budget_is_identity_under_budget_and_rejects_zero():
    assert merge_to_budget(np.eye(3), 5).tolist() == [0, 1, 2]
    with pytest.raises(UsageError):
        merge_to_budget(np.eye(3), 0)


def test_select_caps_threshold_rules_at_the_budget():
    feats = static_and_busy()
    kept = select("keyframes", feats, threshold=0.05, budget=8)
    assert len(kept) == 8 and np.all(np.diff(kept) > 0)
    uniform = select("uniform", feats, budget=5)
    assert uniform.tolist() == [0, 10, 20, 29, 39]
    with pytest.raises(UsageError, match="unknown frame selection"):
        select("random", feats)


# -- window sampling and selection on a real file --------------------------------------------

@pytest.fixture
def static_busy_video(make_video):
    """20 s at 10 fps: 10 s of one still picture, then 10 s whose picture changes every second."""
    scenes = [((200, 30, 30), 10.0, 0)]
    colours = [(30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]
    scenes += [(colours[i % 5], 1.0, i % 3) for i in range(10)]
    return make_video("static_busy.mp4", scenes)


def all_frame_times(path):
    from vtg.video import read_frames

    return read_frames(path, None).times


@pytest.mark.parametrize("rule", ["keyframes", "diff", "merge"])
def test_selected_frames_carry_their_true_presentation_times(rule, tiny_model, static_busy_video):
    m = load_method("numpro", model=tiny_model, device="cpu", select=rule, candidate_fps=2.0,
                    frame_budget=12)
    sampled = m.sample(static_busy_video)
    true_times = all_frame_times(static_busy_video)
    assert 0 < len(sampled.times) <= 12 and np.all(np.diff(sampled.times) > 0)
    for t in sampled.times:   # every kept time is a frame's own presentation time
        assert np.min(np.abs(true_times - t)) < 1e-6
    assert sampled.note["selection"] == rule and sampled.note["candidates"] == 40
    if rule != "merge":       # threshold rules spend few frames on the still half
        assert np.sum(sampled.times < 10) < np.sum(sampled.times >= 10)


def test_threshold_rules_keep_fewer_frames_than_fixed_rate_on_static_footage(tiny_model, static_busy_video):
    uniform = load_method("numpro", model=tiny_model, device="cpu", fps=2.0).sample(static_busy_video)
    diff = load_method("numpro", model=tiny_model, device="cpu", select="diff", candidate_fps=2.0).sample(static_busy_video)
    assert len(uniform.times) == 40
    assert len(diff.times) <= 12   # 1 for the still half + ~10 changes + 1 frame of slack


def test_sample_span_applies_the_methods_rule_to_the_window(tiny_model, static_busy_video):
    m = load_method("numpro", model=tiny_model, device="cpu")           # 1 fps
    sampled = m.sample_span(static_busy_video, 12.0, 17.0)
    assert np.allclose(sampled.times, [12, 13, 14, 15, 16], atol=0.11)
    assert abs(sampled.duration - 20.0) < 0.2                             # still the video's
    vtg = load_method("vtgllm", model=tiny_model, device="cpu", num_frames=96, frame_budget=10)
    assert len(vtg.sample_span(static_busy_video, 0.0, 20.0).times) == 10


def test_frame_budget_must_be_positive(tiny_model, static_busy_video):
    with pytest.raises(UsageError, match="frame_budget"):  # refused by the option schema, before sampling
        load_method("numpro", model=tiny_model, device="cpu", frame_budget=0).sample(static_busy_video)


# -- coarse-to-fine --------------------------------------------------------------------------

def test_widen_pads_clips_and_merges_overlaps():
    moments = [Moment(100, 110, 1.0), Moment(112, 118, 0.5), Moment(500, 520, 0.8), Moment(0, 4, 0.2)]
    windows = widen(moments, 600.0, margin=0.5, min_margin=10.0)
    assert [(w.start, w.end) for w in windows] == [(90, 128), (490, 530), (0, 14)]
    assert windows[0].fast.score == 1.0   # the merged window keeps the better fast moment


def test_ranking_rule_puts_answered_windows_first_ordered_by_fast_score():
    f = normalised_scores([2.0, 1.0, 0.0])
    assert f == [1.0, 0.5, 0.0]
    ranked = rank([(Moment(10, 20), False, 1.0), (Moment(30, 35), True, 0.0), (Moment(50, 55), True, 0.5)])
    assert [(m.start, m.score) for m in ranked] == [(50, 0.75), (30, 0.5), (10, 0.5)]
    # two windows agreeing on one event keep it once
    assert len(rank([(Moment(10, 20), True, 1.0), (Moment(10.5, 20), True, 0.9)])) == 1
    assert normalised_scores([3.0, 3.0]) == [1.0, 1.0]


def test_refine_maps_each_windows_answer_back_to_video_time(monkeypatch, tiny_model, make_video, tmp_path):
    from vtg.encoders.testing import tiny_hf_clip

    encoder = str(tiny_hf_clip(tmp_path / "clip"))
    video = make_video("long.mp4", [((200, 30, 30), 30.0, 0), ((30, 30, 200), 10.0, 1), ((30, 200, 30), 20.0, 2)])
    method = load_method("refine", model=tiny_model, encoder=encoder, device="cpu", k=2,
                         min_margin=2.0, margin=0.0, window_frames=8, fps=1.0)
    llm = method.video_llm()
    monkeypatch.setattr(type(method), "video_llm", lambda self: llm)
    seen = scripted(monkeypatch, llm.runner(), ["From Frame 1 to Frame 2.", "nothing here"])
    from vtg.video import pyav_backend

    probes = []
    real_probe = pyav_backend.probe
    monkeypatch.setattr(pyav_backend, "probe", lambda path: probes.append(path) or real_probe(path))
    result = method.ground(video, Query("a blue screen"))
    assert len(probes) == 1   # one probe for the fast stage, the window cap and every window
    windows = result.meta["windows"]
    assert len(seen) == len(windows) >= 1
    first = windows[0]
    video_part = seen[0][0]
    # window-relative times shown to the model; answers shifted back by the window's first frame
    assert video_part.times[0] == pytest.approx(0.0, abs=1e-6)
    assert first["frames"] == len(video_part.times) <= 8
    start, end = first["moments"][0]
    assert start == pytest.approx(first["start"] + video_part.times[1], abs=0.11)
    assert end == pytest.approx(first["start"] + video_part.times[3], abs=0.11)
    assert result.moments[0].start == pytest.approx(start) and result.moments[0].score >= 0.5
    assert result.meta["frames_shown"] == sum(w["frames"] for w in windows)
    assert len(result.saliency.times) == 60       # the fast stage's curve (1 fps over 60 s)
    assert result.method == "refine"


def test_refine_options_are_checked(tiny_model, three_scene_video):
    with pytest.raises(UsageError, match="videollm"):
        load_method("refine", videollm="tfvtg").ground(three_scene_video, Query("x"))
    with pytest.raises(UsageError, match="fast_model"):
        load_method("refine", fast="univtg", model=tiny_model).ground(three_scene_video, Query("x"))
    with pytest.raises(UsageError, match="k must be"):
        load_method("refine", k=0).ground(three_scene_video, Query("x"))


def test_window_dataclass_is_plain():
    w = Window(1.0, 2.0, Moment(1.2, 1.8, 0.3))
    assert w.end - w.start == 1.0


# -- other models' answer formats ------------------------------------------------------------

def test_timechat_answers_with_several_events():
    text = "0.0 - 12.0 seconds, a man enters. 12.0 - 30.5 seconds, he sits down."
    assert [m.to_list()[:2] for m in parse_timechat(text, 60.0)] == [[0.0, 12.0], [12.0, 30.5]]
    assert parse_timechat("The given query happens in 40.5 - 90 seconds.", 60.0)[0].to_list()[:2] == [40.5, 60.0]
    assert parse_timechat("no idea", 60.0) == []


def test_vtimellm_indices_are_hundredths_of_the_duration():
    assert [m.to_list()[:2] for m in parse_vtimellm("From 04 to 12.", 50.0)] == [[2.0, 6.0]]
    two = parse_vtimellm('[{"event": "a", "timestamps": "from 00 to 10"}, {"event": "b", "timestamps": "from 30 to 20"}]', 100.0)
    assert [m.to_list()[:2] for m in two] == [[0.0, 10.0], [20.0, 30.0]]
    assert parse_vtimellm("between 4 and 120", 10.0) == []      # not two-digit indices
    with pytest.raises(UsageError, match="duration"):
        parse_vtimellm("from 04 to 12", None)


def test_answer_parsers_take_hostile_text_in_one_pass():
    moments = parse_vtimellm("04 to " * 20000, 100.0)
    assert [m.to_list()[:2] for m in moments] == [[4.0, 4.0]]
    assert parse_vtimellm("9" * 100000, 100.0) == []
    assert parse_timechat("second " * 20000, 10.0) == []


def test_parse_answer_registry():
    assert parse_answer("numpro", "From Frame 2 to Frame 3", 10.0)[0].to_list()[:2] == [2.0, 4.0]
    assert parse_answer("vtgllm", "0002.5 - 0004.0 seconds", 10.0)[0].to_list()[:2] == [2.5, 4.0]
    with pytest.raises(UnknownNameError):
        parse_answer("gpt", "x", 1.0)


def test_vtg_parse_writes_predictions_that_eval_reads(tmp_path, capsys):
    from vtg.cli.main import main

    answers = tmp_path / "answers.jsonl"
    lines = [
        {"qid": 1, "vid": "a", "query": "door", "duration": 50.0, "answer": "From 04 to 12."},
        {"qid": 2, "vid": "b", "query": "sit", "duration": 20.0, "answer": "I do not know."},
        "not json",
    ]
    answers.write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + "\n")
    out = tmp_path / "pred.jsonl"
    code = main(["parse", str(answers), "--answer-format", "vtimellm", "-o", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and "line 3" in err and "internal error" not in err
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["qid"] for r in records] == [1, 2]
    assert records[0]["pred_relevant_windows"][0][:2] == [2.0, 6.0]
    assert records[1]["pred_relevant_windows"] == []
    gt = tmp_path / "gt.jsonl"
    gt.write_text(json.dumps({"qid": 1, "vid": "a", "query": "door", "duration": 50.0,
                              "relevant_windows": [[2.0, 6.0]]}) + "\n")
    pred1 = tmp_path / "pred1.jsonl"
    pred1.write_text(out.read_text().splitlines()[0] + "\n")
    assert main(["eval", str(pred1), str(gt), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)


def test_window_decoding_seeks_yet_returns_the_sequential_frames(tmp_path):
    """The one-seek decode used for windows gives the frames and times of a full sequential pass,
    on a plain file, a B-frame file and a stream-copied cut with an edit list."""
    from video_helpers import index_frame, read_index, stream_copy_cut, write_timed

    from conftest import write_video
    from vtg.video import probe, pyav_backend

    plain = write_video(tmp_path / "indexed.mp4", (index_frame(i) for i in range(100)), 10)
    bframes = write_timed(tmp_path / "b.mp4", [100 * i for i in range(60)], bframes=3)
    cut = stream_copy_cut(plain, tmp_path / "cut.mp4", 3.5)
    for path in (plain, bframes, cut):
        info = probe(path)
        for start in (0.0, 2.25, 4.0):
            targets = start + np.arange(0, 1.8, 0.3)
            seq = list(pyav_backend.decode(path, info, targets, None))
            seek = list(pyav_backend.decode_from_first_target(path, info, targets, None))
            assert [t for t, _ in seek] == [t for t, _ in seq]
            assert [read_index(f) for _, f in seek] == [read_index(f) for _, f in seq]


def test_refine_uses_univtg_as_fast_stage_when_given_a_model(monkeypatch, tiny_model, make_video, tmp_path):
    torch = pytest.importorskip("torch")
    from vtg.encoders.testing import tiny_hf_clip
    from vtg.methods.univtg.config import ModelConfig
    from vtg.methods.univtg.model import UniVTGModel
    from vtg.methods.univtg.weights import save_model

    encoder = str(tiny_hf_clip(tmp_path / "clip"))
    torch.manual_seed(0)
    cfg = ModelConfig(v_feat_dim=16 + 2, t_feat_dim=32, hidden_dim=16, enc_layers=1, nheads=2,
                      dim_feedforward=32, video_features="custom")
    univtg = str(save_model(UniVTGModel(cfg), cfg, tmp_path / "univtg"))
    video = make_video("v.mp4", [((200, 30, 30), 20.0, 0), ((30, 30, 200), 20.0, 1)])
    method = load_method("refine", model=tiny_model, encoder=encoder, fast_model=univtg, device="cpu",
                         k=2, window_frames=4)
    llm = method.video_llm()
    monkeypatch.setattr(type(method), "video_llm", lambda self: llm)
    seen = scripted(monkeypatch, llm.runner(), ["From Frame 0 to Frame 1."] * 3)
    result = method.ground(video, Query("blue"))
    assert result.meta["fast_method"] == "univtg" and len(seen) == len(result.meta["windows"]) >= 1
    assert all(w["frames"] <= 4 for w in result.meta["windows"])
    assert result.moments and result.moments[0].score >= 0.5


def test_refine_hooks_are_the_fast_stages(make_video, tmp_path):
    """vtg index / the preflight / batch prefetch see the fast stage's encoder and sampling."""
    from vtg.encoders.testing import tiny_hf_clip

    encoder = str(tiny_hf_clip(tmp_path / "clip"))
    video = make_video("v.mp4", [((200, 30, 30), 6.0, 0)])
    refine = load_method("refine", encoder=encoder, fps=1.0, device="cpu")
    tfvtg = load_method("tfvtg", encoder=encoder, fps=1.0, device="cpu")
    assert refine.feature_settings(video) == tfvtg.feature_settings(video)
    assert refine.feature_settings(video)["encoder"] == encoder
    from vtg.errors import WeightsNotFoundError

    with pytest.raises(WeightsNotFoundError, match="no UniVTG weights"):  # before any download
        load_method("refine", fast_model=str(tmp_path / "missing")).check_weights()


def test_vtg_parse_reads_lines_as_batch_does_and_survives_deep_nesting(tmp_path, capsys):
    """A BOM is dropped; a line of 100,000 '[' is that line's error, never an internal error."""
    from vtg.cli.main import main

    answers = tmp_path / "answers.jsonl"
    record = json.dumps({"qid": 7, "vid": "a", "query": "door", "duration": 10.0, "answer": "from 10 to 20"})
    answers.write_text("\ufeff" + record + "\n" + "[" * 100000 + "\n")
    out = tmp_path / "pred.jsonl"
    assert main(["parse", str(answers), "-a", "vtimellm", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "line 2" in err and "internal error" not in err and err.count("vtg: error:") == 1
    assert [json.loads(x)["qid"] for x in out.read_text().splitlines()] == [7]

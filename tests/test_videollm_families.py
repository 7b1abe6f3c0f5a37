"""Every Video-LLM family the runner drives, each with a tiny random model saved to disk by
``save_tiny`` and loaded through the users' path: each method's CLI run answers a valid record,
the family is read from config.json, its frame-time convention reaches the model's input, and
checkpoints it cannot drive are refused in one line without running their code."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from conftest import scene_frame, write_video
from vtg.errors import ModelError
from vtg.methods.videollm import Image, Video, load_videollm
from vtg.methods.videollm.families import FAMILIES, family_of
from vtg.methods.videollm.runner import model_family
from vtg.methods.videollm.tiny import BUILDERS, save_tiny
from vtg.types import Grounding

FAMILY_NAMES = list(FAMILIES)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """``tiny_models(family)`` -> folder of its tiny model, saved once per session."""
    saved: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in saved:
            saved[name] = str(save_tiny(name, tmp_path_factory.mktemp(f"tiny-{name}")))
        return saved[name]

    return get


@pytest.fixture(scope="session", params=FAMILY_NAMES)
def family_model(request, tiny_models):
    """(family name, folder of its tiny model)."""
    return request.param, tiny_models(request.param)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    from vtg.encoders.testing import tiny_hf_clip

    return str(tiny_hf_clip(tmp_path_factory.mktemp("clip")))


@pytest.fixture(scope="session")
def short_video(tmp_path_factory):
    """4 s at 5 fps, 96x64: red stripes, green checkerboard, blue (frames stay few for the CPU)."""
    frames = [scene_frame(c, (96, 64), p) for c, p in [((200, 30, 30), 1), ((30, 200, 30), 2), ((30, 30, 200), 0)]
              for _ in range(7)][:20]
    return write_video(tmp_path_factory.mktemp("families") / "short.mp4", frames, 5.0)


def test_every_family_has_a_tiny_model_and_back():
    assert set(BUILDERS) == set(FAMILIES)
    assert {"qwen2-vl", "qwen2.5-vl", "qwen3-vl", "video-llava", "llava-onevision", "videollama3", "internvl",
            "llava-next-video"} <= set(FAMILIES)


def test_family_is_read_from_config_json(family_model):
    name, folder = family_model
    assert model_family(folder).name == name
    with open(f"{folder}/config.json") as f:
        assert family_of(json.load(f)).name == name


@pytest.mark.parametrize("method", ["numpro", "timemarker", "vtgllm"])
def test_cli_ground_answers_a_valid_record_on_every_family(method, family_model, short_video, capsys):
    from vtg.cli.main import main

    name, folder = family_model
    code = main(["ground", str(short_video), "the blue screen", "-m", method, "--model", folder,
                 "--device", "cpu", "-O", "max_new_tokens=8", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    record = out[0] if isinstance(out, list) else out
    result = Grounding.from_dict(record)
    meta = result.meta
    assert result.method == method and meta["model"] == folder and meta["family"] == name
    assert isinstance(meta["answer"], str) and meta["status"] in ("ok", "no moment found")
    assert (meta["status"] == "ok") == bool(result.moments)
    cap = FAMILIES[name].max_frames
    assert 0 < meta["num_frames"] == len(result.saliency.times) <= (cap or 10 ** 6)
    assert np.all(np.diff(result.saliency.times) > 0) and abs(result.duration - 4.0) < 0.3
    for m in result.moments:
        assert 0.0 <= m.start <= m.end <= result.duration + 1e-6


def test_refine_runs_on_every_family(family_model, short_video, tiny_clip):
    from vtg.registry import load_method
    from vtg.types import Query

    name, folder = family_model
    result = load_method("refine", model=folder, encoder=tiny_clip, device="cpu", k=1, window_frames=4,
                         fps=1.0).ground(short_video, Query("the blue screen"))
    assert result.method == "refine" and len(result.meta["windows"]) >= 1
    assert all(isinstance(w["answer"], str) for w in result.meta["windows"])


def decoded_prompt(folder: str, parts) -> str:
    """The text the model reads, runs of one placeholder token shown once."""
    llm = load_videollm(folder, "cpu")
    text = llm.tokenizer.decode(llm.build_inputs(parts)["input_ids"][0].tolist(), skip_special_tokens=False)
    return re.sub(r"(<[^<>]{1,16}>)\1+", r"\1", text)


def frames_for(folder: str, n: int) -> np.ndarray:
    llm = load_videollm(folder, "cpu")
    frames = np.random.default_rng(0).integers(0, 255, (n, 64, 96, 3), dtype=np.uint8)
    return llm.fit_frames(frames, 64 * 64)


def test_each_family_conveys_true_frame_times_its_own_way(family_model):
    name, folder = family_model
    times = np.array([0.5, 1.5, 2.5, 3.5])
    text = decoded_prompt(folder, [Video(frames_for(folder, 4), times), "When?"])
    expected = {
        "qwen3-vl": ["<1.0 seconds>", "<3.0 seconds>"],      # one per 2-frame temporal patch: the pair's mean
        "videollama3": ["Time 0.5s:", "Time 1.5s:", "Time 2.5s:", "Time 3.5s:"],
        "llava-onevision": ["4 frames are uniformly sampled", "located at 0.50s,1.50s,2.50s,3.50s."],
        "internvl": ["Frame1: <img>", "Frame4: <img>"],
    }.get(name, [])
    for piece in expected:
        assert piece in text, (name, text)
    if not expected:   # the others carry no time of their own: only the method's text does
        assert "seconds" not in text and "Time " not in text and "0.5" not in text


def test_interleaved_frames_follow_their_separators(family_model):
    name, folder = family_model
    frames = frames_for(folder, 2)
    text = decoded_prompt(folder, ["Second{0.0}", Image(frames[0]), "Second{1.0}", Image(frames[1]), "When?"])
    first, second = text.index("Second{0.0}"), text.index("Second{1.0}")
    assert first < second < text.index("When?")
    llm = load_videollm(folder, "cpu")
    visual = {llm.tokenizer.convert_ids_to_tokens(i) for i in llm.family.visual_token_ids(llm.model.config)}
    between = text[first:second]
    assert any(tok in between for tok in visual), (name, text)   # frame 0's tokens sit after its separator


def test_fixed_size_families_get_frames_at_their_input_size(family_model):
    name, folder = family_model
    llm = load_videollm(folder, "cpu")
    frames = frames_for(folder, 1)
    if llm.family.token_side is None:
        assert frames.shape[1:3] == llm.family.input_size(llm.processor)
    else:
        side = llm.family.token_side
        assert frames.shape[1] % side == 0 and frames.shape[2] % side == 0


def test_frames_a_caller_did_not_fit_are_resized_by_the_processor(family_model):
    # Off-grid sides (61x83): the processor's own resizing applies instead of failing.
    name, folder = family_model
    frames = np.random.default_rng(1).integers(0, 255, (2, 61, 83, 3), dtype=np.uint8)
    answer = load_videollm(folder, "cpu").generate([Video(frames, np.arange(2.0)), Image(frames[0]), "q"],
                                                   max_new_tokens=2)
    assert isinstance(answer, str)


def test_video_llava_shows_at_most_its_eight_frames(tiny_models, short_video):
    from vtg.registry import load_method

    folder = tiny_models("video-llava")
    assert len(load_method("vtgllm", model=folder, device="cpu").sample(short_video).times) == 8
    assert len(load_method("vtgllm", model=folder, device="cpu", frame_budget=5).sample(short_video).times) == 5


def test_remote_code_checkpoint_is_refused_without_running_it(tmp_path, short_video, capsys):
    from vtg.cli.main import main

    folder = tmp_path / "remote"
    folder.mkdir()
    marker = tmp_path / "ran"
    (folder / "config.json").write_text(json.dumps({
        "model_type": "internvl_chat", "auto_map": {"AutoConfig": "configuration_internvl_chat.InternVLChatConfig",
                                                    "AutoModel": "modeling_internvl_chat.InternVLChatModel"}}))
    for module in ("configuration_internvl_chat.py", "modeling_internvl_chat.py"):
        (folder / module).write_text(f"open({str(marker)!r}, 'w').write('executed')\n")
    code = main(["ground", str(short_video), "anything", "-m", "numpro", "--model", str(folder), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code != 0 and not marker.exists()
    assert err.startswith("vtg: error:") and err.count("\n") == 1 and "trust_remote_code" in err
    assert "Qwen2-VL" in err and "VideoLLaMA3" in err


def test_unknown_family_names_the_ones_the_runner_drives(tmp_path, short_video, capsys):
    from vtg.cli.main import main

    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    code = main(["ground", str(short_video), "anything", "-m", "timemarker", "--model", str(folder)])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("vtg: error:") and err.count("\n") == 1
    assert "bert" in err and "cannot drive" in err
    for family in FAMILIES.values():
        assert family.label in err
    with pytest.raises(ModelError, match="cannot drive"):
        family_of({})


def test_vtg_methods_verbose_lists_the_families_of_each_video_llm_method(capsys):
    from vtg.cli.main import main

    assert main(["methods", "-v"]) == 0
    out = capsys.readouterr().out
    blocks = re.split(r"\n(?=\S)", out)
    for method in ("numpro", "timemarker", "vtgllm", "refine"):
        block = " ".join(next(b for b in blocks if b.startswith(method + " ")).split())
        assert "runs on" in block and all(f.label in block for f in FAMILIES.values()), block
    assert "runs on" not in next(b for b in blocks if b.startswith("tfvtg "))


def test_family_of_a_hub_id_is_read_from_its_cached_config(tiny_models, tmp_path, monkeypatch):
    # A Hugging Face id resolves through the hub cache (HF_HUB_CACHE), offline, weights untouched.
    import shutil

    snapshot = tmp_path / "hub" / "models--acme--tiny-vl" / "snapshots" / "0123abc"
    shutil.copytree(tiny_models("qwen3-vl"), snapshot)
    (tmp_path / "hub" / "models--acme--tiny-vl" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny-vl" / "refs" / "main").write_text("0123abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert model_family("acme/tiny-vl").name == "qwen3-vl"

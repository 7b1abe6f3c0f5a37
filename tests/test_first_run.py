"""First use downloads, through huggingface_hub's real client, from a hub on 127.0.0.1.

``tests/hub_server.py`` serves the tests' tiny models the way the Hugging Face hub does, with
``HF_ENDPOINT`` pointed at it and an empty HF cache, so the download path users hit runs here
without the network. Also: offline (``--offline``, ``HF_HUB_OFFLINE=1``) fails before torch is
imported, and an unreachable hub (a closed port) is one line, not a minute of retries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub_server import LocalHub, closed_port_url
from vtg.cli.main import main
from vtg.encoders import clear_loaded, weights
from vtg.encoders.testing import random_open_clip, tiny_hf_clip
from vtg.errors import UnknownNameError, WeightsNotFoundError

ROOT = Path(__file__).resolve().parents[1]
CLIP_REPO, OC_REPO = "vtg-test/tiny-clip", "vtg-test/tiny-oc"
TAG_REPO = "timm/vit_base_patch32_clip_224.openai"  # where open_clip's ViT-B-32/openai lives on the hub


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    root = tmp_path_factory.mktemp("repos")
    oc = random_open_clip(root / "oc")
    tag = root / "tag"
    tag.mkdir()
    (tag / "open_clip_model.safetensors").write_bytes((oc / "open_clip_model.safetensors").read_bytes())
    return {CLIP_REPO: tiny_hf_clip(root / "clip"), OC_REPO: oc, TAG_REPO: tag}


@pytest.fixture
def hub(repos):
    with LocalHub(repos) as server:
        yield server


@pytest.fixture
def online(hub, tmp_path, monkeypatch):
    """In-process: HF_ENDPOINT at the local hub, an empty HF cache, downloads allowed."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read at its import
    clear_loaded()
    yield tmp_path / "hf"
    clear_loaded()


def subprocess_env(tmp_path: Path, endpoint: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HF_HOME", "HF_ENDPOINT")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf-home"), VTG_CACHE_DIR=str(tmp_path / "vtg"),
               HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT), **extra)
    return env


def test_first_use_downloads_with_size_and_bar_then_uses_the_cache(online, hub, capsys):
    path = weights.ensure_weights(f"hf-clip:{CLIP_REPO}")
    assert Path(path).is_file() and str(online) in path and path.endswith("model.safetensors")
    err = capsys.readouterr().err
    assert f"downloading {CLIP_REPO} (" in err and "KB in 5 files" in err
    assert "100%" in err  # the byte bar reached its end
    bodies = sorted(p.rsplit("/", 1)[-1] for p in hub.downloaded())
    assert bodies == ["config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json",
                      "tokenizer_config.json"]
    seen = len(hub.requests)
    assert weights.ensure_weights(f"hf-clip:{CLIP_REPO}") == path  # second use: no request at all
    assert len(hub.requests) == seen and capsys.readouterr().err == ""


def test_the_plan_looks_without_a_request_and_the_fetch_step_downloads(online, hub, three_scene_video):
    from vtg.planning import fetch_models
    from vtg.registry import load_method

    method = load_method("tfvtg", encoder=f"hf-clip:{CLIP_REPO}", device="cpu")
    plan = method.plan(three_scene_video)
    assert hub.requests == [] and [(m.name, m.cached, m.size) for m in plan.missing] == [
        (f"hf-clip:{CLIP_REPO}", False, None)]
    fetch_models(plan)
    assert "model.safetensors" in {p.rsplit("/", 1)[-1] for p in hub.downloaded()}
    again = method.plan(three_scene_video)
    assert again.missing == () and again.models[0].size > 0


def test_ground_prints_the_download_before_it_starts(online, hub, three_scene_video, capsys):
    assert main(["ground", str(three_scene_video), "a red door", "-e", f"hf-clip:{CLIP_REPO}", "--device", "cpu",
                 "--fps", "1", "--json", "--progress"]) == 0
    err = capsys.readouterr().err
    announced = err.index(f"vtg: plan: the encoder hf-clip:{CLIP_REPO} is not on this machine; downloading it first")
    assert announced < err.index(f"vtg: downloading {CLIP_REPO} (") < err.index("vtg: plan: 12 frames")


def test_weights_are_the_served_bytes_and_load(online, repos):
    from vtg.encoders import load_encoder

    enc = load_encoder(f"hf-clip:{CLIP_REPO}", device="cpu")
    assert enc.encode_texts(["a person sits down"]).shape == (1, 16)
    cached = Path(weights.hf_weights_cached(CLIP_REPO))
    assert cached.read_bytes() == (repos[CLIP_REPO] / "model.safetensors").read_bytes()


def test_bare_hub_id_resolves_its_family_from_the_hub(online, hub):
    from vtg.encoders.specs import parse_spec

    spec = parse_spec(CLIP_REPO)  # not cached: only config.json is fetched to learn the family
    assert spec.family == "hf-clip" and spec.kind == "hub"
    assert [p.rsplit("/", 1)[-1] for p in hub.downloaded()] == ["config.json"]
    with pytest.raises(UnknownNameError):
        parse_spec("vtg-test/no-such-model")


def test_open_clip_hub_model_downloads_and_loads(online):
    from vtg.encoders import load_encoder

    enc = load_encoder(f"open_clip:hf-hub:{OC_REPO}", device="cpu")
    assert enc.encode_texts(["red car"]).shape == (1, 16)


def test_open_clip_tag_fetches_the_file_open_clip_would(online, hub):
    import open_clip

    repo, names = weights.open_clip_hub_files(weights.open_clip_tag_config("ViT-B-32", "openai"))
    assert (repo, names) == (TAG_REPO, ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"])
    assert weights.open_clip_tag_config("ViT-B-32", "openai") == open_clip.get_pretrained_cfg("ViT-B-32", "openai")
    path, cfg = weights.open_clip_tag_weights("ViT-B-32", "openai")
    assert path.endswith("open_clip_model.safetensors") and cfg["quick_gelu"] is True
    assert [p.rsplit("/", 1)[-1] for p in hub.downloaded()] == ["open_clip_model.safetensors"]


def test_models_download_uses_the_same_path(online, hub, capsys):
    assert main(["models", "download", CLIP_REPO]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{CLIP_REPO}: {online}") and f"downloading {CLIP_REPO}" in captured.err
    assert main(["models", "download", CLIP_REPO]) == 0  # cached: nothing fetched again
    assert "downloading" not in capsys.readouterr().err


def test_unknown_repo_is_one_line(online, capsys):
    assert main(["models", "download", "vtg-test/missing"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no model 'vtg-test/missing' on http://127.0.0.1:" in err


def test_unreachable_hub_is_one_line_without_retries(online, monkeypatch, capsys, caplog):
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    assert main(["models", "download", CLIP_REPO]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vtg: error: cannot reach the Hugging Face hub at http://127.0.0.1:")
    assert "Retry" not in err and not [r for r in caplog.records if "Retry" in r.getMessage()]
    with pytest.raises(WeightsNotFoundError, match="cannot reach"):
        weights.ensure_weights(f"hf-clip:{CLIP_REPO}")


def test_offline_context_refuses_to_download(online, hub):
    with weights.offline(), pytest.raises(WeightsNotFoundError, match="offline"):
        weights.ensure_weights(f"hf-clip:{CLIP_REPO}")
    assert hub.requests == []


OFFLINE_PROBE = """
import sys
from vtg.cli.main import main
code = main(sys.argv[1:])
print(code, 'torch' in sys.modules, 'transformers' in sys.modules, 'open_clip' in sys.modules)
"""


def run_probe(args: list[str], tmp_path: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", OFFLINE_PROBE, *args], capture_output=True, text=True,
                          env=subprocess_env(tmp_path, closed_port_url(), **env), timeout=120)


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("encoder", [CLIP_REPO, "ViT-B-32/openai", "blip2"])
def test_offline_fails_before_any_heavy_import(three_scene_video, tmp_path, how, encoder):
    """--offline / HF_HUB_OFFLINE=1 with an uncached model: the error comes before torch loads."""
    args = ["ground", str(three_scene_video), "a person sits down", "--encoder", encoder]
    extra = {"HF_HUB_OFFLINE": "1"} if how == "env" else {}
    if how == "flag":
        args.append("--offline")
    proc = run_probe(args, tmp_path, **extra)
    assert proc.stdout.split() == ["1", "False", "False", "False"], proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("vtg: error:")
    assert "offline" in proc.stderr


@pytest.mark.parametrize("args", [
    ["index", "{video}", "--offline"],  # TFVTG's default encoder, BLIP-2
    ["ground", "{video}", "when?", "--method", "numpro", "--model", "vtg-test/tiny-qwen", "--offline"],
])
def test_offline_index_and_video_llm_fail_before_any_heavy_import(three_scene_video, tmp_path, args):
    proc = run_probe([a.format(video=three_scene_video) for a in args], tmp_path)
    assert proc.stdout.split() == ["1", "False", "False", "False"], proc.stderr
    assert proc.stderr.count("\n") == 1 and "offline" in proc.stderr


def test_readme_command_downloads_and_answers(shared_data, repos, tmp_path):
    """The README's main command shape, in a fresh process with an empty cache and HF_ENDPOINT at
    the local hub: it downloads the model (size and bar on stderr) and prints moments."""
    clip = shared_data / "videos" / "charades_example.mp4"
    with LocalHub(repos) as server:
        env = subprocess_env(tmp_path, server.url)
        proc = subprocess.run([sys.executable, "-m", "vtg.cli.main", "ground", str(clip),
                               "a person sits down on the floor", "--encoder", CLIP_REPO, "--json"],
                              capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert f"vtg: downloading {CLIP_REPO} (" in proc.stderr and "100%" in proc.stderr
    snapshot = next((tmp_path / "hf-home" / "hub" / "models--vtg-test--tiny-clip" / "snapshots").iterdir())
    assert (snapshot / "model.safetensors").is_file() and (snapshot / "tokenizer.json").is_file()
    result = json.loads(proc.stdout)
    record = result[0] if isinstance(result, list) else result
    start, end, _ = record["pred_relevant_windows"][0]
    assert 0 <= start < end <= record["duration"] + 1e-6


CHAT_REPO = "vtg-test/tiny-chat"


@pytest.fixture
def chat_hub(tmp_path):
    from test_llm import tiny_chat_model

    with LocalHub({CHAT_REPO: tiny_chat_model(tmp_path / "chat")}) as server:
        yield server


@pytest.fixture
def chat_online(chat_hub, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_ENDPOINT", chat_hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    from vtg.engine import default_manager

    default_manager().release("chat-model")  # a model loaded by an earlier test would be reused
    yield tmp_path / "hf"
    default_manager().release("chat-model")


def test_llm_chat_model_downloads_on_first_use(chat_online, chat_hub, capsys):
    """`--llm hf:<id>` fetches the model like every other one (it used to require `hf download` first)."""
    from vtg.llm.hf import load_chat_model

    tokenizer, net = load_chat_model(CHAT_REPO, "cpu")
    assert net.config.num_hidden_layers == 1 and tokenizer.chat_template
    fetched = {name.rsplit("/", 1)[-1] for name in chat_hub.downloaded()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= fetched
    assert f"vtg: downloading {CHAT_REPO} (" in capsys.readouterr().err


def test_llm_chat_model_offline_is_one_line_and_no_request(chat_online, chat_hub):
    from vtg.llm.hf import load_chat_model

    with weights.offline(), pytest.raises(WeightsNotFoundError, match="offline"):
        load_chat_model(CHAT_REPO, "cpu")
    assert chat_hub.requests == []


def test_offline_llm_chat_model_fails_before_any_heavy_import(three_scene_video, tmp_path):
    """`--llm hf:<id>` is made local with the encoder, before the work: offline and uncached, one
    line before torch loads (the encoder here is a local folder, so the chat model is what is missing)."""
    encoder = random_open_clip(tmp_path / "oc")
    proc = run_probe(["ground", str(three_scene_video), "a person sits down", "--encoder", str(encoder),
                      "--llm", f"hf:{CHAT_REPO}", "--offline"], tmp_path)
    assert proc.stdout.split() == ["1", "False", "False", "False"], proc.stderr
    assert proc.stderr.count("\n") == 1 and "offline" in proc.stderr and CHAT_REPO in proc.stderr


def test_hub_name_lookup_that_hangs_is_one_line(online, monkeypatch):
    """A DNS server that never answers: the hub's client has no deadline on its lookup, so vtg
    looks the host up first within the request timeout (the lookup stays blocked until released)."""
    import socket
    import threading

    release, looked_up = threading.Event(), []

    def hung_lookup(host, *args, **kwargs):
        looked_up.append(host)
        release.wait(120)
        raise socket.gaierror("released by the test")

    monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid:8080")
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "0.5")
    monkeypatch.setattr(socket, "getaddrinfo", hung_lookup)
    try:
        with pytest.raises(WeightsNotFoundError, match="cannot reach the Hugging Face hub at http://hub.invalid"):
            weights.ensure_weights(f"hf-clip:{CLIP_REPO}")
        assert not release.is_set() and looked_up == ["hub.invalid"]
    finally:
        release.set()

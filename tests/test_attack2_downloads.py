"""Issue 17, downloads: a hostile hub (on 127.0.0.1, HF_ENDPOINT) and hostile model configs.

Each case asserts one ``vtg: error:`` line (CLI) or a VtgError subclass (library), that nothing
was written outside the HF cache, that no partial file stayed in it, and that the work done was
bounded, counted in bytes or requests (never by wall clock): the client stops an endless body
near the declared size, a stall costs a bounded number of requests, a drip feed ends at the
deadline, and a giant config is refused before any parameter exists.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from hub_server import LocalHub
from vtg.cli.main import main
from vtg.encoders import clear_loaded
from vtg.encoders.testing import random_open_clip, tiny_hf_clip
from vtg.encoders.transfer import RETRIES
from vtg.errors import CheckpointError, VtgError

REPO = "vtg-test/tiny-clip"
WEIGHTS = "model.safetensors"
CAP = 256 << 20  # the endless body gives up here if the client never hangs up


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tiny_hf_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture
def hub(clip_dir):
    stop = threading.Event()
    with LocalHub({REPO: clip_dir}) as server:
        server.stop = stop
        server.sent = 0
        yield server
        stop.set()  # stalled and dripping handlers end now


@pytest.fixture
def online(hub, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "VTG_DOWNLOAD_DEADLINE", "VTG_MAX_DOWNLOAD_GB",
                 "VTG_MAX_FILE_GB", "VTG_MAX_MODEL_GB", "HF_HUB_DOWNLOAD_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    (tmp_path / "outside.txt").write_text("not vtg's")
    clear_loaded()
    yield tmp_path / "hf"
    clear_loaded()


def files_outside(root: Path, cache: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in root.rglob("*") if p.is_file() and cache not in p.parents}


def download_fails(tmp_path: Path, cache: Path, capsys, *args: str) -> str:
    """``vtg [args] models download REPO`` fails with one error line; nothing outside the cache
    changed and no partial or oversized blob is left in it. Returns the error line."""
    before = files_outside(tmp_path, cache)
    rc = main([*args, "models", "download", REPO])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("vtg: error:")]
    assert rc != 0 and len(errors) == 1, err
    assert "internal error" not in err and "Traceback" not in err
    assert files_outside(tmp_path, cache) == before
    leftovers = [p for p in cache.rglob("*.incomplete")] if cache.exists() else []
    assert leftovers == []
    return errors[0]


def weights_size(clip_dir: Path) -> int:
    return (clip_dir / WEIGHTS).stat().st_size


# --- the CDN's body ---------------------------------------------------------------------------

def test_endless_body_stops_at_the_declared_size(online, hub, tmp_path, capsys, clip_dir):
    def endless(handler, data):
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        try:
            handler.wfile.write(data)
            hub.sent = len(data)
            while hub.sent < CAP:
                handler.wfile.write(b"\0" * 65536)
                hub.sent += 65536
        except OSError:
            pass

    hub.cdn_hook = endless
    line = download_fails(tmp_path, online, capsys)
    assert "more than the" in line and f"{weights_size(clip_dir):,}" in line
    assert hub.sent < CAP  # the client hung up; the server did not run to its cap
    assert not any(p.stat().st_size > weights_size(clip_dir) for p in online.rglob("*") if p.is_file())


def test_body_a_few_bytes_longer_than_declared_is_refused(online, hub, tmp_path, capsys):
    def longer(handler, data):
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        handler.wfile.write(data + b"tail")

    hub.cdn_hook = longer
    assert "more than the" in download_fails(tmp_path, online, capsys)
    assert not any(online.rglob(f"snapshots/*/{WEIGHTS}"))


def test_content_length_over_the_declared_size_is_refused_before_reading(online, hub, tmp_path, capsys):
    def announces_a_petabyte(handler, data):
        handler.send_response(200)
        handler.send_header("Content-Length", str(10**15))
        handler.end_headers()
        handler.close_connection = True
        try:
            handler.wfile.write(data)
        except OSError:
            pass

    hub.cdn_hook = announces_a_petabyte
    line = download_fails(tmp_path, online, capsys)
    assert "announces 1000000000000000 bytes" in line and WEIGHTS in line


def test_content_length_that_promises_more_than_comes_costs_bounded_requests(online, hub, tmp_path, capsys):
    def short(handler, data):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.close_connection = True
        handler.wfile.write(data[: len(data) // 2])

    hub.cdn_hook = short
    line = download_fails(tmp_path, online, capsys)
    assert f"failed {RETRIES} times" in line
    cdn_gets = [p for p in hub.downloaded() if p.endswith(WEIGHTS) and "/resolve/" not in p]
    assert 2 <= len(cdn_gets) <= RETRIES + 1


def test_swapped_content_of_the_declared_size_fails_its_checksum(online, hub, tmp_path, capsys):
    def swapped(handler, data):
        handler._send(200, {}, bytes(reversed(data)))

    hub.cdn_hook = swapped
    assert "does not match the checksum" in download_fails(tmp_path, online, capsys)
    assert not any(online.rglob(f"snapshots/*/{WEIGHTS}"))


def test_stalled_server_is_bounded_by_the_read_timeout_and_retries(online, hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "0.3")

    def stall(handler, data):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.close_connection = True
        hub.stop.wait(30)

    hub.cdn_hook = stall
    line = download_fails(tmp_path, online, capsys)
    assert f"failed {RETRIES} times" in line and "Timeout" in line
    assert len([p for p in hub.downloaded() if p.endswith(WEIGHTS) and "/resolve/" not in p]) == RETRIES


def test_drip_feed_ends_at_the_overall_deadline(online, hub, tmp_path, capsys, monkeypatch, clip_dir):
    monkeypatch.setenv("VTG_DOWNLOAD_DEADLINE", "1")
    dripped = []

    def drip(handler, data):
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        try:
            for byte in data:
                if hub.stop.wait(0.02):
                    return
                handler.wfile.write(bytes([byte]))
                dripped.append(1)
        except OSError:
            pass

    hub.cdn_hook = drip
    line = download_fails(tmp_path, online, capsys)
    assert "deadline of 1 s" in line and "VTG_DOWNLOAD_DEADLINE" in line
    assert 0 < len(dripped) < weights_size(clip_dir)  # ended mid-body, by the deadline


# --- the file list -----------------------------------------------------------------------------

def _add_file(name: str, **entry):
    def hook(repo, info):
        info["siblings"].append({"rfilename": name, "size": 5, "blobId": "a" * 40, **entry})
        return info
    return hook


@pytest.mark.parametrize("name", ["../../evil.json", "/etc/vtg-evil.json", "sub/../../x.json", "C:/evil.json",
                                  "sub\\..\\..\\x.json", "./config.json", ""])
def test_names_that_leave_the_repo_are_refused(online, hub, tmp_path, capsys, name):
    hub.listing_hook = _add_file(name)
    line = download_fails(tmp_path, online, capsys)
    assert REPO in line and "refusing the model" in line
    assert hub.downloaded() == []  # refused from the list, before any file was requested


def test_html_instead_of_the_file_list(online, hub, tmp_path, capsys):
    hub.listing_hook = lambda repo, info: b"<!DOCTYPE html><html><body>Welcome to nginx</body></html>"
    line = download_fails(tmp_path, online, capsys)
    assert "is not JSON" in line and "<!DOCTYPE html>" in line and REPO in line


@pytest.mark.parametrize("body", [b"[1, 2, 3]", b'{"sha": "' + b"a" * 40 + b'", "siblings": "all"}',
                                  b'{"siblings": []}', b'{"sha": "../../x", "siblings": []}', b"\xff\xfe garbage",
                                  b'{"sha": "' + b"a" * 40 + b'", "siblings": [{"size": 3}]}'])
def test_garbage_json_file_list(online, hub, tmp_path, capsys, body):
    hub.listing_hook = lambda repo, info: body
    line = download_fails(tmp_path, online, capsys)
    assert REPO in line and ("HF_ENDPOINT" in line or "commit" in line or "without a file name" in line)


def test_file_list_that_drips_ends_at_its_deadline(online, hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "0.5")  # each read; the whole list gets 3 times it
    dripped = []

    def drip(handler):
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        try:
            while not hub.stop.wait(0.05) and len(dripped) < 10_000:
                handler.wfile.write(b" ")
                dripped.append(1)
        except OSError:
            pass

    hub.listing_hook = lambda repo, info: drip
    line = download_fails(tmp_path, online, capsys)
    assert "file list of vtg-test/tiny-clip took longer than its deadline" in line
    assert 0 < len(dripped) < 10_000 and hub.downloaded() == []


def test_a_new_commit_links_unchanged_blobs_instead_of_refetching(online, hub, capsys, clip_dir):
    assert main(["models", "download", REPO]) == 0
    first = len(hub.downloaded())

    def new_commit(repo, info):
        info["sha"] = "b" * 40
        return info

    hub.listing_hook = new_commit
    from vtg.encoders import hub as vtg_hub

    assert vtg_hub.download(REPO, cache_dir=online).endswith("b" * 40)
    assert len(hub.downloaded()) == first  # same checksums: linked, no body fetched again
    snapshot = online / "models--vtg-test--tiny-clip" / "snapshots" / ("b" * 40)
    assert (snapshot / WEIGHTS).read_bytes() == (clip_dir / WEIGHTS).read_bytes()
    assert (online / "models--vtg-test--tiny-clip" / "refs" / "main").read_text() == "b" * 40


def test_two_downloads_of_one_model_at_once_both_get_the_verified_file(online, hub, clip_dir):
    from vtg.encoders import hub as vtg_hub

    def slow_but_whole(handler, data):  # a little at a time, so the two transfers overlap
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        for i in range(0, len(data), 4096):
            handler.wfile.write(data[i:i + 4096])
            hub.stop.wait(0.002)

    hub.cdn_hook = slow_but_whole
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(vtg_hub.download(REPO, cache_dir=online)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 2 and results[0] == results[1]
    assert (Path(results[0]) / WEIGHTS).read_bytes() == (clip_dir / WEIGHTS).read_bytes()
    assert list(online.rglob("*.incomplete")) == []


def test_partial_files_of_killed_downloads_are_swept_and_others_left(online, hub, clip_dir):
    import subprocess
    import sys

    from vtg.encoders import hub as vtg_hub
    from vtg.encoders.listing import fetch_listing

    blob_id = fetch_listing(REPO, hub.url, 10).files[WEIGHTS].blob_id
    blobs = online / "models--vtg-test--tiny-clip" / "blobs"
    blobs.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    orphan = blobs / f"{blob_id}.{dead}.1.incomplete"
    theirs = blobs / f"{blob_id}.incomplete"  # huggingface_hub's own resumable partial: not vtg's to remove
    orphan.write_bytes(b"half")
    theirs.write_bytes(b"half")
    vtg_hub.download(REPO, cache_dir=online)
    assert not orphan.exists() and theirs.read_bytes() == b"half"


def test_declared_size_of_a_petabyte_is_refused(online, hub, tmp_path, capsys):
    def petabyte(repo, info):
        for s in info["siblings"]:
            if s["rfilename"] == WEIGHTS:
                s["lfs"]["size"] = 1e15
        return info

    hub.listing_hook = petabyte
    line = download_fails(tmp_path, online, capsys)
    assert WEIGHTS in line and "1,000,000.0 GB" in line and "VTG_MAX_FILE_GB" in line
    assert hub.downloaded() == []


@pytest.mark.parametrize("size", [-1, "12", True, 1.5, None])
def test_declared_size_that_is_not_a_size_is_refused(online, hub, tmp_path, capsys, size):
    hub.listing_hook = _add_file("extra.json", size=size)
    line = download_fails(tmp_path, online, capsys)
    assert "extra.json" in line and "not a size" in line


def test_checksum_that_is_a_path_is_refused(online, hub, tmp_path, capsys):
    hub.listing_hook = _add_file("extra.json", blobId="../../../../outside")
    assert "no valid checksum" in download_fails(tmp_path, online, capsys)


def test_model_over_the_download_ceiling_is_refused_before_any_body(online, hub, tmp_path, capsys):
    line = download_fails(tmp_path, online, capsys, "--max-download-gb", "0.00001")
    assert "download limit of 0.0 GB" in line and "--max-download-gb" in line
    assert hub.downloaded() == []


def test_the_honest_hub_still_downloads(online, hub, capsys, clip_dir):
    assert main(["models", "download", REPO]) == 0
    blob = next(online.rglob(f"snapshots/*/{WEIGHTS}"))
    assert blob.read_bytes() == (clip_dir / WEIGHTS).read_bytes()
    from huggingface_hub import try_to_load_from_cache

    assert try_to_load_from_cache(REPO, WEIGHTS, cache_dir=str(online)) == str(blob)


# --- model size from the config, weights against the config -----------------------------------

def _edit_config(folder: Path, edit) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    edit(cfg)
    (folder / "config.json").write_text(json.dumps(cfg))


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_projection_dim_that_does_not_match_the_weights_is_one_line(clip_dir, tmp_path):
    from vtg.encoders import load_encoder

    folder = _copy(clip_dir, tmp_path / "clip")
    _edit_config(folder, lambda c: c.update(projection_dim=24))
    with pytest.raises(CheckpointError, match=r"model\.safetensors holds \w+_projection\.weight of shape \[16, 32\] "
                                              r"but the model's config needs \[24, 32\]") as info:
        load_encoder(f"hf-clip:{folder}", device="cpu")
    assert "\n" not in str(info.value)


def test_projection_dim_mismatch_through_the_cli_is_one_line(clip_dir, tmp_path, capsys, three_scene_video):
    folder = _copy(clip_dir, tmp_path / "clip")
    _edit_config(folder, lambda c: c.update(projection_dim=24))
    rc = main(["index", str(three_scene_video), "--encoder", f"hf-clip:{folder}", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc != 0 and [line for line in err.splitlines() if line.startswith("vtg:")] == [
        line for line in err.splitlines() if line.startswith("vtg: error:")] and "projection" in err
    assert "internal error" not in err and len([l for l in err.splitlines() if l.startswith("vtg: error:")]) == 1


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("chat")
    LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2)).save_pretrained(str(out))
    return out


def test_giant_chat_config_is_refused_before_any_parameter_exists(chat_dir, tmp_path, monkeypatch):
    """The issue's config: hidden size 8192, 200 layers (172 B parameters; it was OOM-killed at 9 GB)."""
    import transformers

    from vtg.llm.hf import _load
    from vtg.modelsize import ModelTooLargeError

    folder = _copy(chat_dir, tmp_path / "giant")
    _edit_config(folder, lambda c: c.update(hidden_size=8192, num_hidden_layers=200, intermediate_size=28672,
                                            num_attention_heads=64, num_key_value_heads=8))
    loads = []
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: loads.append(a))
    rss = _rss_bytes()
    with pytest.raises(ModelTooLargeError, match=r"1\d\d\.\d\d B parameters.*--max-model-gb") as info:
        _load(str(folder), "cpu")
    assert loads == []  # never reached the real build
    assert _rss_bytes() - rss < 500 << 20
    assert "\n" not in str(info.value)


def test_layer_counts_alone_are_refused_before_the_shape_only_build(chat_dir, tmp_path):
    from vtg.llm.hf import _load
    from vtg.modelsize import ModelTooLargeError

    folder = _copy(chat_dir, tmp_path / "deep")
    _edit_config(folder, lambda c: c.update(num_hidden_layers=10**7))
    with pytest.raises(ModelTooLargeError, match="num_hidden_layers = 1e\\+07"):
        _load(str(folder), "cpu")


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    from vtg.methods.videollm.tiny import save_tiny_qwen2vl

    return save_tiny_qwen2vl(tmp_path_factory.mktemp("qwen"))


def test_giant_video_llm_config_is_refused_by_the_runner(qwen_dir, tmp_path, monkeypatch):
    import transformers

    from vtg.methods.videollm.runner import VideoLLM
    from vtg.modelsize import ModelTooLargeError

    folder = _copy(qwen_dir, tmp_path / "giant-qwen")
    _edit_config(folder, lambda c: c["text_config"].update(hidden_size=8192, num_hidden_layers=200, layer_types=None,
                                                           intermediate_size=28672, num_attention_heads=64))
    loads = []
    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", lambda *a, **k: loads.append(a))
    with pytest.raises(ModelTooLargeError, match="Video-LLM .* B parameters"):
        VideoLLM(str(folder), device="cpu")
    assert loads == []


def test_video_llm_config_its_own_validators_reject_is_one_error(qwen_dir, tmp_path):
    from vtg.methods.videollm.runner import VideoLLM

    folder = _copy(qwen_dir, tmp_path / "bad-qwen")
    _edit_config(folder, lambda c: c["text_config"].update(num_hidden_layers=200))  # 2 layer_types remain
    with pytest.raises(CheckpointError, match="cannot read the config of Video-LLM .*layer_types") as info:
        VideoLLM(str(folder), device="cpu")
    assert "\n" not in str(info.value)


def test_giant_open_clip_config_is_refused(tmp_path):
    from vtg.encoders import load_encoder
    from vtg.modelsize import ModelTooLargeError

    folder = random_open_clip(tmp_path / "oc")
    cfg = json.loads((folder / "open_clip_config.json").read_text())
    cfg["model_cfg"]["vision_cfg"].update(width=8192, layers=200, head_width=64)
    (folder / "open_clip_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelTooLargeError, match="B parameters"):
        load_encoder(str(folder), device="cpu")


def test_giant_univtg_config_is_refused(tmp_path):
    from vtg.methods.univtg.config import ModelConfig
    from vtg.methods.univtg.model import UniVTGModel
    from vtg.methods.univtg.weights import load_model, save_model

    cfg = ModelConfig(v_feat_dim=18, t_feat_dim=16, hidden_dim=16, enc_layers=1, nheads=2, dim_feedforward=32,
                      video_features="custom")
    folder = save_model(UniVTGModel(cfg), cfg, tmp_path / "univtg")
    raw = json.loads((folder / "config.json").read_text())
    raw["enc_layers"] = 5000
    (folder / "config.json").write_text(json.dumps(raw))
    with pytest.raises(VtgError, match="enc_layers"):
        load_model(folder)


FAMILY_BUILDERS = ["hf-clip", "hf-siglip", "blip2", "open_clip"]


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory):
    from vtg.encoders.testing import BUILDERS

    root = tmp_path_factory.mktemp("families")
    return {family: BUILDERS[family](root / family.replace("-", "_")) for family in FAMILY_BUILDERS}


@pytest.mark.parametrize("family", FAMILY_BUILDERS)
@pytest.mark.parametrize("text_only", [False, True])
def test_every_encoder_family_is_held_to_the_ceiling(family_dirs, family, text_only, monkeypatch):
    from vtg.encoders import load_encoder
    from vtg.modelsize import ModelTooLargeError

    monkeypatch.setenv("VTG_MAX_MODEL_GB", "0.0000001")  # 100 bytes: every real model is over it
    prefix = "" if family == "open_clip" else f"{family}:"
    with pytest.raises(ModelTooLargeError, match="VTG_MAX_MODEL_GB"):
        load_encoder(f"{prefix}{family_dirs[family]}", device="cpu", text_only=text_only)


def _real_count(model) -> int:
    return sum(t.numel() for t in list(model.parameters()) + list(model.buffers()))


@pytest.mark.parametrize("family", FAMILY_BUILDERS)
def test_estimate_matches_the_loaded_encoder(family_dirs, family):
    """The shape-only count equals what the real load allocates (parameters and buffers)."""
    import torch

    from vtg.encoders import load_encoder
    from vtg.modelsize import estimate, check_transformers_model

    prefix = "" if family == "open_clip" else f"{family}:"
    enc = load_encoder(f"{prefix}{family_dirs[family]}", device="cpu")
    real = _real_count(enc.model)
    if family == "open_clip":
        import open_clip

        est = estimate(lambda: open_clip.create_model(f"local-dir:{family_dirs[family]}", device="meta",
                                                      pretrained_text=False, load_weights=False),
                       torch.float32, family)
    else:
        est = check_transformers_model(family_dirs[family], type(enc.model), torch.float32)
    assert abs(est.params - real) <= 0.01 * real
    assert est.bytes == pytest.approx(4 * est.params, rel=0.01)


@pytest.mark.parametrize("which", ["qwen2-vl", "chat", "univtg"])
def test_estimate_matches_the_other_families(which, qwen_dir, chat_dir, tmp_path):
    import torch

    from vtg.modelsize import check_module, check_transformers_model

    if which == "qwen2-vl":
        from transformers import AutoModelForImageTextToText

        real = _real_count(AutoModelForImageTextToText.from_pretrained(str(qwen_dir)))
        est = check_transformers_model(qwen_dir, AutoModelForImageTextToText, torch.bfloat16)
        assert est.bytes == pytest.approx(2 * est.params, rel=0.01)
    elif which == "chat":
        from transformers import AutoModelForCausalLM

        real = _real_count(AutoModelForCausalLM.from_pretrained(str(chat_dir)))
        est = check_transformers_model(chat_dir, AutoModelForCausalLM, None)
    else:
        from vtg.methods.univtg.config import ModelConfig
        from vtg.methods.univtg.model import UniVTGModel

        cfg = ModelConfig(v_feat_dim=18, t_feat_dim=16, hidden_dim=16, enc_layers=1, nheads=2, dim_feedforward=32,
                          video_features="custom")
        real = _real_count(UniVTGModel(cfg))
        est = check_module(lambda: UniVTGModel(cfg), torch.float32, "univtg")
    assert abs(est.params - real) <= 0.01 * real


def test_safetensors_header_that_overstates_the_file_is_refused(clip_dir, tmp_path):
    import struct

    from vtg.encoders import load_encoder

    folder = _copy(clip_dir, tmp_path / "clip")
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(struct.pack("<Q", 10**12) + data[8:])
    with pytest.raises(CheckpointError, match="header declares 1,000,000,000,000 bytes"):
        load_encoder(f"hf-clip:{folder}", device="cpu")


def test_ceiling_flags_and_environment_are_checked(monkeypatch, capsys):
    monkeypatch.setenv("VTG_MAX_MODEL_GB", "nan")
    from vtg.modelsize import max_model_bytes

    with pytest.raises(VtgError, match="VTG_MAX_MODEL_GB"):
        max_model_bytes()
    assert main(["--max-download-gb", "inf", "models"]) == 2
    assert "vtg: error: --max-download-gb must be a positive number" in capsys.readouterr().err
    monkeypatch.delenv("VTG_MAX_MODEL_GB")
    assert max_model_bytes() >= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

"""``vtg models`` and ``vtg index``, run in-process through the real CLI entry point."""

from __future__ import annotations

import json
import shutil

import pytest

from vtg.cli.main import main
from vtg.encoders import clear_loaded
from vtg.encoders.testing import random_open_clip, tiny_blip2

BLIP2_REPO = "Salesforce/blip2-itm-vit-g-coco"


@pytest.fixture(scope="module")
def tiny_blip2_dir(tmp_path_factory):
    return tiny_blip2(tmp_path_factory.mktemp("blip2") / "model")


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache of our own (and an empty home for open_clip's URL cache)."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    clear_loaded()
    yield cache
    clear_loaded()


def put_in_hf_cache(cache, repo: str, model_dir) -> None:
    """Lay out ``model_dir`` as the hub client would after downloading ``repo``."""
    root = cache / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    shutil.copytree(model_dir, root / "snapshots" / commit)


def test_models_lists_known_models_as_missing(hf_cache, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("clip-vit-b-32", "siglip-base", "blip2-itm-coco", "qwen2-vl-7b"):
        assert name in out
    assert "cached" not in out.split("Hugging Face cache")[0].replace("STATUS", "")
    assert "feature cache:" in out and str(hf_cache) in out


def test_models_json_reports_cached_hub_model(hf_cache, tiny_blip2_dir, capsys):
    put_in_hf_cache(hf_cache, BLIP2_REPO, tiny_blip2_dir)
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["blip2-itm-coco"]["cached"] is True
    assert rows["blip2-itm-coco"]["path"].startswith(str(hf_cache))
    assert rows["clip-vit-b-32"]["cached"] is False and rows["clip-vit-b-32"]["path"] is None


def test_index_fills_the_cache_then_reports_cached(three_scene_video, tmp_path, capsys):
    model = random_open_clip(tmp_path / "oc")
    args = ["index", str(three_scene_video), "--encoder", str(model), "--fps", "1", "--device", "cpu", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["status"] == "computed" and first["frames"] == 12 and first["shape"] == [12, 16]
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["status"] == "cached" and second["path"] == first["path"]
    assert main(args[:-1]) == 0  # the human-readable line
    line = capsys.readouterr().out
    assert "cached 12 frames [16] at 1.0 fps" in line and first["path"] in line


def test_index_hub_id_from_the_local_cache(hf_cache, tiny_blip2_dir, three_scene_video, capsys):
    """``--encoder blip2`` resolves TFVTG's model id offline from the HF cache."""
    put_in_hf_cache(hf_cache, BLIP2_REPO, tiny_blip2_dir)
    assert main(["index", str(three_scene_video), "--encoder", "blip2", "--fps", "0.5", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["encoder"] == f"blip2:{BLIP2_REPO}" and row["shape"] == [6, 32, 16]


def test_index_keeps_going_after_a_bad_video(three_scene_video, tmp_path, capsys):
    model = random_open_clip(tmp_path / "oc")
    missing = tmp_path / "missing.mp4"
    code = main(["index", str(missing), str(three_scene_video), "--encoder", str(model), "--fps", "1", "--json"])
    captured = capsys.readouterr()
    assert code == 1
    assert "missing.mp4" in captured.err and "not found" in captured.err
    assert json.loads(captured.out)["status"] == "computed"


def test_index_missing_weights_is_one_line_error(hf_cache, three_scene_video, capsys):
    code = main(["index", str(three_scene_video), "--encoder", "blip2", "--fps", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "hf download Salesforce/blip2-itm-vit-g-coco" in err and "Traceback" not in err

"""A trained or converted UniVTG folder records its encoder, and `vtg ground` uses it."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from vtg.cli.main import main  # noqa: E402
from vtg.errors import CheckpointError, UsageError  # noqa: E402
from vtg.methods.univtg.config import OFFICIAL_ENCODER, ModelConfig, from_official_options  # noqa: E402
from vtg.methods.univtg.model import UniVTGModel  # noqa: E402
from vtg.methods.univtg.weights import CONFIG_FILE, choose_encoder, recorded_encoder, save_model  # noqa: E402

IMG_DIM, TXT_DIM = 16, 32  # the tiny hf-clip encoder's image embedding and text width
CLIP = "ViT-B-32/openai"


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    from vtg.encoders.testing import tiny_hf_clip

    return tiny_hf_clip(tmp_path_factory.mktemp("tiny-clip"))


def tiny_univtg(path, encoder=None):
    torch.manual_seed(0)
    cfg = ModelConfig(v_feat_dim=IMG_DIM + 2, t_feat_dim=TXT_DIM, hidden_dim=16, enc_layers=1, nheads=2,
                      dim_feedforward=32, video_features="custom", encoder=encoder)
    return save_model(UniVTGModel(cfg), cfg, path)


def test_converted_official_options_record_clip_b32():
    opt = {"v_feat_dim": 514, "t_feat_dim": 512, "hidden_dim": 1024, "v_feat_types": "clip", "t_feat_type": "clip"}
    assert from_official_options(opt).encoder == OFFICIAL_ENCODER
    slowfast = dict(opt, v_feat_dim=2304 + 514, v_feat_types="slowfast_clip")
    assert from_official_options(slowfast).encoder == OFFICIAL_ENCODER
    assert from_official_options(dict(opt, t_feat_dim=768)).encoder is None  # not CLIP B/32 text: unknown


def test_choose_encoder_rules(tmp_path, encoder_dir, caplog):
    recorded = tiny_univtg(tmp_path / "rec", encoder=f"hf-clip:{encoder_dir}")
    assert recorded_encoder(recorded) == f"hf-clip:{encoder_dir}"
    assert choose_encoder(None, recorded, CLIP) == f"hf-clip:{encoder_dir}"
    assert choose_encoder(str(encoder_dir), recorded, CLIP) == f"hf-clip:{encoder_dir}"  # same model, typed bare
    with pytest.raises(UsageError, match="trained on features of hf-clip:"):
        choose_encoder(CLIP, recorded, CLIP)
    moved = tiny_univtg(tmp_path / "moved", encoder=f"hf-clip:{tmp_path / 'gone'}")
    assert choose_encoder(str(encoder_dir), moved, CLIP) == str(encoder_dir)
    assert "no longer exists" in caplog.text


def test_folders_written_before_the_record_keep_working(tmp_path, encoder_dir):
    old = tiny_univtg(tmp_path / "old")
    data = json.loads((old / CONFIG_FILE).read_text())
    del data["encoder"]  # as vtg wrote config.json before this field existed
    (old / CONFIG_FILE).write_text(json.dumps(data))
    assert recorded_encoder(old) is None
    assert choose_encoder(None, old, CLIP) == CLIP and choose_encoder(str(encoder_dir), old, CLIP) == str(encoder_dir)


def test_tampered_encoder_field_is_a_checkpoint_error(tmp_path):
    folder = tiny_univtg(tmp_path / "bad")
    data = json.loads((folder / CONFIG_FILE).read_text())
    data["encoder"] = ["not", "a", "spec"]
    (folder / CONFIG_FILE).write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="encoder"):
        recorded_encoder(folder)


def test_trained_folder_grounds_without_encoder(make_video, tmp_path, encoder_dir, capsys):
    """`vtg train univtg --videos` records the encoder; `vtg ground --method univtg --model DIR`
    then needs no --encoder, and a different --encoder is refused."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b"):
        make_video(f"{name}.mp4").rename(videos / f"{name}.mp4")
    labels = tmp_path / "train.jsonl"
    rows = [{"qid": i, "query": q, "vid": v, "duration": 12.0, "relevant_windows": [w]}
            for i, (q, v, w) in enumerate([("red", "a", [0, 4]), ("green", "a", [4, 8]), ("blue", "b", [8, 12]),
                                            ("red car", "b", [0, 4])])]
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    rc = main(["train", "univtg", str(labels), "--videos", str(videos), "-e", str(encoder_dir), "-o", str(out),
               "--epochs", "1", "--batch-size", "4", "--hidden-dim", "16", "--enc-layers", "1", "--device", "cpu",
               "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert recorded_encoder(out) == f"hf-clip:{encoder_dir}"
    capsys.readouterr()
    rc = main(["ground", str(videos / "a.mp4"), "green", "--method", "univtg", "--model", str(out),
               "--device", "cpu", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    record = json.loads(captured.out)
    record = record[0] if isinstance(record, list) else record
    assert record["meta"]["encoder"] == f"hf-clip:{encoder_dir}"
    rc = main(["ground", str(videos / "a.mp4"), "green", "--method", "univtg", "--model", str(out),
               "--encoder", CLIP, "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "drop --encoder" in err

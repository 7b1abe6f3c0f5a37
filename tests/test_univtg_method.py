"""The ``univtg`` method end to end from raw videos (tiny random encoder + tiny UniVTG), summaries,
SlowFast inputs, pseudo labels and training from videos through the feature cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import vtg  # noqa: E402
from vtg.cli.main import main  # noqa: E402
from vtg.errors import UsageError, WeightsNotFoundError  # noqa: E402
from vtg.methods.univtg.config import ModelConfig  # noqa: E402
from vtg.methods.univtg.data import read_annotations  # noqa: E402
from vtg.methods.univtg.model import UniVTGModel  # noqa: E402
from vtg.methods.univtg.pseudo_labels import label_records, peak_runs, VideoClips  # noqa: E402
from vtg.methods.univtg.weights import save_model  # noqa: E402

IMG_DIM, TXT_DIM = 16, 32  # the tiny hf-clip encoder's image embedding and text width


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    from vtg.encoders.testing import tiny_hf_clip

    return tiny_hf_clip(tmp_path_factory.mktemp("tiny-clip"))


def tiny_univtg(path, **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(**{**dict(v_feat_dim=IMG_DIM + 2, t_feat_dim=TXT_DIM, hidden_dim=16, enc_layers=1, nheads=2,
                                dim_feedforward=32, video_features="custom"), **kw})
    return save_model(UniVTGModel(cfg), cfg, path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_univtg(tmp_path_factory.mktemp("univtg"))


def test_ground_from_a_raw_video(three_scene_video, encoder_dir, model_dir):
    res = vtg.ground(three_scene_video, "a person opens the door", method="univtg", model=str(model_dir),
                     encoder=str(encoder_dir), device="cpu")
    assert res.method == "univtg" and res.query == "a person opens the door"
    assert res.duration == pytest.approx(12.0, abs=0.2)
    assert 1 <= len(res.moments) <= 10
    assert all(0.0 <= m.start < m.end <= res.duration for m in res.moments)
    assert [m.score for m in res.moments] == sorted((m.score for m in res.moments), reverse=True)
    assert len(res.saliency) == 6  # one frame per 2-second clip
    np.testing.assert_allclose(res.saliency.times, [1, 3, 5, 7, 9, 11])
    assert len(res.to_dict()["pred_saliency_scores"]) == 6
    assert res.meta["timestamp"] == "official" and res.meta["clips"] == 6


def test_clip_count_and_centre_frames_follow_ffmpeg_fps_filter():
    # Measured with ffmpeg -vf fps=0.5 (the released extractor) on 10-fps videos: the number of
    # frames is duration/2 rounded half up, and clip k gets the last frame before 2k + 1 s.
    from vtg.methods.univtg.features import centre_frame_indices, clip_count

    assert [clip_count(d) for d in (10.1, 10.9, 11.0, 11.9, 12.0, 12.5, 13.0)] == [5, 5, 6, 6, 6, 6, 7]
    assert clip_count(0.4) == 1
    # 1-fps samples of a 13-s video are t = 0..12: centres 1, 3, ..., 11, then the last frame for clip 6
    np.testing.assert_array_equal(centre_frame_indices(13, 13.0), [1, 3, 5, 7, 9, 11, 12])


def test_each_clip_is_represented_by_its_centre_frame(make_video, encoder_dir):
    # red during the first second of every 2-s clip, green during the second: the clip-centre
    # frames (t = 1, 3, 5) are green; the clip-start frames would all be red.
    from vtg.encoders import load_encoder
    from vtg.methods.univtg.features import video_input

    red, green = (200, 30, 30), (30, 200, 30)
    path = make_video("alternating.mp4", [(red, 1.0, 1), (green, 1.0, 2)] * 3)
    vi = video_input(path, encoder=str(encoder_dir), device="cpu")
    np.testing.assert_allclose(vi.times, [1, 3, 5], atol=0.11)
    from vtg.video import iter_frames

    enc = load_encoder(str(encoder_dir), device="cpu")
    # frames as the indexing pipeline decodes them (shrunk to the model's input size by the decoder)
    frames = np.concatenate([b.frames for b in iter_frames(path, 1.0, frame_size=enc.decode_size)])
    ref = enc.encode_images(frames[:2])  # a red (t=0) and a green (t=1) frame
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(vi.clips, np.repeat(ref[1:], 3, axis=0), atol=2e-3)  # cached as float16


def test_query_free_summary_api_and_cli(three_scene_video, encoder_dir, model_dir, capsys):
    runner = vtg.methods.load_method("univtg", model=str(model_dir), encoder=str(encoder_dir), device="cpu")
    summ = runner.summarize(three_scene_video, ratio=0.34)
    assert summ.query == "highlight" and summ.meta["query_free"] is True
    assert len(summ.meta["summary"]["clips"]) == 3
    covered = sum(m.end - m.start for m in summ.moments)
    assert covered == pytest.approx(6.0, abs=0.2)
    out = capsys.readouterr()
    rc = main(["summarize", str(three_scene_video), "--model", str(model_dir), "-e", str(encoder_dir),
               "--device", "cpu", "--summary-ratio", "0.5", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    record = data[0] if isinstance(data, list) else data
    assert len(record["meta"]["summary"]["clips"]) == 3 and record["method"] == "univtg"
    summary_file = three_scene_video.parent / "summary.json"
    summary_file.write_text(json.dumps(record))
    reel_dir = three_scene_video.parent / "reel"
    assert main(["export", str(summary_file), "--reel", "--top-k", "100", "-d", str(reel_dir)]) == 0
    reels = list(reel_dir.glob("*.mp4"))
    assert len(reels) == 1
    from vtg.video import probe

    expected = sum(w[1] - w[0] for w in record["pred_relevant_windows"])
    assert probe(reels[0]).duration == pytest.approx(expected, abs=0.5)
    rc = main(["ground", str(three_scene_video), "red stripes", "--method", "univtg", "--model", str(model_dir),
               "-e", str(encoder_dir), "--device", "cpu", "-O", "summary_ratio=0.2", "--json"])
    assert rc == 0 and "summary" in capsys.readouterr().out


def test_slowfast_checkpoints_take_user_features(three_scene_video, encoder_dir, tmp_path):
    model = tiny_univtg(tmp_path / "sf", v_feat_dim=2304 + IMG_DIM + 2, video_features="slowfast_clip")
    with pytest.raises(UsageError, match="slowfast"):
        vtg.ground(three_scene_video, "red", method="univtg", model=str(model), encoder=str(encoder_dir), device="cpu")
    np.save(tmp_path / "sf.npy", np.random.default_rng(0).normal(size=(6, 2304)).astype(np.float32))
    res = vtg.ground(three_scene_video, "red", method="univtg", model=str(model), encoder=str(encoder_dir),
                     device="cpu", slowfast=str(tmp_path / "sf.npy"))
    assert len(res.saliency) == 6


def test_feature_size_mismatch_and_missing_weights(three_scene_video, encoder_dir, tmp_path, capsys):
    wrong = tiny_univtg(tmp_path / "wrong", t_feat_dim=512)
    with pytest.raises(UsageError, match="512-d text tokens"):
        vtg.ground(three_scene_video, "red", method="univtg", model=str(wrong), encoder=str(encoder_dir), device="cpu")
    with pytest.raises(WeightsNotFoundError, match="convert"):
        vtg.ground(three_scene_video, "red", method="univtg", device="cpu")
    assert main(["ground", str(three_scene_video), "red", "--method", "univtg", "--model", str(tmp_path)]) == 1
    assert "no UniVTG weights" in capsys.readouterr().err


def test_pseudo_label_rules():
    concepts = ["dog", "car", "tree"]
    feats = np.eye(3, dtype=np.float32)
    clips = np.array([[0.1, 0, 1], [0.6, 0, 1], [1, 0, 0.3], [1, 0, 0.3], [0.3, 0, 1], [1, 0, 0.3]], np.float32)
    video = VideoClips("vid1", clips, 11.0)
    recs = label_records(video, concepts, feats, top_k=2, kinds=("point", "interval", "curve"))
    assert [r["query"] for r in recs] == ["dog"] * 3 + ["tree"] * 3
    point, interval, curve = recs[:3]
    assert point["label_type"] == "point" and point["relevant_windows"] == [[4.0, 6.0]]
    assert interval["relevant_windows"] == [[4.0, 8.0], [10.0, 11.0]]  # the run reaching the end is kept
    assert curve["relevant_clip_ids"] == list(range(6)) and curve["saliency_scores"][2] == [4.0]
    assert min(s[0] for s in curve["saliency_scores"]) == 0.0
    assert peak_runs(np.array([0.31, 0.32, 0.1, 0.34])) == [(0, 1), (3, 3)]
    with pytest.raises(UsageError):
        label_records(video, concepts, feats, kinds=("blob",))


def test_pseudo_label_then_train_from_videos(make_video, encoder_dir, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b"):
        path = make_video(f"{name}.mp4")
        path.rename(videos / f"{name}.mp4")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("red car\n# a comment\ngreen\nblue dog\n")
    labels = tmp_path / "labels.jsonl"
    rc = main(["pseudo-label", str(videos / "a.mp4"), str(videos / "b.mp4"), "--vocabulary", str(vocab),
               "-o", str(labels), "--top-k", "2", "--labels", "interval,curve", "-e", str(encoder_dir),
               "--device", "cpu", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    records = read_annotations(labels)
    assert len(records) == 2 * 2 * 2 and {r["label_type"] for r in records} == {"interval", "curve"}
    out = tmp_path / "run"
    rc = main(["train", "univtg", str(labels), "--videos", str(videos), "-e", str(encoder_dir), "-o", str(out),
               "--epochs", "1", "--batch-size", "4", "--hidden-dim", "16", "--enc-layers", "1", "--device", "cpu",
               "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    res = vtg.ground(videos / "a.mp4", "green", method="univtg", model=str(out), encoder=str(encoder_dir), device="cpu")
    assert res.meta["timestamp"] == "center" and len(res.saliency) == 6


def test_warm_up_loads_the_network_and_its_encoder(encoder_dir, model_dir):
    """What `vtg serve` calls before binding its port: UniVTG's network and encoder are loaded then,
    not on the first request."""
    from vtg.engine import default_manager
    from vtg.registry import load_method

    manager = default_manager()
    manager.release()
    load_method("univtg", model=str(model_dir), encoder=str(encoder_dir), device="cpu").warm_up()
    kinds = {kind for kind, _ in manager.loaded()}
    assert {"univtg", "encoder"} <= kinds

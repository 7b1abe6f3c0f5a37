"""UniVTG training: it learns for real on synthetic features, resumes, and runs from the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vtg.cli.main import main  # noqa: E402
from vtg.methods.univtg.config import ModelConfig  # noqa: E402
from vtg.methods.univtg.data import Sample, ground_truth_records, l2_normalise  # noqa: E402
from vtg.methods.univtg.train import Trainer, TrainOptions, evaluate_predictions, predict  # noqa: E402
from vtg.methods.univtg.weights import load_model  # noqa: E402

DIM = 32


@pytest.fixture(autouse=True)
def one_thread():
    """The CI machine has 2 shared cores; one intra-op thread is faster than two there."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def world(seed=0, concepts=8):
    rng = np.random.default_rng(seed)
    return {"video": l2_normalise(rng.normal(size=(concepts, DIM))), "word": l2_normalise(rng.normal(size=(concepts, DIM))),
            "filler": l2_normalise(rng.normal(size=(6, DIM)))}


def synthetic(w, n, seed, clip_len=2.0):
    """Videos of noise clips where one segment shows concept c (and a short distractor shows another);
    the query's content word is concept c's word vector among filler tokens."""
    rng = np.random.default_rng(seed)
    k = len(w["video"])
    out = []
    for i in range(n):
        L = int(rng.integers(12, 25))
        feats = rng.normal(size=(L, DIM))
        c, d = rng.choice(k, 2, replace=False)
        length = int(rng.integers(2, L // 3 + 1))
        a = int(rng.integers(0, L - length + 1))
        feats[a:a + length] += 1.0 * np.sqrt(DIM) * w["video"][c]
        free = [j for j in range(L - 1) if j + 2 <= a or j >= a + length]
        if free:
            j = int(rng.choice(free))
            feats[j:j + 2] += 1.0 * np.sqrt(DIM) * w["video"][d]
        fill = w["filler"][rng.choice(len(w["filler"]), 3)]
        words = np.stack([fill[0], fill[1], w["word"][c] + 0.1 * rng.normal(size=DIM), fill[2]])
        out.append(Sample(qid=f"{seed}-{i}", query=f"concept {c}", vid=f"v{seed}-{i}", duration=L * clip_len,
                          video=l2_normalise(feats), text=l2_normalise(words),
                          windows=[[a * clip_len, (a + length) * clip_len]]))
    return out


def small_config(**kw):
    return ModelConfig(v_feat_dim=DIM + 2, t_feat_dim=DIM, hidden_dim=64, enc_layers=2, nheads=4, dim_feedforward=128,
                       input_dropout=0.1, droppath=0.0, timestamp="center", video_features="custom", **kw)


@pytest.mark.slow
def test_learns_to_ground_synthetic_queries(tmp_path):
    w = world()
    train, held_out = synthetic(w, 192, seed=1), synthetic(w, 64, seed=2)
    opts = TrainOptions(epochs=20, batch_size=32, lr=3e-3, device="cpu", eval_every=100)
    state = Trainer(small_config(), tmp_path, opts).fit(train, held_out)
    assert state["epoch"] == 20  # a fixed amount of work, not a time budget a busy machine would cut short
    net, cfg = load_model(tmp_path, "cpu")
    metrics = evaluate_predictions(predict(net, held_out, cfg, "cpu"), ground_truth_records(held_out))
    assert metrics["R1@0.5"] >= 90.0, metrics


def test_resume_continues_where_it_stopped(tmp_path):
    w = world()
    train = synthetic(w, 24, seed=3)
    cfg = small_config()
    first = Trainer(cfg, tmp_path, TrainOptions(epochs=2, batch_size=8, lr=1e-3, device="cpu"))
    first.fit(train)
    assert (tmp_path / "last" / "optimizer.safetensors").is_file()
    saved = {k: v.clone() for k, v in first.model.state_dict().items()}
    again = Trainer(cfg, tmp_path, TrainOptions(epochs=3, batch_size=8, lr=1e-3, device="cpu"), resume=True)
    assert again.state["epoch"] == 2 and again.state["step"] == 6
    for k, v in again.model.state_dict().items():
        assert torch.equal(v, saved[k])
    exp_avg = [s["exp_avg"] for s in again.optim.state_dict()["state"].values()]
    assert exp_avg and all(torch.equal(a, b["exp_avg"]) for a, b in zip(exp_avg, first.optim.state_dict()["state"].values()))
    state = again.fit(train)
    assert state["epoch"] == 3 and len(state["history"]) == 3


def write_features(root, samples):
    vdir, tdir = root / "vid_clip", root / "txt_clip"
    vdir.mkdir()
    tdir.mkdir()
    lines = []
    for s in samples:
        np.savez(vdir / f"{s.vid}.npz", features=s.video)
        np.savez(tdir / f"{s.qid}.npz", last_hidden_state=s.text)
        lines.append(json.dumps({"qid": s.qid, "query": s.query, "vid": s.vid, "duration": s.duration,
                                 "relevant_windows": s.windows}))
    ann = root / "train.jsonl"
    ann.write_text("\n".join(lines) + "\n")
    return ann, vdir, tdir


def test_cli_trains_from_precomputed_features_and_evaluates_each_epoch(tmp_path, capsys):
    ann, vdir, tdir = write_features(tmp_path, synthetic(world(), 12, seed=4))
    out = tmp_path / "run"
    args = ["train", "univtg", str(ann), "--val", str(ann), "--features", str(vdir), "--text-features", str(tdir),
            "-o", str(out), "--epochs", "2", "--batch-size", "6", "--hidden-dim", "32", "--enc-layers", "1",
            "--device", "cpu", "--no-progress"]
    assert main(args) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["epochs"] == 2 and summary["timestamp"] == "center"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    assert {"R1@0.5", "mIoU", "MR-full-mAP"} <= set(log[0]["metrics"]) and "loss_f" in log[0]
    net, cfg = load_model(out)
    assert cfg.hidden_dim == 32 and cfg.v_feat_dim == DIM + 2
    assert main(args) == 2  # refuses to overwrite a run without --resume
    assert "--resume" in capsys.readouterr().err
    assert main(args[:-1] + ["--epochs", "3", "--resume", "--no-progress"]) == 0
    assert len((out / "log.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("name", ["qvhighlights/highlight_val_release.jsonl", "charades-sta/charades_test_release.jsonl"])
def test_real_annotation_files_are_consumed(shared_data, tmp_path, name):
    """QVHighlights (windows + 3-rater clip saliency) and Charades-STA records train and evaluate."""
    from vtg.methods.univtg.data import clip_labels, read_annotations
    from vtg.methods.univtg.features import FeatureSource, build_samples

    records = read_annotations(shared_data / name)[:6]
    rng = np.random.default_rng(0)
    vdir, tdir = tmp_path / "v", tmp_path / "t"
    vdir.mkdir()
    tdir.mkdir()
    for r in records:
        clips = int(np.ceil(float(r["duration"]) / 2.0))
        np.save(vdir / f"{r['vid']}.npy", rng.normal(size=(clips, 8)).astype(np.float32))
        np.save(tdir / f"{r['qid']}.npy", rng.normal(size=(5, 8)).astype(np.float32))
    samples = build_samples(records, FeatureSource([vdir], tdir))
    for s, r in zip(samples, records):
        lab = clip_labels(s, 2.0, "official")
        assert lab.fg.sum() >= 1
        if "saliency_scores" in r:  # mean of the three raters on the relevant clips
            cid, scores = r["relevant_clip_ids"][0], r["saliency_scores"][0]
            assert s.saliency[cid] == pytest.approx(np.mean(scores))
    cfg = ModelConfig(v_feat_dim=10, t_feat_dim=8, hidden_dim=16, enc_layers=1, nheads=2, dim_feedforward=16,
                      video_features="custom")
    state = Trainer(cfg, tmp_path / "run", TrainOptions(epochs=1, batch_size=3, device="cpu")).fit(samples, samples)
    metrics = state["history"][0]["metrics"]
    assert metrics["queries"] == 6 and 0 <= metrics["R1@0.5"] <= 100
    if "saliency_scores" in records[0]:
        assert "HL-min-VeryGood-mAP" in metrics


@pytest.mark.gpu
def test_mixed_precision_training_on_cuda(tmp_path):
    train = synthetic(world(), 16, seed=5)
    trainer = Trainer(small_config(), tmp_path, TrainOptions(epochs=2, batch_size=8, lr=1e-3, device="cuda"))
    assert trainer.use_amp
    state = trainer.fit(train, train[:4])
    assert all(np.isfinite(r["loss"]) for r in state["history"])
    resumed = Trainer(small_config(), tmp_path, TrainOptions(epochs=3, batch_size=8, device="cuda"), resume=True)
    assert resumed.state["epoch"] == 2 and resumed.scaler.get_scale() == trainer.scaler.get_scale()


def test_training_annotations_are_read_like_vtg_eval_and_keep_label_types(tmp_path):
    """One reader for `vtg eval` and `vtg train univtg`: same checks, plus the pseudo-label kind."""
    import json

    from vtg.errors import DataError
    from vtg.methods.univtg.data import read_annotations

    good = tmp_path / "labels.jsonl"
    good.write_text("\ufeff" + json.dumps({"qid": "a#1#point", "query": "dog", "vid": "a", "duration": 10,
                                            "relevant_windows": [[2, 4]], "label_type": "point"}) + "\n")
    (rec,) = read_annotations(good)
    assert rec["label_type"] == "point" and rec["relevant_windows"] == [[2.0, 4.0]]

    for bad in ({"qid": 1, "vid": "a", "relevant_windows": [[0, 1]]},                 # no query
                {"qid": 1, "query": "q", "vid": "a", "relevant_windows": [[0, "x"]]},  # bad window
                {"qid": 1, "query": "q", "vid": "a", "relevant_windows": [[float("nan"), 1]]}):
        path = tmp_path / "bad.jsonl"
        path.write_text(json.dumps(bad) + "\n")
        with pytest.raises(DataError):
            read_annotations(path)
    with pytest.raises(DataError, match="not found"):
        read_annotations(tmp_path / "missing.jsonl")

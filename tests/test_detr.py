"""The DETR family (Moment-DETR, QD-DETR, CG-DETR): forward parity with the authors' code re-typed
(tests/detr_reference.py) on random weights, the official post-processing, safe conversion of a
released-format checkpoint, and grounding from a raw video through the method interface."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import vtg  # noqa: E402
from detr_reference import RefCGDETR, RefMomentDETR, RefQDDETR, ref_decode  # noqa: E402
from vtg.cli.main import main  # noqa: E402
from vtg.errors import CheckpointError, UsageError, WeightsNotFoundError  # noqa: E402
from vtg.methods.detr.config import DetrConfig  # noqa: E402
from vtg.methods.detr.decode import decode_windows  # noqa: E402
from vtg.methods.detr.weights import build_network, load_model  # noqa: E402

IMG_DIM, TXT_DIM = 16, 32  # the tiny hf-clip encoder's image embedding and text width
# QD-DETR's anchor code is 2 x 128 wide in the authors' code, so its hidden width must be 256
ARCHS = {"moment_detr": dict(hidden_dim=32, nheads=4, enc_layers=2, dec_layers=2, dim_feedforward=48, num_queries=6,
                             n_input_proj=2, max_q_l=16),
         "qd_detr": dict(hidden_dim=256, nheads=8, enc_layers=2, dec_layers=2, dim_feedforward=64, num_queries=6,
                         n_input_proj=2, max_q_l=16),
         "cg_detr": dict(hidden_dim=32, nheads=4, enc_layers=2, dec_layers=2, t2v_layers=2, dummy_layers=2,
                         dim_feedforward=48, num_queries=6, n_input_proj=2, max_q_l=16, num_dummies=5,
                         total_prompts=4, num_prompts=2)}
REFERENCES = {"moment_detr": RefMomentDETR, "qd_detr": RefQDDETR, "cg_detr": RefCGDETR}
FAMILIES = list(ARCHS)


def reference(family="moment_detr", vid_dim=IMG_DIM + 2, txt_dim=TXT_DIM, seed=0, **kw):
    torch.manual_seed(seed)
    return REFERENCES[family](txt_dim, vid_dim, **{**ARCHS[family], **kw}).eval()


def ours(family, **kw):
    return build_network(DetrConfig(family=family, v_feat_dim=IMG_DIM + 2, t_feat_dim=TXT_DIM,
                                    **{**ARCHS[family], **kw})).eval()


def inputs(vid_dim=IMG_DIM + 2, txt_dim=TXT_DIM, seed=1):
    """A batch of two with padding in both video and text."""
    g = torch.Generator().manual_seed(seed)
    vid, txt = torch.randn(2, 9, vid_dim, generator=g), torch.randn(2, 7, txt_dim, generator=g)
    vmask, tmask = torch.ones(2, 9), torch.ones(2, 7)
    vmask[1, 6:] = 0
    tmask[1, 4:] = 0
    return txt, tmask, vid, vmask


def one(batch: tuple, j: int) -> tuple:
    return tuple(x[j:j + 1] for x in batch)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("use_txt_pos", [False, True])
def test_forward_matches_the_authors_code(family, use_txt_pos):
    """One query at a time (as vtg runs them), padded and not: outputs within 1e-5, same windows."""
    ref = reference(family, use_txt_pos=use_txt_pos)
    net = ours(family, use_txt_pos=use_txt_pos)
    net.load_state_dict(ref.state_dict(), strict=True)  # the released parameter names
    for j in range(2):  # sample 1 carries padding in its video and its words
        with torch.no_grad():
            a, b = ref(*one(inputs(), j)), net(*one(inputs(), j))
        for key in ("pred_logits", "pred_spans", "saliency_scores"):
            diff = (a[key] - b[key]).abs().max().item()
            print(f"{family} use_txt_pos={use_txt_pos} sample {j} {key}: max abs diff {diff:.2e}")
            assert diff <= 1e-5, (key, diff)
        assert a["pred_spans"].std() > 0.01  # not a degenerate network that matches anything
        top = [ref_decode(o["pred_logits"][0], o["pred_spans"][0], 150.0, nms_thd=0.7) for o in (a, b)]
        assert [w[:2] for w in top[0]] == [w[:2] for w in top[1]]  # the same decoded windows


@pytest.mark.parametrize("family", FAMILIES)
def test_a_query_scores_the_same_alone_or_in_a_padded_batch(family):
    """Batch independence. The authors' QD-DETR breaks it: its clip-to-word attention mask is
    tiled head-major (``repeat(nhead, 1, 1)``) where torch expects batch-major, so in a padded
    batch a query gets another query's mask; vtg builds the mask per query."""
    net = ours(family)
    with torch.no_grad():
        batch, alone = net(*inputs()), net(*one(inputs(), 0))
    assert (batch["pred_spans"][0] - alone["pred_spans"][0]).abs().max() <= 1e-5
    if family != "moment_detr":
        ref = reference(family)
        with torch.no_grad():
            diff = (ref(*inputs())["pred_spans"][0] - ref(*one(inputs(), 0))["pred_spans"][0]).abs().max()
        assert diff > 1e-4  # the defect, shown on the re-typed reference


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("nms", [-1.0, 0.3])
def test_decoding_reproduces_the_official_post_processing(family, nms):
    ref = reference(family)
    with torch.no_grad():
        out = ref(*inputs())
    for j in range(2):
        expected = ref_decode(out["pred_logits"][j], out["pred_spans"][j], 150.0, nms_thd=nms, max_after_nms=6)
        got = decode_windows(out["pred_logits"][j].numpy(), out["pred_spans"][j].numpy(), 150.0, clip_len=2.0,
                             nms_thd=nms, keep=6)
        assert [[m.start, m.end] for m in got] == [e[:2] for e in expected]
        np.testing.assert_allclose([m.score for m in got], [e[2] for e in expected], atol=1e-4)
    if nms > 0 and family == "moment_detr":
        assert len(got) < 6  # NMS removed something on these inputs, so the comparison covers it


def official_options(family="moment_detr", **over) -> argparse.Namespace:
    """Training options shaped like the released run_on_video/moment_detr_ckpt/opt.json."""
    opt = dict(dset_name="hl", exp_id="final_base_clip_clip_mq10_noalign", max_q_l=16, max_v_l=75, clip_length=2,
               v_feat_dirs=["features/clip_features"], t_feat_dir="features/clip_text_features/",
               v_feat_dim=IMG_DIM, t_feat_dim=TXT_DIM, ctx_mode="video_tef", position_embedding="sine",
               input_dropout=0.5, dropout=0.1, use_txt_pos=False, pre_norm=False, span_loss_type="l1",
               contrastive_align_loss=False, aux_loss=True, max_before_nms=10, max_after_nms=10, conf_thd=0.0,
               nms_thd=-1.0, **{k: v for k, v in ARCHS[family].items() if k != "max_q_l"})
    opt.update(over)
    return argparse.Namespace(**opt)


class RunsCode:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def write_release(path, planted=None, family="moment_detr", vid_dim=IMG_DIM + 2, **opt):
    """A checkpoint laid out like model_best.ckpt: model, optimizer, epoch, opt."""
    ref = reference(family, vid_dim=vid_dim)
    optim = torch.optim.AdamW(ref.parameters(), lr=1e-4)
    ckpt = {"model": ref.state_dict(), "optimizer": optim.state_dict(), "epoch": 7,
            "opt": official_options(family, **opt)}
    if planted is not None:
        ckpt["extra"] = planted
    torch.save(ckpt, path)
    return ref


@pytest.mark.parametrize("family", FAMILIES)
def test_convert_a_release_and_load_it_strictly(tmp_path, capsys, family):
    ref = write_release(tmp_path / "model_best.ckpt", family=family)
    assert main(["models", "convert", family, str(tmp_path / "model_best.ckpt"), "-o", str(tmp_path / "m")]) == 0
    assert f"--method {family}" in capsys.readouterr().out
    net, cfg = load_model(tmp_path / "m", family)
    assert (cfg.v_feat_dim, cfg.num_queries, cfg.tef, cfg.video_features, cfg.nms_thd) == (IMG_DIM + 2, 6, True, "clip", -1.0)
    with torch.no_grad():
        a, b = ref(*one(inputs(), 1)), net(*one(inputs(), 1))
    assert (a["pred_spans"] - b["pred_spans"]).abs().max() <= 1e-6
    from vtg.methods.detr.config import from_official_options

    with pytest.raises(CheckpointError, match="features vtg does not compute .*vgg"):
        from_official_options(family, {"v_feat_dirs": ["features/vgg_features"]}, {})
    other = "qd_detr" if family != "qd_detr" else "moment_detr"
    with pytest.raises(CheckpointError, match=f"holds a {family} model, not {other}"):
        load_model(tmp_path / "m", other)
    with pytest.raises(CheckpointError, match=f"holds a {family} model, not {other}; convert it with"):
        from vtg.methods.detr.convert import convert_checkpoint

        convert_checkpoint(other, tmp_path / "model_best.ckpt", tmp_path / "wrong")


@pytest.mark.parametrize("family", FAMILIES)
def test_a_checkpoint_carrying_code_is_refused_and_nothing_runs(tmp_path, capsys, family):
    write_release(tmp_path / "evil.ckpt", planted=RunsCode(tmp_path / "pwned"), family=family)
    assert main(["models", "convert", family, str(tmp_path / "evil.ckpt"), "-o", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vtg: error:") and "refusing to load" in err and "system" in err and err.count("\n") == 1
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "e").exists()


def test_unconverted_or_missing_weights_say_how_to_get_them(tmp_path, three_scene_video, capsys):
    (tmp_path / "model_best.ckpt").write_bytes(b"x")
    with pytest.raises(WeightsNotFoundError, match="vtg models convert moment_detr"):
        load_model(tmp_path / "model_best.ckpt", "moment_detr")
    with pytest.raises(WeightsNotFoundError, match="needs weights"):
        vtg.ground(three_scene_video, "x", method="moment_detr")
    write_release(tmp_path / "release.ckpt")
    assert main(["models", "convert", "moment_detr", str(tmp_path / "release.ckpt"), "-o", str(tmp_path / "m")]) == 0
    # another method's folder: refused from its config.json, before any encoder is loaded or fetched
    assert main(["ground", str(three_scene_video), "x", "-m", "qd_detr", "--model", str(tmp_path / "m"),
                 "-O", "encoder=hf-clip:/nonexistent"]) == 1
    assert "holds a moment_detr model, not qd_detr; use --method moment_detr" in capsys.readouterr().err


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    from vtg.encoders.testing import tiny_hf_clip

    return tiny_hf_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.mark.parametrize("family", FAMILIES)
def test_ground_from_a_raw_video(tmp_path, three_scene_video, encoder_dir, capsys, family):
    write_release(tmp_path / "model_best.ckpt", family=family)
    assert main(["models", "convert", family, str(tmp_path / "model_best.ckpt"), "-o", str(tmp_path / "m")]) == 0
    res = vtg.ground(three_scene_video, "a person opens the door", method=family, model=str(tmp_path / "m"),
                     encoder=str(encoder_dir), device="cpu")
    assert res.method == family and res.duration == pytest.approx(12.0, abs=0.2)
    assert 1 <= len(res.moments) <= 6
    assert all(0.0 <= m.start <= m.end <= res.duration for m in res.moments)
    assert all(m.start % 2 == 0 for m in res.moments)  # rounded to multiples of the 2-s clip, as released
    assert [m.score for m in res.moments] == sorted((m.score for m in res.moments), reverse=True)
    np.testing.assert_allclose(res.saliency.times, [1, 3, 5, 7, 9, 11])
    capsys.readouterr()
    assert main(["methods"]) == 0
    assert family in capsys.readouterr().out


def test_a_video_longer_than_the_training_length_runs_in_overlapping_windows(tmp_path, three_scene_video, encoder_dir):
    """12 s = 6 clips against a model trained on 4: windows of clips [0, 4) and [2, 6), each with its
    own endpoint feature; saliency averaged where they overlap, moments merged by NMS."""
    from vtg.methods.detr.decode import clip_windows
    from vtg.methods.detr.method import run_network
    from vtg.methods.univtg.data import with_tef
    from vtg.methods.univtg.features import text_tokens, video_input

    assert clip_windows(6, 4) == [(0, 4), (2, 6)] and clip_windows(4, 4) == [(0, 4)]
    assert clip_windows(200, 75) == [(0, 75), (37, 112), (74, 149), (111, 186), (125, 200)]
    write_release(tmp_path / "model_best.ckpt", max_v_l=4)
    assert main(["models", "convert", "moment_detr", str(tmp_path / "model_best.ckpt"), "-o", str(tmp_path / "m")]) == 0
    res = vtg.ground(three_scene_video, "a blue screen", method="moment_detr", model=str(tmp_path / "m"),
                     encoder=str(encoder_dir), device="cpu")
    assert "2 overlapping windows of 4 clips" in res.meta["note"] and len(res.saliency) == 6
    assert 1 <= len(res.moments) <= 10 and all(0 <= m.start <= m.end <= res.duration for m in res.moments)
    net, _ = load_model(tmp_path / "m", "moment_detr")
    vi = video_input(three_scene_video, encoder=str(encoder_dir), device="cpu")
    tokens = text_tokens("a blue screen", encoder=str(encoder_dir), device="cpu")
    first = run_network(net, with_tef(vi.clips[0:4]), tokens, "cpu")["saliency_scores"]
    second = run_network(net, with_tef(vi.clips[2:6]), tokens, "cpu")["saliency_scores"]
    np.testing.assert_allclose(res.saliency.scores, [first[0], first[1], (first[2] + second[0]) / 2,
                                                     (first[3] + second[1]) / 2, second[2], second[3]], rtol=1e-5)


def test_a_slowfast_clip_release_answers_from_a_raw_video(tmp_path, three_scene_video, encoder_dir, monkeypatch):
    """A checkpoint whose options name SlowFast then CLIP feature folders: vtg computes the SlowFast
    features itself (a tiny PySlowFast R50 here: 288-d instead of 2304)."""
    from slowfast_reference import RefSlowFast
    from vtg.slowfast.network import SlowFastR50
    from vtg.slowfast.weights import save_weights

    monkeypatch.setenv("VTG_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    sf = SlowFastR50(8, (1, 1, 1, 1)).eval()
    sf.load_state_dict(RefSlowFast(8, (1, 1, 1, 1)).state_dict())
    weights = save_weights(sf, tmp_path / "sf.safetensors")
    write_release(tmp_path / "model_best.ckpt", family="cg_detr", vid_dim=288 + IMG_DIM + 2,
                  v_feat_dirs=["features/slowfast_features", "features/clip_features"], v_feat_dim=288 + IMG_DIM)
    assert main(["models", "convert", "cg_detr", str(tmp_path / "model_best.ckpt"), "-o", str(tmp_path / "m")]) == 0
    assert load_model(tmp_path / "m", "cg_detr")[1].video_features == "slowfast_clip"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # online, the release would be downloaded on first use
    with pytest.raises(UsageError, match="slowfast_weights.*offline.*dl.fbaipublicfiles.com"):
        vtg.ground(three_scene_video, "a blue screen", method="cg_detr", model=str(tmp_path / "m"),
                   encoder=str(encoder_dir), device="cpu")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    res = vtg.ground(three_scene_video, "a blue screen", method="cg_detr", model=str(tmp_path / "m"),
                     encoder=str(encoder_dir), device="cpu", slowfast_weights=str(weights))
    assert res.meta["features"] == "slowfast_clip" and len(res.saliency) == 6 and res.moments

"""The DETR family (Moment-DETR): forward parity with the authors' code re-typed
(tests/detr_reference.py) on random weights, the official post-processing, safe conversion of a
released-format checkpoint, and grounding from a raw video through the method interface."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import vtg  # noqa: E402
from detr_reference import RefMomentDETR, ref_decode  # noqa: E402
from vtg.cli.main import main  # noqa: E402
from vtg.errors import CheckpointError, WeightsNotFoundError  # noqa: E402
from vtg.methods.detr.config import DetrConfig  # noqa: E402
from vtg.methods.detr.decode import decode_windows  # noqa: E402
from vtg.methods.detr.moment_detr import MomentDETRNet  # noqa: E402
from vtg.methods.detr.weights import load_model  # noqa: E402

IMG_DIM, TXT_DIM = 16, 32  # the tiny hf-clip encoder's image embedding and text width
ARCH = dict(hidden_dim=32, nheads=4, enc_layers=2, dec_layers=2, dim_feedforward=48, num_queries=6,
            n_input_proj=2, max_q_l=16)


def reference(vid_dim=IMG_DIM + 2, txt_dim=TXT_DIM, seed=0, **kw):
    torch.manual_seed(seed)
    return RefMomentDETR(txt_dim, vid_dim, **{**ARCH, **kw}).eval()


def inputs(vid_dim=IMG_DIM + 2, txt_dim=TXT_DIM, seed=1):
    """A batch of two with padding in both video and text."""
    g = torch.Generator().manual_seed(seed)
    vid, txt = torch.randn(2, 9, vid_dim, generator=g), torch.randn(2, 7, txt_dim, generator=g)
    vmask, tmask = torch.ones(2, 9), torch.ones(2, 7)
    vmask[1, 6:] = 0
    tmask[1, 4:] = 0
    return txt, tmask, vid, vmask


@pytest.mark.parametrize("use_txt_pos", [False, True])
def test_forward_matches_the_authors_moment_detr(use_txt_pos):
    ref = reference(use_txt_pos=use_txt_pos)
    net = MomentDETRNet(DetrConfig(v_feat_dim=IMG_DIM + 2, t_feat_dim=TXT_DIM, use_txt_pos=use_txt_pos, **ARCH)).eval()
    net.load_state_dict(ref.state_dict(), strict=True)  # the released parameter names
    with torch.no_grad():
        a, b = ref(*inputs()), net(*inputs())
    for key in ("pred_logits", "pred_spans", "saliency_scores"):
        diff = (a[key] - b[key]).abs().max().item()
        assert diff <= 1e-5, (key, diff)
    assert a["pred_spans"].std() > 0.01  # not a degenerate network that matches anything


@pytest.mark.parametrize("nms", [-1.0, 0.3])
def test_decoding_reproduces_the_official_post_processing(nms):
    ref = reference()
    with torch.no_grad():
        out = ref(*inputs())
    for j in range(2):
        expected = ref_decode(out["pred_logits"][j], out["pred_spans"][j], 150.0, nms_thd=nms, max_after_nms=6)
        got = decode_windows(out["pred_logits"][j].numpy(), out["pred_spans"][j].numpy(), 150.0, clip_len=2.0,
                             nms_thd=nms, keep=6)
        assert [[m.start, m.end] for m in got] == [e[:2] for e in expected]
        np.testing.assert_allclose([m.score for m in got], [e[2] for e in expected], atol=1e-4)
    if nms > 0:
        assert len(got) < 6  # NMS removed something on these inputs, so the comparison covers it


def official_options(**over) -> argparse.Namespace:
    """Training options shaped like the released run_on_video/moment_detr_ckpt/opt.json."""
    opt = dict(dset_name="hl", exp_id="final_base_clip_clip_mq10_noalign", max_q_l=16, max_v_l=75, clip_length=2,
               v_feat_dirs=["features/clip_features"], t_feat_dir="features/clip_text_features/",
               v_feat_dim=IMG_DIM, t_feat_dim=TXT_DIM, ctx_mode="video_tef", position_embedding="sine",
               input_dropout=0.5, dropout=0.1, use_txt_pos=False, pre_norm=False, span_loss_type="l1",
               contrastive_align_loss=False, aux_loss=True, max_before_nms=10, max_after_nms=10, conf_thd=0.0,
               nms_thd=-1.0, **{k: v for k, v in ARCH.items() if k != "max_q_l"})
    opt.update(over)
    return argparse.Namespace(**opt)


class RunsCode:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def write_release(path, planted=None):
    """A checkpoint laid out like model_best.ckpt: model, optimizer, epoch, opt."""
    ref = reference()
    optim = torch.optim.AdamW(ref.parameters(), lr=1e-4)
    ckpt = {"model": ref.state_dict(), "optimizer": optim.state_dict(), "epoch": 7, "opt": official_options()}
    if planted is not None:
        ckpt["extra"] = planted
    torch.save(ckpt, path)
    return ref


def test_convert_a_release_and_load_it_strictly(tmp_path, capsys):
    ref = write_release(tmp_path / "model_best.ckpt")
    assert main(["models", "convert", "moment_detr", str(tmp_path / "model_best.ckpt"), "-o", str(tmp_path / "m")]) == 0
    assert "--method moment_detr" in capsys.readouterr().out
    net, cfg = load_model(tmp_path / "m", "moment_detr")
    assert (cfg.v_feat_dim, cfg.num_queries, cfg.tef, cfg.video_features, cfg.nms_thd) == (IMG_DIM + 2, 6, True, "clip", -1.0)
    with torch.no_grad():
        a, b = ref(*inputs()), net(*inputs())
    assert (a["pred_spans"] - b["pred_spans"]).abs().max() <= 1e-6
    with pytest.raises(CheckpointError, match="holds a moment_detr model, not qd_detr"):
        load_model(tmp_path / "m", "qd_detr")


def test_a_checkpoint_carrying_code_is_refused_and_nothing_runs(tmp_path, capsys):
    write_release(tmp_path / "evil.ckpt", planted=RunsCode(tmp_path / "pwned"))
    assert main(["models", "convert", "moment_detr", str(tmp_path / "evil.ckpt"), "-o", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vtg: error:") and "refusing to load" in err and "system" in err and err.count("\n") == 1
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "e").exists()


def test_unconverted_or_missing_weights_say_how_to_get_them(tmp_path, three_scene_video):
    (tmp_path / "model_best.ckpt").write_bytes(b"x")
    with pytest.raises(WeightsNotFoundError, match="vtg models convert moment_detr"):
        load_model(tmp_path / "model_best.ckpt", "moment_detr")
    with pytest.raises(WeightsNotFoundError, match="needs weights"):
        vtg.ground(three_scene_video, "x", method="moment_detr")


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    from vtg.encoders.testing import tiny_hf_clip

    return tiny_hf_clip(tmp_path_factory.mktemp("tiny-clip"))


def test_ground_from_a_raw_video(tmp_path, three_scene_video, encoder_dir, capsys):
    write_release(tmp_path / "model_best.ckpt")
    assert main(["models", "convert", "moment_detr", str(tmp_path / "model_best.ckpt"), "-o", str(tmp_path / "m")]) == 0
    res = vtg.ground(three_scene_video, "a person opens the door", method="moment_detr", model=str(tmp_path / "m"),
                     encoder=str(encoder_dir), device="cpu")
    assert res.method == "moment_detr" and res.duration == pytest.approx(12.0, abs=0.2)
    assert 1 <= len(res.moments) <= 6
    assert all(0.0 <= m.start <= m.end <= res.duration for m in res.moments)
    assert all(m.start % 2 == 0 for m in res.moments)  # rounded to multiples of the 2-s clip, as released
    assert [m.score for m in res.moments] == sorted((m.score for m in res.moments), reverse=True)
    np.testing.assert_allclose(res.saliency.times, [1, 3, 5, 7, 9, 11])
    capsys.readouterr()
    assert main(["methods"]) == 0
    assert "moment_detr" in capsys.readouterr().out

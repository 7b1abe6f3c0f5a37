"""UniVTG network, labels and losses on small configurations (CPU, no network)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vtg.methods.univtg.config import ModelConfig, from_official_options  # noqa: E402
from vtg.methods.univtg.data import Sample, clip_labels, collate, with_tef  # noqa: E402
from vtg.methods.univtg.losses import (LossWeights, compute_losses, foreground_loss,  # noqa: E402
                                       generalized_temporal_iou, saliency_losses)
from vtg.methods.univtg.model import SinePositions, UniVTGModel, WeightedPool, count_parameters  # noqa: E402

SMALL = ModelConfig(v_feat_dim=10, t_feat_dim=6, hidden_dim=16, enc_layers=2, nheads=2, dim_feedforward=24,
                    input_dropout=0.0, droppath=0.0, max_q_l=12, video_features="custom")


def official_keys(cfg: ModelConfig) -> dict[str, tuple]:
    """Parameter names and shapes of the released checkpoints for ``cfg`` (model.state_dict())."""
    h, ff = cfg.hidden_dim, cfg.dim_feedforward
    keys = {}
    for i in range(cfg.enc_layers):
        p = f"transformer.encoder.layers.{i}."
        keys.update({p + "self_attn.in_proj_weight": (3 * h, h), p + "self_attn.in_proj_bias": (3 * h,),
                     p + "self_attn.out_proj.weight": (h, h), p + "self_attn.out_proj.bias": (h,),
                     p + "linear1.weight": (ff, h), p + "linear1.bias": (ff,),
                     p + "linear2.weight": (h, ff), p + "linear2.bias": (h,),
                     p + "norm1.weight": (h,), p + "norm1.bias": (h,), p + "norm2.weight": (h,), p + "norm2.bias": (h,)})
    keys.update({"txt_position_embed.position_embeddings.weight": (cfg.max_q_l, h),
                 "txt_position_embed.LayerNorm.weight": (h,), "txt_position_embed.LayerNorm.bias": (h,),
                 "token_type_embeddings.weight": (2, h), "weightedpool.weight": (h, 1)})
    for head, out in (("span_embed", 2), ("class_embed", 1)):
        for j, (o, i) in enumerate([(h, h), (h, h), (out, h)]):
            keys[f"{head}.layers.{j}.weight"] = (o, i, 3)
            keys[f"{head}.layers.{j}.bias"] = (o,)
    for proj, d_in in (("input_txt_proj", cfg.t_feat_dim), ("input_vid_proj", cfg.v_feat_dim)):
        for j, d in enumerate([d_in, h]):
            keys[f"{proj}.{j}.LayerNorm.weight"] = (d,)
            keys[f"{proj}.{j}.LayerNorm.bias"] = (d,)
            keys[f"{proj}.{j}.net.1.weight"] = (h, d)
            keys[f"{proj}.{j}.net.1.bias"] = (h,)
    return keys


def inputs(b=2, lv=7, lt=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    vid = torch.randn(b, lv, SMALL.v_feat_dim, generator=g)
    txt = torch.randn(b, lt, SMALL.t_feat_dim, generator=g)
    return txt, torch.ones(b, lt), vid, torch.ones(b, lv)


@pytest.fixture(scope="module")
def released_size_model():
    return UniVTGModel(ModelConfig())


def test_state_dict_names_and_shapes_match_the_released_layout(released_size_model):
    for cfg, net in ((SMALL, UniVTGModel(SMALL)), (ModelConfig(), released_size_model)):
        got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        assert got == official_keys(cfg)


def test_released_default_size(released_size_model):
    cfg = ModelConfig()
    assert (cfg.hidden_dim, cfg.enc_layers, cfg.nheads, cfg.dim_feedforward, cfg.v_feat_dim, cfg.t_feat_dim) == \
        (1024, 4, 8, 1024, 514, 512)
    assert count_parameters(released_size_model) == 41_042_951


def test_forward_shapes_ranges_and_signs():
    net = UniVTGModel(SMALL).eval()
    out = net(*inputs())
    assert out["pred_logits"].shape == (2, 7, 1)
    assert out["pred_spans"].shape == (2, 7, 2)
    assert out["saliency_scores"].shape == (2, 7)
    assert out["vid_mem_proj"].shape == (2, 7, 16) and out["txt_mem_proj"].shape == (2, 1, 16)
    p = out["pred_logits"]
    assert ((p > 0) & (p < 1)).all()
    assert (out["pred_spans"][..., 0] <= 0).all() and (out["pred_spans"][..., 1] >= 0).all()
    assert (out["saliency_scores"].abs() <= 1 + 1e-5).all()


def test_padding_does_not_change_valid_outputs():
    net = UniVTGModel(SMALL).eval()
    txt, tmask, vid, vmask = inputs(b=1, lv=5, lt=3)
    ref = net(txt, tmask, vid, vmask)
    pad_v = torch.cat([vid, torch.randn(1, 4, SMALL.v_feat_dim)], 1)
    pad_t = torch.cat([txt, torch.randn(1, 2, SMALL.t_feat_dim)], 1)
    out = net(pad_t, torch.tensor([[1, 1, 1, 0, 0.]]), pad_v, torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0, 0.]]))
    assert torch.allclose(out["saliency_scores"][:, :5], ref["saliency_scores"], atol=1e-5)
    # three kernel-3 convolutions reach 3 clips into the padding (as in the released model)
    assert torch.allclose(out["pred_logits"][:, :2], ref["pred_logits"][:, :2], atol=1e-5)
    assert torch.allclose(out["pred_spans"][:, :2], ref["pred_spans"][:, :2], atol=1e-5)
    assert (out["saliency_scores"][:, 5:] < -50).all()


def test_sine_positions_and_weighted_pool():
    pos = SinePositions(8)(torch.ones(1, 4))
    assert pos.shape == (1, 4, 8)
    x = torch.arange(1, 5, dtype=torch.float32) / 4 * 2 * np.pi
    assert torch.allclose(pos[0, :, 0], torch.sin(x), atol=1e-5)
    assert torch.allclose(pos[0, :, 1], torch.cos(x), atol=1e-5)
    pool = WeightedPool(3)
    x = torch.randn(1, 4, 3)
    only_first = pool(x, torch.tensor([[1, 0, 0, 0]]))
    assert torch.allclose(only_first, x[0, 0])


def test_official_options_map_to_config():
    opt = {"model_id": "univtg", "v_feat_dim": 2818, "t_feat_dim": 512, "hidden_dim": 1024, "enc_layers": 4,
           "nheads": 8, "dim_feedforward": 1024, "ctx_mode": "video_tef", "span_loss_type": "l1",
           "v_feat_types": "slowfast_clip", "clip_length": 2, "pre_norm": False}
    cfg = from_official_options(opt)
    assert cfg.video_features == "slowfast_clip" and cfg.timestamp == "official" and cfg.clip_length == 2.0
    from vtg.errors import CheckpointError

    with pytest.raises(CheckpointError, match="span_loss_type"):
        from_official_options({**opt, "span_loss_type": "ce"})


def sample(n=6, windows=((4.0, 8.0),), saliency=None, label_type="interval"):
    return Sample(qid=1, query="q", vid="v", duration=n * 2.0, video=np.ones((n, 8), np.float32) / np.sqrt(8),
                  text=np.ones((3, 6), np.float32), windows=[list(w) for w in windows], saliency=saliency,
                  label_type=label_type)


def test_clip_labels_follow_the_anchor_convention():
    # window 4-8 s over clips [0,2) [2,4) [4,6) [6,8) [8,10) [10,12)
    off = clip_labels(sample(), 2.0, "official")   # anchors at clip ends 2, 4, 6, 8, 10, 12
    assert off.fg.tolist() == [0, 1, 1, 1, 0, 0]
    cen = clip_labels(sample(), 2.0, "center")     # anchors at 1, 3, 5, 7, 9, 11
    assert cen.fg.tolist() == [0, 0, 1, 1, 0, 0]
    np.testing.assert_allclose(cen.span_target[2], [4 / 12, 8 / 12])
    np.testing.assert_allclose(cen.timestamp, (np.arange(6) + 0.5) / 6)
    assert cen.saliency.tolist() == cen.fg.tolist() and cen.box_weight == 1.0
    short = clip_labels(sample(windows=((4.2, 4.8),)), 2.0, "center")  # shorter than a clip
    assert short.fg.tolist() == [0, 0, 1, 0, 0, 0]
    point = clip_labels(sample(windows=((6.0, 8.0),), label_type="point"), 2.0, "center")
    assert point.fg.tolist() == [0, 0, 0, 1, 0, 0] and point.box_weight == 0.0


def test_tef_and_collate_padding():
    v = np.zeros((4, 3), np.float32)
    np.testing.assert_allclose(with_tef(v)[:, 3:], [[0, .25], [.25, .5], [.5, .75], [.75, 1]])
    inp, tgt = collate([sample(n=6), sample(n=4, windows=((0, 2),))], 2.0, "center")
    assert inp["src_vid"].shape == (2, 6, 10) and inp["src_txt"].shape == (2, 3, 6)
    assert inp["src_vid_mask"][1].tolist() == [1, 1, 1, 1, 0, 0]
    assert tgt["fg"][1].tolist() == [1, 0, 0, 0, 0, 0]
    assert tgt["pos_idx"].tolist()[1] == 0


def test_giou_and_loss_terms():
    a = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    b = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_allclose(generalized_temporal_iou(a, b).numpy(), [1.0, -1 / 3], atol=1e-6)
    net = UniVTGModel(SMALL)
    batch = [sample(n=6), sample(n=5, windows=((2.0, 6.0),)), sample(n=6, windows=((8.0, 12.0),))]
    inp, tgt = collate([dataclass_with_dims(s) for s in batch], 2.0, "center")
    total, terms = compute_losses(net(**inp), tgt, LossWeights())
    assert set(terms) == {"loss_f", "loss_b", "loss_g", "loss_s_intra", "loss_s_inter"}
    assert torch.isfinite(total) and all(np.isfinite(v) and v >= 0 for v in terms.values())
    total.backward()
    assert all(p.grad is not None for n, p in net.named_parameters() if not n.startswith("txt_position_embed"))


def dataclass_with_dims(s: Sample) -> Sample:
    rng = np.random.default_rng(len(s.windows) + s.video.shape[0])
    s.video = rng.normal(size=(s.video.shape[0], SMALL.v_feat_dim - 2)).astype(np.float32)
    s.text = rng.normal(size=(3, SMALL.t_feat_dim)).astype(np.float32)
    return s


def test_foreground_loss_weights_background_by_eos_coef():
    prob = torch.tensor([[[0.5], [0.5]]])
    out = {"pred_logits": prob}
    tgt = {"vid_mask": torch.ones(1, 2), "fg": torch.tensor([[1.0, 0.0]])}
    expected = (np.log(2) + 0.1 * np.log(2)) / 2
    assert foreground_loss(out, tgt, 0.1).item() == pytest.approx(expected, rel=1e-5)


def test_intra_saliency_loss_prefers_the_positive_clip():
    clips = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    good = {"vid_mem_proj": clips, "txt_mem_proj": torch.tensor([[[1.0, 0.0]]])}
    bad = {"vid_mem_proj": clips, "txt_mem_proj": torch.tensor([[[0.0, 1.0]]])}
    tgt = {"pos_idx": torch.tensor([0]), "saliency": torch.tensor([[1.0, 0.0, 0.0]]), "vid_mask": torch.ones(1, 3)}
    assert saliency_losses(good, tgt)[0] < 0.01 < saliency_losses(bad, tgt)[0]

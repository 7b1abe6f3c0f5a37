"""Built-in SlowFast R50 features (vtg.slowfast): the network and the HERO / Lighthouse sampling
against PySlowFast's code re-typed (tests/slowfast_reference.py) on random weights, the Caffe2
release read without running code, and a SlowFast+CLIP model answering from a raw video with no
features given. Networks here are PySlowFast's R50 at width 8 and one block per stage (288-d
features instead of 2304) so the suite stays fast; the code path is the release's."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import vtg  # noqa: E402
from slowfast_reference import RefSlowFast, ref_features, ref_preprocess  # noqa: E402
from vtg.errors import CheckpointError, UsageError, WeightsNotFoundError  # noqa: E402
from vtg.slowfast import features as sf_features  # noqa: E402
from vtg.slowfast.network import SlowFastR50  # noqa: E402
from vtg.slowfast.sampling import centre_crop, sample_indices  # noqa: E402
from vtg.slowfast.weights import load_network, save_weights, torch_name  # noqa: E402

WIDTH, DEPTHS = 8, (1, 2, 1, 1)


def reference_net(seed: int = 0) -> RefSlowFast:
    """Random weights and random batch-norm statistics (fresh ones would be the identity)."""
    torch.manual_seed(seed)
    ref = RefSlowFast(WIDTH, DEPTHS).eval()
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.normal_(1, 0.1)
            m.bias.data.normal_(0, 0.1)
    return ref


def ours_from(ref: RefSlowFast) -> SlowFastR50:
    net = SlowFastR50(WIDTH, DEPTHS).eval()
    net.load_state_dict(ref.state_dict(), strict=True)  # PySlowFast's parameter names
    return net


def test_network_matches_pyslowfast():
    ref = reference_net()
    net = ours_from(ref)
    fast = torch.randn(2, 3, 32, 224, 224, generator=torch.Generator().manual_seed(1))
    slow = fast[:, :, torch.linspace(0, 31, 8).long()]
    with torch.no_grad():
        a, b = ref([slow, fast]), net(slow, fast)
    assert a.shape == (2, 36 * WIDTH) and (a - b).abs().max() <= 1e-5
    assert SlowFastR50().s5.pathway0_res2.branch2.c.out_channels + SlowFastR50().s5.pathway1_res2.branch2.c.out_channels == 2304


def test_sampling_follows_the_released_extractor():
    # 30-fps source: a 64-frame window at 30/s, i.e. every other frame, clamped to the 60 there are
    assert list(sample_indices(30.0)) == [int(x) for x in torch.linspace(0, 63, 32).clamp(0, 59).long()]
    assert sample_indices(30.0)[-1] == 59 and sample_indices(29.97)[1] == 1  # floor(29.97) = 29
    assert sample_indices(10.0).max() == 20  # 64 * 10 / 30 - 1: the first 0.7 s of the clip


@pytest.mark.parametrize("batch_clips", [1, 8])  # streamed in pieces, or all at the end
def test_features_from_a_raw_video_equal_the_reference(three_scene_video, batch_clips):
    from vtg.video import iter_frames, probe

    ref = reference_net()
    ours = sf_features.extract(three_scene_video, ours_from(ref), batch_clips=batch_clips)
    info = probe(three_scene_video)
    frames = np.concatenate([centre_crop(np.asarray(b.frames)) for b in iter_frames(three_scene_video, fps=30, size=224)])
    expected = ref_features(ref, ref_preprocess(torch.from_numpy(frames), info.duration, info.fps)).numpy()
    assert ours.shape == expected.shape == (6, 36 * WIDTH)
    assert np.abs(ours - expected).max() <= 1e-5


def caffe2_name(name: str) -> str:
    """PySlowFast parameter name -> its Caffe2 blob name (the inverse of the release's renaming)."""
    module, param = name.rsplit(".", 1)
    suffix = {"weight": "w", "bias": "b", "running_mean": "rm", "running_var": "riv"}[param]
    parts = module.split(".")
    if parts[0] == "s1" and parts[1].endswith("_stem"):
        fast = "t_" if parts[1].startswith("pathway1") else ""
        return f"{fast}conv1_{suffix}" if parts[2] == "conv" else f"{fast}res_conv1_bn_{'s' if suffix == 'w' else suffix}"
    if parts[0].endswith("_fuse"):
        stage = int(parts[0][1])
        base = "t_pool1_subsample" if stage == 1 else f"t_res{stage}_{DEPTHS[stage - 2] - 1}_branch2c_bn_subsample"
        return f"{base}_{suffix}" if parts[1] == "conv_f2s" else f"{base}_bn_{'s' if suffix == 'w' else suffix}"
    stage, block = parts[0][1], parts[1].split("_res")[1]
    fast = "t_" if parts[1].startswith("pathway1") else ""
    if parts[2] in ("branch1", "branch1_bn"):
        bn = parts[2] == "branch1_bn"
        return f"{fast}res{stage}_{block}_branch1_{'bn_' + ('s' if suffix == 'w' else suffix) if bn else suffix}"
    layer = parts[3]  # a, a_bn, b, ...
    if layer.endswith("_bn"):
        return f"{fast}res{stage}_{block}_branch2{layer[0]}_bn_{'s' if suffix == 'w' else suffix}"
    return f"{fast}res{stage}_{block}_branch2{layer}_{suffix}"


def write_caffe2(path, ref: RefSlowFast, planted=None) -> None:
    """A pickle laid out like SLOWFAST_8x8_R50.pkl: {"blobs": {caffe2 name: numpy array}}."""
    blobs = {caffe2_name(k): v.numpy().copy() for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    blobs["pred_w"] = np.zeros((400, 36 * WIDTH), np.float32)  # the classifier, dropped on loading
    doc = {"blobs": blobs}
    if planted is not None:
        doc["extra"] = planted
    path.write_bytes(pickle.dumps(doc, protocol=2))


def test_caffe2_names_map_to_pyslowfast_names():
    for name in SlowFastR50(WIDTH, DEPTHS).state_dict():
        if not name.endswith("num_batches_tracked"):
            assert torch_name(caffe2_name(name)) == name


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_release_pickle_loads_safely(tmp_path):
    ref = reference_net()
    write_caffe2(tmp_path / "SLOWFAST_8x8_R50.pkl", ref)
    net = _load_tiny_pkl(tmp_path / "SLOWFAST_8x8_R50.pkl")
    fast = torch.randn(1, 3, 32, 224, 224)
    slow = fast[:, :, torch.linspace(0, 31, 8).long()]
    with torch.no_grad():
        assert (net(slow, fast) - ref([slow, fast])).abs().max() <= 1e-5
    write_caffe2(tmp_path / "evil.pkl", ref, planted=RunsCode(tmp_path / "pwned"))
    with pytest.raises(CheckpointError, match="refusing to load .*system"):
        _load_tiny_pkl(tmp_path / "evil.pkl")
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(WeightsNotFoundError, match="SLOWFAST_8x8_R50.pkl"):
        load_network(None)


def _load_tiny_pkl(path):
    """load_network's Caffe2 path with the tiny network in place of the R50 (same code otherwise)."""
    from vtg.slowfast import weights

    net = SlowFastR50(WIDTH, DEPTHS)
    state = weights.state_from_caffe2(weights.read_caffe2(path), net.state_dict())
    net.load_state_dict(state, strict=False)
    return net.eval()


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    from vtg.encoders.testing import tiny_hf_clip

    return tiny_hf_clip(tmp_path_factory.mktemp("tiny-clip"))


def test_a_slowfast_clip_model_answers_from_a_raw_video(three_scene_video, encoder_dir, tmp_path, monkeypatch):
    """No features given: vtg computes SlowFast with the weights, caches them, and they equal the
    reference's; ``-O slowfast=FILE`` still works."""
    from test_univtg_method import IMG_DIM, tiny_univtg

    monkeypatch.setenv("VTG_CACHE_DIR", str(tmp_path / "cache"))
    ref = reference_net()
    weights = save_weights(ours_from(ref), tmp_path / "slowfast.safetensors")
    model = tiny_univtg(tmp_path / "sf", v_feat_dim=36 * WIDTH + IMG_DIM + 2, video_features="slowfast_clip")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # online, the release would be downloaded on first use
    with pytest.raises(UsageError, match="slowfast_weights.*offline.*dl.fbaipublicfiles.com"):
        vtg.ground(three_scene_video, "red", method="univtg", model=str(model), encoder=str(encoder_dir), device="cpu")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    loads = []
    real = sf_features.load_network
    monkeypatch.setattr(sf_features, "load_network", lambda *a, **k: loads.append(a) or real(*a, **k))
    for _ in range(2):
        res = vtg.ground(three_scene_video, "red", method="univtg", model=str(model), encoder=str(encoder_dir),
                         device="cpu", slowfast_weights=str(weights))
        assert len(res.saliency) == 6 and 1 <= len(res.moments)
    assert len(loads) == 1  # the second query read the cached features
    cached = sf_features.cached_features(three_scene_video, weights)
    from vtg.video import iter_frames, probe

    info = probe(three_scene_video)
    frames = np.concatenate([centre_crop(np.asarray(b.frames)) for b in iter_frames(three_scene_video, fps=30, size=224)])
    expected = ref_features(ref, ref_preprocess(torch.from_numpy(frames), info.duration, info.fps)).numpy()
    assert np.abs(cached - expected).max() <= 1e-5
    np.save(tmp_path / "given.npy", np.random.default_rng(0).normal(size=(6, 2304)).astype(np.float32))
    # a user's own 2304-d file still goes through -O slowfast (and is checked against the model's width)
    with pytest.raises(UsageError, match="expects"):
        vtg.ground(three_scene_video, "red", method="univtg", model=str(model), encoder=str(encoder_dir),
                   device="cpu", slowfast=str(tmp_path / "given.npy"))


def test_an_official_slowfast_clip_univtg_checkpoint_answers_from_a_raw_video(three_scene_video, encoder_dir,
                                                                              tmp_path, monkeypatch):
    """The released layout end to end: a ``model_best.ckpt`` whose options name
    ``v_feat_types="slowfast_clip"`` (random weights; a width-8 SlowFast, so 288 + 16 + 2 input
    channels instead of 2304 + 512 + 2), converted with ``vtg models convert univtg``, answers from
    the raw video with no features given, and the SlowFast features it used are the reference's."""
    import argparse

    from test_univtg_method import IMG_DIM, TXT_DIM
    from vtg.cli.main import main
    from vtg.methods.univtg.model import ModelConfig, UniVTGModel
    from vtg.methods.univtg.weights import load_model

    monkeypatch.setenv("VTG_CACHE_DIR", str(tmp_path / "cache"))
    ref = reference_net()
    weights = save_weights(ours_from(ref), tmp_path / "slowfast.safetensors")
    arch = dict(v_feat_dim=36 * WIDTH + IMG_DIM + 2, t_feat_dim=TXT_DIM, hidden_dim=16, enc_layers=1, nheads=2,
                dim_feedforward=32)
    torch.manual_seed(0)
    net = UniVTGModel(ModelConfig(**arch))
    opt = argparse.Namespace(model_id="univtg", dset_name="qvhighlights", v_feat_types="slowfast_clip",
                             t_feat_type="clip", clip_length=2, max_v_l=75, max_q_l=75, use_txt_pos=False,
                             n_input_proj=2, nms_thd=0.7, max_after_nms=10, **arch)
    torch.save({"model": {"module." + k: v for k, v in net.state_dict().items()}, "epoch": 3, "opt": opt},
               tmp_path / "model_best.ckpt")
    assert main(["models", "convert", "univtg", str(tmp_path / "model_best.ckpt"), "-o", str(tmp_path / "m")]) == 0
    assert load_model(tmp_path / "m", "cpu")[1].video_features == "slowfast_clip"
    res = vtg.ground(three_scene_video, "red", method="univtg", model=str(tmp_path / "m"), encoder=str(encoder_dir),
                     device="cpu", slowfast_weights=str(weights))
    assert len(res.saliency) == 6 and 1 <= len(res.moments)
    assert all(0.0 <= m.start < m.end <= res.duration for m in res.moments)
    from vtg.video import iter_frames, probe

    info = probe(three_scene_video)
    frames = np.concatenate([centre_crop(np.asarray(b.frames)) for b in iter_frames(three_scene_video, fps=30, size=224)])
    expected = ref_features(ref, ref_preprocess(torch.from_numpy(frames), info.duration, info.fps)).numpy()
    assert np.abs(sf_features.cached_features(three_scene_video, weights) - expected).max() <= 1e-5

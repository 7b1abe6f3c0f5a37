"""Converting official-style UniVTG checkpoints: restricted unpickling, safetensors, strict loading."""

from __future__ import annotations

import argparse
import fractions
import json
import os

import pytest

torch = pytest.importorskip("torch")

from vtg.cli.main import main  # noqa: E402
from vtg.errors import CheckpointError, WeightsNotFoundError  # noqa: E402
from vtg.methods.univtg.config import ModelConfig  # noqa: E402
from vtg.methods.univtg.convert import convert_checkpoint, read_checkpoint  # noqa: E402
from vtg.methods.univtg.model import UniVTGModel  # noqa: E402
from vtg.methods.univtg.weights import load_model, resolve_model_dir  # noqa: E402

ARCH = dict(v_feat_dim=514, t_feat_dim=512, hidden_dim=32, enc_layers=2, nheads=4, dim_feedforward=48)


def official_options(**over) -> argparse.Namespace:
    """An options object shaped like the released ones (BaseOptions.parse output)."""
    opt = dict(dset_type="mr", dset_name="qvhighlights", model_id="univtg", exp_id="qvhl", device=0, gpu_id=0,
               bsz=32, n_epoch=200, lr=1e-4, lr_drop=200, lr_warmup=[10, 200], wd=1e-4, grad_clip=0.1,
               span_loss_type="l1", b_loss_coef=10, g_loss_coef=1, eos_coef=0.1, f_loss_coef=10,
               s_loss_intra_coef=0.1, s_loss_inter_coef=0.1, main_metric="MR-full-mAP", nms_thd=0.7,
               max_before_nms=1000, max_after_nms=10, max_q_l=75, max_v_l=75, clip_length=2,
               train_path=["data/qvhighlights/metadata/qvhighlights_train.jsonl"], ctx_mode="video_tef",
               v_feat_types="clip", t_feat_type="clip", position_embedding="sine", n_input_proj=2,
               dropout=0.0, droppath=0.1, input_dropout=0.5, use_txt_pos=False, pre_norm=False,
               results_dir="results/mr-qvhighlights/qvhl", use_tef=True, use_video=True, pin_memory=True,
               train_log_txt_formatter="{time_str} [Epoch] {epoch:03d} [Loss] {loss_str}\n", **ARCH)
    opt.update(over)
    return argparse.Namespace(**opt)


def write_official(path, *, planted=None, ddp=True, opt=None):
    """A checkpoint laid out like model_best.ckpt: model, optimizer, lr_scheduler, epoch, opt."""
    torch.manual_seed(0)
    net = UniVTGModel(ModelConfig(**ARCH))
    optim = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=1e-4)
    out = net(torch.randn(1, 3, 512), torch.ones(1, 3), torch.randn(1, 4, 514), torch.ones(1, 4))
    out["pred_logits"].sum().backward()
    optim.step()
    sched = torch.optim.lr_scheduler.StepLR(optim, 200, gamma=0.1)
    prefix = "module." if ddp else ""
    ckpt = {"model": {prefix + k: v for k, v in net.state_dict().items()}, "optimizer": optim.state_dict(),
            "lr_scheduler": sched.state_dict(), "epoch": 41, "opt": official_options() if opt is None else opt}
    if opt is False:
        del ckpt["opt"]
    if planted is not None:
        ckpt["extra"] = planted
    torch.save(ckpt, path)
    return net


class RunsCode:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_converts_an_official_checkpoint_and_loads_strictly(tmp_path):
    net = write_official(tmp_path / "model_best.ckpt")
    out = convert_checkpoint(tmp_path / "model_best.ckpt")
    assert out == tmp_path / "vtg-univtg"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    loaded, cfg = load_model(out)
    assert cfg.hidden_dim == 32 and cfg.enc_layers == 2 and cfg.timestamp == "official"
    assert cfg.video_features == "clip" and cfg.source["epoch"] == 41 and cfg.source["dset_name"] == "qvhighlights"
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k


def test_the_options_object_is_a_namespace_and_nothing_else_runs(tmp_path):
    write_official(tmp_path / "m.ckpt")
    ckpt = read_checkpoint(tmp_path / "m.ckpt")
    assert isinstance(ckpt["opt"], argparse.Namespace) and ckpt["opt"].hidden_dim == 32
    assert set(ckpt) == {"model", "optimizer", "lr_scheduler", "epoch", "opt"}
    assert ckpt["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)


def test_a_planted_class_is_refused_by_name(tmp_path):
    write_official(tmp_path / "m.ckpt", opt=official_options(lr=fractions.Fraction(1, 10000)))
    with pytest.raises(CheckpointError, match=r"fractions\.Fraction"):
        convert_checkpoint(tmp_path / "m.ckpt", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_code_in_a_checkpoint_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    write_official(tmp_path / "evil.ckpt", planted=RunsCode(marker))
    with pytest.raises(CheckpointError, match=rf"{os.system.__module__}\.system"):
        convert_checkpoint(tmp_path / "evil.ckpt", tmp_path / "out")
    assert not marker.exists()


def test_opt_json_beside_the_checkpoint_is_used_when_the_pickle_has_no_options(tmp_path):
    write_official(tmp_path / "model_best.ckpt", opt=False, ddp=False)
    with pytest.raises(CheckpointError, match="no options"):
        convert_checkpoint(tmp_path / "model_best.ckpt", tmp_path / "o1")
    (tmp_path / "opt.json").write_text(json.dumps(vars(official_options(dset_name="charades"))))
    cfg = load_model(convert_checkpoint(tmp_path / "model_best.ckpt", tmp_path / "o2"))[1]
    assert cfg.source["dset_name"] == "charades" and cfg.hidden_dim == 32


def test_official_opt_json_states_the_video_width_without_the_tef(tmp_path):
    # The released opt.json is written by BaseOptions.display_save *before* parse() adds the TEF's
    # 2 dims, so a CLIP-only model's opt.json says v_feat_dim=512 while its weights take 514.
    write_official(tmp_path / "model_best.ckpt", opt=False, ddp=False)
    opt = vars(official_options(v_feat_dim=512))
    del opt["use_tef"], opt["use_video"], opt["pin_memory"]  # set after saving, absent from opt.json
    (tmp_path / "opt.json").write_text(json.dumps(opt))
    cfg = load_model(convert_checkpoint(tmp_path / "model_best.ckpt", tmp_path / "out"))[1]
    assert cfg.v_feat_dim == 514 and cfg.video_features == "clip"
    (tmp_path / "opt.json").write_text(json.dumps(dict(opt, v_feat_dim=300)))
    with pytest.raises(CheckpointError, match="v_feat_dim=300"):
        convert_checkpoint(tmp_path / "model_best.ckpt", tmp_path / "out2")


def test_mismatched_options_and_weights_are_an_error(tmp_path):
    write_official(tmp_path / "m.ckpt", opt=official_options(hidden_dim=64))
    with pytest.raises(CheckpointError, match="hidden_dim=64"):
        convert_checkpoint(tmp_path / "m.ckpt", tmp_path / "out")


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "x.ckpt"
    bad.write_bytes(b"\x80\x02not a zip")
    with pytest.raises(CheckpointError, match="not a torch zip checkpoint"):
        convert_checkpoint(bad)


def test_missing_or_unconverted_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="vtg models convert univtg"):
        resolve_model_dir(None)
    with pytest.raises(WeightsNotFoundError, match="no UniVTG weights"):
        resolve_model_dir(tmp_path)
    (tmp_path / "model_best.ckpt").write_bytes(b"x")
    with pytest.raises(WeightsNotFoundError, match="unconverted checkpoint"):
        resolve_model_dir(tmp_path / "model_best.ckpt")


def test_cli_convert(tmp_path, capsys):
    write_official(tmp_path / "model_best.ckpt")
    assert main(["models", "convert", "univtg", str(tmp_path / "model_best.ckpt"), "-o", str(tmp_path / "conv")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert json.loads((tmp_path / "conv" / "config.json").read_text())["timestamp"] == "official"
    assert main(["models", "convert", "nosuch", str(tmp_path / "model_best.ckpt")]) == 2
    write_official(tmp_path / "evil.ckpt", planted=RunsCode(tmp_path / "pwned"))
    assert main(["models", "convert", "univtg", str(tmp_path / "evil.ckpt"), "-o", str(tmp_path / "e")]) == 1
    assert "refusing to load" in capsys.readouterr().err

"""The on-disk form vtg runs DETR-family models from: ``model.safetensors`` + ``config.json``
(written once by ``vtg models convert moment_detr CKPT``; nothing here unpickles)."""

from __future__ import annotations

from pathlib import Path

from vtg.errors import CheckpointError, WeightsNotFoundError
from vtg.outputs import check_output_dir
from .config import DetrConfig
from ..univtg.weights import load_state

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"

RELEASES = {
    "moment_detr": "https://github.com/jayleicn/moment_detr (run_on_video/moment_detr_ckpt/model_best.ckpt) "
                   "or Lighthouse's released weights (https://github.com/line/lighthouse)",
    "qd_detr": "https://github.com/wjun0830/QD-DETR (README: model zoo) or Lighthouse's released weights "
               "(https://github.com/line/lighthouse)",
    "cg_detr": "https://github.com/wjun0830/CGDETR (README: model zoo) or Lighthouse's released weights "
               "(https://github.com/line/lighthouse)",
}


def how_to_get(family: str) -> str:
    return (f"download a released {family} checkpoint ({RELEASES.get(family, 'see docs/detr.md')}), then run: "
            f"vtg models convert {family} path/to/model_best.ckpt -o DIR, and pass --model DIR")


def build_network(cfg: DetrConfig):
    """The network a config describes."""
    if cfg.family == "moment_detr":
        from .moment_detr import MomentDETRNet

        return MomentDETRNet(cfg)
    if cfg.family == "qd_detr":
        from .qd_detr import QDDETRNet

        return QDDETRNet(cfg)
    if cfg.family == "cg_detr":
        from .cg_detr import CGDETRNet

        return CGDETRNet(cfg)
    raise CheckpointError(f"unknown DETR-family model {cfg.family!r} in config.json")


def save_model(net, cfg: DetrConfig, out_dir: str | Path) -> Path:
    from safetensors.torch import save

    from vtg.fileio import atomic_write_bytes

    out = check_output_dir(out_dir, what="model folder")
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()}
    atomic_write_bytes(out / WEIGHTS_FILE, save(tensors, metadata={"format": "pt", "model": cfg.family}))
    cfg.save(out / CONFIG_FILE)
    return out


def resolve_model_dir(model: str | Path | None, family: str) -> Path:
    if not model:
        raise WeightsNotFoundError(f"{family} needs weights: {how_to_get(family)}")
    path = Path(model).expanduser()
    if path.is_file() and path.suffix in (".ckpt", ".pth", ".pt"):
        raise WeightsNotFoundError(f"{path} is an unconverted checkpoint; vtg never unpickles checkpoints at load "
                                   f"time. Convert it once: vtg models convert {family} {path} -o DIR")
    if not (path / WEIGHTS_FILE).is_file() or not (path / CONFIG_FILE).is_file():
        raise WeightsNotFoundError(f"no {family} weights at {path} (expected {WEIGHTS_FILE} + {CONFIG_FILE}); "
                                   + how_to_get(family))
    return path


def model_config(model_dir: str | Path | None, family: str) -> DetrConfig:
    """The config of a converted folder, which must hold a ``family`` model (reads only the JSON)."""
    path = resolve_model_dir(model_dir, family)
    cfg = DetrConfig.load(path / CONFIG_FILE)
    if cfg.family != family:
        raise CheckpointError(f"{path} holds a {cfg.family} model, not {family}; use --method {cfg.family}")
    return cfg


def load_model(model_dir: str | Path, family: str, device: str = "cpu"):
    """(network in eval mode on ``device``, config); the folder must hold a ``family`` model."""
    from safetensors.torch import load_file

    path = resolve_model_dir(model_dir, family)
    cfg = model_config(path, family)
    try:
        net = build_network(cfg)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"cannot build {family} from {path / CONFIG_FILE}: {exc}") from None
    try:
        state = load_file(str(path / WEIGHTS_FILE))
    except Exception as exc:  # safetensors' own error types for truncated/corrupt files
        raise CheckpointError(f"cannot read {path / WEIGHTS_FILE}: {exc}") from None
    load_state(net, state, str(path / WEIGHTS_FILE), family)
    return net.to(device).eval(), cfg

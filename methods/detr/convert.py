"""``vtg models convert moment_detr model_best.ckpt``: a released DETR-family checkpoint, read
once without running its code (UniVTG's restricted reader, :mod:`vtg.methods.univtg.convert`:
tensors and the options Namespace only, every declared size checked before allocating), written
as safetensors + config.json."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from vtg.errors import CheckpointError

from ..univtg.convert import checkpoint_options, model_state, read_checkpoint
from ..univtg.weights import load_state
from .cg_detr import TRAINING_ONLY as CG_TRAINING_ONLY
from .config import TEF_DIM, DetrConfig, from_official_options
from .weights import build_network, save_model

#: Weights some releases carry for training-only losses (Moment-DETR's contrastive alignment,
#: CG-DETR's moment and sentence encoders).
TRAINING_ONLY = ("contrastive_align_projection_",) + CG_TRAINING_ONLY


def detected_family(state: dict) -> str | None:
    """Which DETR-family model a state dict holds, from parameters only that model has."""
    if "dummy_rep_token" in state:
        return "cg_detr"
    if "global_rep_token" in state and any(k.startswith("transformer.t2v_encoder.") for k in state):
        return "qd_detr"
    if "query_embed.weight" in state and "transformer.decoder.layers.0.multihead_attn.in_proj_weight" in state:
        return "moment_detr"
    return None


def shape_options(family: str, state: dict) -> dict[str, int]:
    if family == "moment_detr":
        from .moment_detr import shape_options as moment_shapes

        return moment_shapes(state)
    if family == "qd_detr":
        from .qd_detr import shape_options as qd_shapes

        return qd_shapes(state)
    if family == "cg_detr":
        from .cg_detr import shape_options as cg_shapes

        return cg_shapes(state)
    raise CheckpointError(f"no converter for {family!r}")


def config_from_checkpoint(family: str, state: dict, options: dict) -> DetrConfig:
    found = detected_family(state)
    if found is not None and found != family:
        raise CheckpointError(f"the checkpoint holds a {found} model, not {family}; convert it with: "
                              f"vtg models convert {found} CKPT")
    sizes = shape_options(family, state)
    for key in ("t_feat_dim", "hidden_dim", "num_queries", "enc_layers", "dec_layers", "dim_feedforward"):
        stated = options.get(key)
        if stated is not None and _as_int(stated, key) != sizes[key]:
            raise CheckpointError(f"options say {key}={stated} but the weights have {sizes[key]}")
    stated = options.get("v_feat_dim")  # stated without the TEF's 2 dims, added at load time
    if stated is not None and _as_int(stated, "v_feat_dim") not in (sizes["v_feat_dim"], sizes["v_feat_dim"] - TEF_DIM):
        raise CheckpointError(f"options say v_feat_dim={stated} but the weights take {sizes['v_feat_dim']}")
    return from_official_options(family, options, sizes)


def _as_int(value, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise CheckpointError(f"the checkpoint's option {key}={value!r:.40} is not an integer") from None


def convert_checkpoint(family: str, ckpt_path: str | Path, out_dir: str | Path | None = None, *,
                       max_bytes: int | None = None) -> Path:
    """Convert ``model_best.ckpt`` (+ ``opt.json`` beside it when the pickle has no options)."""
    ckpt_path = Path(ckpt_path).expanduser()
    ckpt = read_checkpoint(ckpt_path, max_bytes)
    state = {k: v for k, v in model_state(ckpt).items() if not k.startswith(TRAINING_ONLY)}
    cfg = config_from_checkpoint(family, state, checkpoint_options(ckpt, ckpt_path.parent / "opt.json"))
    record = dict(cfg.source, checkpoint=ckpt_path.name)
    if isinstance(ckpt.get("epoch"), int):
        record["epoch"] = ckpt["epoch"]
    cfg = dataclasses.replace(cfg, source=record)
    net = build_network(cfg)
    load_state(net, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, str(ckpt_path), family)
    return save_model(net, cfg, Path(out_dir) if out_dir else ckpt_path.parent / f"vtg-{family}")

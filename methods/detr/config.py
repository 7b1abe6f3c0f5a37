"""Architecture of a DETR-family model, read from the training options a released checkpoint
carries (``opt`` / ``opt.json``) and stored as JSON beside the converted weights."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vtg.errors import CheckpointError
from vtg.fileio import atomic_write_text

TEF_DIM = 2
SLOWFAST_DIM = 2304
CLIP_DIM = 512


@dataclass(frozen=True)
class DetrConfig:
    """What building the network and feeding it needs; sizes are checked against the weights."""

    family: str = "moment_detr"
    v_feat_dim: int = CLIP_DIM + TEF_DIM   # video input width, TEF included when ``tef``
    t_feat_dim: int = CLIP_DIM
    hidden_dim: int = 256
    nheads: int = 8
    enc_layers: int = 2
    dec_layers: int = 2
    #: QD-DETR / CG-DETR: layers of clip-to-word cross-attention before the encoder
    t2v_layers: int = 2
    #: CG-DETR: learned dummy tokens beside the words, their encoder's depth, and the prompt
    #: tokens the global token is built from (``num_prompts`` of ``total_prompts`` chosen per query)
    num_dummies: int = 45
    dummy_layers: int = 2
    total_prompts: int = 10
    num_prompts: int = 2
    dim_feedforward: int = 1024
    num_queries: int = 10
    n_input_proj: int = 2
    max_q_l: int = 32
    max_v_l: int = 75
    use_txt_pos: bool = False
    clip_length: float = 2.0
    tef: bool = True
    #: "clip" or "slowfast_clip" (SlowFast R50 2304-d before CLIP 512-d per clip, as released)
    video_features: str = "clip"
    #: the checkpoint's own post-processing: NMS IoU (negative = none) and how many windows it keeps
    nms_thd: float = -1.0
    max_after_nms: int = 10
    source: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "DetrConfig":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"cannot read {path}: {exc}") from None
        if not isinstance(data, dict):
            raise CheckpointError(f"{path} must hold a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise CheckpointError(f"{path}: {exc}") from None


def from_official_options(family: str, opt: dict[str, Any], sizes: dict[str, int]) -> DetrConfig:
    """The config of a released checkpoint: sizes read off the weights, the rest from its options
    (``ctx_mode`` with ``tef`` appends the temporal endpoint feature; the feature folders say
    whether SlowFast comes first)."""
    if opt.get("pre_norm"):
        raise CheckpointError("pre-norm transformers (pre_norm=True) are not supported; the released models are post-norm")
    if opt.get("a_feat_dir"):
        raise CheckpointError("checkpoints trained with audio features (a_feat_dir, PANN) are not supported; "
                              "use a video-only checkpoint")
    if opt.get("span_loss_type", "l1") != "l1":
        raise CheckpointError("only span_loss_type 'l1' (centre/width regression, every released model) is supported")
    dirs = " ".join(str(d) for d in opt.get("v_feat_dirs") or [])
    unknown = [d for d in opt.get("v_feat_dirs") or [] if not any(k in str(d).lower() for k in ("clip", "slowfast"))]
    if unknown:
        raise CheckpointError(f"the checkpoint was trained on features vtg does not compute ({unknown[0]!r:.60}); "
                              "use a CLIP or SlowFast+CLIP checkpoint")
    slowfast = "slowfast" in dirs.lower() or sizes["v_feat_dim"] in (SLOWFAST_DIM + CLIP_DIM, SLOWFAST_DIM + CLIP_DIM + TEF_DIM)
    return DetrConfig(
        family=family, **sizes,
        nheads=int(opt.get("nheads", 8)),
        num_prompts=int(opt.get("num_prompts", 2)),
        max_v_l=int(opt.get("max_v_l", 75)),
        use_txt_pos=bool(opt.get("use_txt_pos", False)),
        clip_length=float(opt.get("clip_length", 2.0)),
        tef="tef" in str(opt.get("ctx_mode", "video_tef")),
        video_features="slowfast_clip" if slowfast else "clip",
        nms_thd=float(opt.get("nms_thd", -1.0)),
        max_after_nms=int(opt.get("max_after_nms", 10)),
        source={"options": {k: opt[k] for k in ("dset_name", "exp_id", "v_feat_dirs", "ctx_mode") if k in opt}},
    )

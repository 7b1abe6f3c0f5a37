"""Architecture options of a UniVTG network, stored as ``config.json`` beside its weights.

The field names are those of the official training options (``main/config.py`` of the UniVTG
release, Lin et al., ICCV 2023), so a converted official checkpoint's options carry over one to
one. Defaults are the released checkpoints' values (``scripts/pretrain.sh``): hidden size 1024,
four post-norm encoder layers, eight heads, feed-forward 1024, input dropout 0.5, transformer
dropout 0, drop-path 0.1, two-layer input projections, 75 text positions, 2-second clips.

Three fields are vtg's own: ``video_features`` (which per-clip features the input concatenates,
``clip`` = CLIP ViT-B/32 image features, ``slowfast_clip`` = SlowFast R50 then CLIP),
``timestamp`` (how a clip index anchors its predicted offsets; see :mod:`.inference`) and
``encoder`` (the canonical spec of the frame/text encoder whose features the weights were trained
on, so ``vtg ground --method univtg --model DIR`` needs no ``--encoder``; ``null`` in folders
written before vtg recorded it, which then mean CLIP ViT-B/32 as before).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vtg.errors import CheckpointError
from vtg.fileio import atomic_write_text

CLIP_DIM = 512  # CLIP ViT-B/32 image embedding and text width
SLOWFAST_DIM = 2304  # SlowFast R50 (slow 2048 + fast 256) pooled per clip
TEF_DIM = 2  # temporal endpoint feature [start/L, end/L]
TIMESTAMP_CONVENTIONS = ("official", "center")
INT_FIELDS = ("v_feat_dim", "t_feat_dim", "hidden_dim", "enc_layers", "nheads", "dim_feedforward", "n_input_proj",
              "max_q_l", "max_v_l")
MAX_PARAMETERS = 1_000_000_000  # 25x the released model; a larger config.json is tampered or mistaken


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network and to read its outputs in seconds."""

    v_feat_dim: int = CLIP_DIM + TEF_DIM
    t_feat_dim: int = CLIP_DIM
    hidden_dim: int = 1024
    enc_layers: int = 4
    nheads: int = 8
    dim_feedforward: int = 1024
    dropout: float = 0.0
    droppath: float = 0.1
    input_dropout: float = 0.5
    n_input_proj: int = 2
    max_q_l: int = 75
    max_v_l: int = 75
    use_txt_pos: bool = False
    clip_length: float = 2.0
    video_features: str = "clip"
    timestamp: str = "official"
    source: dict[str, Any] = field(default_factory=dict)
    encoder: str | None = None

    def __post_init__(self) -> None:
        self._check_types()
        if self.timestamp not in TIMESTAMP_CONVENTIONS:
            raise CheckpointError(f"unknown timestamp convention {self.timestamp!r}; use one of {TIMESTAMP_CONVENTIONS}")
        if self.video_features not in ("clip", "slowfast_clip", "custom"):
            raise CheckpointError(f"unknown video_features {self.video_features!r}; use clip, slowfast_clip or custom")
        if self.hidden_dim % self.nheads:
            raise CheckpointError(f"hidden_dim {self.hidden_dim} is not divisible by nheads {self.nheads}")
        if not 1 <= self.n_input_proj <= 3:
            raise CheckpointError(f"n_input_proj must be 1, 2 or 3, got {self.n_input_proj}")
        from vtg.modelsize import check_config_counts

        check_config_counts({"enc_layers": self.enc_layers}, "UniVTG config.json")  # before any build, even a shape-only one
        if self.parameter_estimate() > MAX_PARAMETERS:
            raise CheckpointError(f"config.json describes a network of ~{self.parameter_estimate() / 1e9:.0f} billion "
                                  f"parameters (UniVTG has 41 million); refusing to allocate it")

    def _check_types(self) -> None:
        """A tampered config.json must fail here with a CheckpointError, not as a TypeError or a
        ZeroDivisionError, or by allocating an absurd network, when the model is built."""
        for name in INT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise CheckpointError(f"config.json: {name} must be a positive integer, got {value!r:.40}")
        for name in ("dropout", "droppath", "input_dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
                raise CheckpointError(f"config.json: {name} must be a number in [0, 1), got {value!r:.40}")
        length = self.clip_length
        if not isinstance(length, (int, float)) or isinstance(length, bool) or not 0 < length < 1e6:
            raise CheckpointError(f"config.json: clip_length must be a positive number of seconds, got {length!r:.40}")
        if not isinstance(self.use_txt_pos, bool):
            raise CheckpointError(f"config.json: use_txt_pos must be true or false, got {self.use_txt_pos!r:.40}")
        for name in ("video_features", "timestamp"):
            if not isinstance(getattr(self, name), str):
                raise CheckpointError(f"config.json: {name} must be a string")
        if not isinstance(self.source, dict):
            raise CheckpointError("config.json: source must be an object")
        if self.encoder is not None and (not isinstance(self.encoder, str) or not self.encoder.strip()
                                         or len(self.encoder) > 4096):
            raise CheckpointError(f"config.json: encoder must be an encoder spec string, got {self.encoder!r:.40}")

    def parameter_estimate(self) -> int:
        """Rough parameter count (attention, feed-forward, input projections, positions)."""
        h = self.hidden_dim
        layers = self.enc_layers * (4 * h * h + 2 * h * self.dim_feedforward)
        inputs = (self.v_feat_dim + self.t_feat_dim) * h + 2 * self.n_input_proj * h * h
        return layers + inputs + (self.max_q_l + self.max_v_l) * h

    @property
    def use_tef(self) -> bool:
        return True

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise CheckpointError(f"config.json has unknown keys {unknown}; was it written by a newer vtg?")
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise CheckpointError(f"cannot read UniVTG config {path}: {exc}") from None

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json() + "\n")


#: Keys of the official options (argparse names) that define the architecture.
OFFICIAL_ARCH_KEYS = ("v_feat_dim", "t_feat_dim", "hidden_dim", "enc_layers", "nheads", "dim_feedforward",
                      "dropout", "droppath", "input_dropout", "n_input_proj", "max_q_l", "max_v_l",
                      "use_txt_pos")
#: Official options kept in ``source`` for the record (where the weights came from).
OFFICIAL_RECORD_KEYS = ("dset_type", "dset_name", "exp_id", "model_id", "v_feat_types", "t_feat_type",
                        "ctx_mode", "span_loss_type", "position_embedding", "pre_norm", "eval_mode",
                        "nms_thd", "max_after_nms", "b_loss_coef", "g_loss_coef", "f_loss_coef", "eos_coef",
                        "s_loss_intra_coef", "s_loss_inter_coef")


def from_official_options(opt: dict[str, Any]) -> ModelConfig:
    """Map the official argparse options to a :class:`ModelConfig`, refusing unsupported variants.

    Only the released architecture is supported: ``model_id`` univtg, ``span_loss_type`` l1, sine
    video positions, post-norm encoder and ``ctx_mode`` video_tef.
    """
    checks = {"span_loss_type": "l1", "position_embedding": "sine", "ctx_mode": "video_tef"}
    for key, want in checks.items():
        if key in opt and opt[key] != want:
            raise CheckpointError(f"unsupported UniVTG variant: {key}={opt[key]!r} (vtg supports {want!r})")
    if opt.get("pre_norm"):
        raise CheckpointError("unsupported UniVTG variant: pre_norm=True (the released models are post-norm)")
    model_id = opt.get("model_id", "univtg")
    if model_id != "univtg":
        raise CheckpointError(f"unsupported model_id {model_id!r}; only the 'univtg' model is supported")
    missing = [k for k in ("v_feat_dim", "t_feat_dim", "hidden_dim") if opt.get(k) is None]
    if missing:
        raise CheckpointError(f"the checkpoint's options lack {missing}")
    kwargs = {k: opt[k] for k in OFFICIAL_ARCH_KEYS if k in opt and opt[k] is not None}
    kwargs["use_txt_pos"] = bool(kwargs.get("use_txt_pos", False))
    kwargs["clip_length"] = float(opt.get("clip_length", 2.0))
    types = str(opt.get("v_feat_types", ""))
    kwargs["video_features"] = video_features_kind(int(opt["v_feat_dim"]), types)
    kwargs["timestamp"] = "official"
    kwargs["source"] = {k: opt[k] for k in OFFICIAL_RECORD_KEYS if k in opt and isinstance(opt[k], (str, int, float, bool))}
    kwargs["encoder"] = official_encoder(int(kwargs["t_feat_dim"]), kwargs["video_features"])
    return ModelConfig(**kwargs)


#: The encoder of every released UniVTG checkpoint: OpenAI CLIP ViT-B/32 for the clip features and
#: the query tokens (Lin et al. 2023, Sec. 4.1; the release's ``clip`` / ``txt_clip`` features).
OFFICIAL_ENCODER = "open_clip:ViT-B-32/openai"


def official_encoder(t_feat_dim: int, video_features: str) -> str | None:
    """The released checkpoints' encoder when the widths say CLIP features; None when unknown."""
    return OFFICIAL_ENCODER if t_feat_dim == CLIP_DIM and video_features != "custom" else None


def video_features_kind(v_feat_dim: int, types: str = "") -> str:
    """Which feature layout a checkpoint's video input has (CLIP, SlowFast+CLIP, or something else):
    the feature types its options name (``v_feat_types="slowfast_clip"``), else what the width implies.
    A SlowFast+CLIP model's width is checked against the features vtg computes when it runs."""
    if sorted(t for t in types.lower().replace("+", "_").split("_") if t) == ["clip", "slowfast"]:
        return "slowfast_clip"
    if v_feat_dim == CLIP_DIM + TEF_DIM and "slowfast" not in types:
        return "clip"
    if v_feat_dim == SLOWFAST_DIM + CLIP_DIM + TEF_DIM:
        return "slowfast_clip"
    return "custom"

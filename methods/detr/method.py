"""The DETR-family grounding methods: released (converted) weights run from a raw video.

``vtg ground video.mp4 "query" -m moment_detr --model DIR`` extracts the features the checkpoint
was trained on through vtg's feature cache (CLIP ViT-B/32 of each 2-s clip's centre frame, the
HERO / Moment-DETR extractor's sampling, :mod:`vtg.methods.univtg.features`; the query's CLIP token
features; SlowFast R50 per clip first for SlowFast+CLIP weights, from ``-O slowfast=FILE``), adds the
temporal endpoint feature when the checkpoint used it, runs the network once and decodes windows
with the authors' post-processing (:mod:`.decode`). Saliency is the network's per-clip score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np

from vtg.engine import default_manager
from vtg.errors import UsageError
from vtg.method import Method
from vtg.options import SCORING, DeviceName, Range, TopK
from vtg.planning import Plan, VideoInput, local_need
from vtg.types import Query
from vtg.types import Grounding, Moment, Saliency
from ..univtg.data import with_tef
from ..univtg.features import CLIP_ENCODER, clip_sample_rate, text_tokens, video_input


@dataclass(frozen=True)
class DetrMethodConfig:
    #: Directory written by ``vtg models convert <method> model_best.ckpt``.
    model: str | None = None
    device: DeviceName = "auto"
    #: Clip/text encoder: CLIP ViT-B/32, what every released checkpoint was trained on.
    encoder: str = CLIP_ENCODER
    #: Precomputed SlowFast R50 features of this video (.npy/.npz, 2304-d per 2-s clip) for SlowFast+CLIP weights.
    slowfast: str | None = None
    #: SlowFast R50 weights (PySlowFast's SLOWFAST_8x8_R50.pkl, or .safetensors): vtg computes the features.
    slowfast_weights: str | None = None
    #: NMS IoU threshold; None = the checkpoint's own setting (negative: no NMS, Moment-DETR's release).
    nms_iou: Annotated[float, Range(-1, 1), SCORING] | None = None
    max_moments: TopK = 10

    line_options: ClassVar[frozenset[str]] = frozenset({"slowfast", "nms_iou", "max_moments"})


def loaded_model(family: str, model_dir: str | None, device: str):
    """(network, config), shared per process through the model manager."""
    from .weights import load_model, resolve_model_dir

    path = resolve_model_dir(model_dir, family)
    return default_manager().get(family, (str(path.resolve()), device), lambda: load_model(path, family, device),
                                 label=f"{family} {path} ({device})")


def run_network(net, video: np.ndarray, text: np.ndarray, device: str) -> dict[str, np.ndarray]:
    """One forward pass on one (clips, tokens) pair -> logits (Q, 2), spans (Q, 2), saliency (L,)."""
    import torch

    src_vid = torch.from_numpy(np.ascontiguousarray(video, dtype=np.float32))[None].to(device)
    src_txt = torch.from_numpy(np.ascontiguousarray(text, dtype=np.float32))[None].to(device)
    with torch.inference_mode():
        out = net(src_txt, torch.ones(src_txt.shape[:2], device=device), src_vid,
                  torch.ones(src_vid.shape[:2], device=device))
    return {k: out[k][0].float().cpu().numpy() for k in ("pred_logits", "pred_spans", "saliency_scores")}


class DetrMethod(Method):
    """Shared by Moment-DETR and its successors: only the network differs."""

    family: ClassVar[str]
    Config = DetrMethodConfig
    score_meaning = ("the moment query's foreground probability (softmax over foreground/background, 0 to 1); "
                     "saliency: the network's per-clip score (unbounded).")

    def ground(self, video: VideoInput, query: Query, *, progress: bool = False) -> Grounding:
        from vtg.device import resolve_device

        self.check_query(query)
        device = resolve_device(self.config.device)
        net, cfg = loaded_model(self.family, self.config.model, device)
        self._check_features(cfg.video_features)
        slowfast = None
        if cfg.video_features == "slowfast_clip":
            from vtg.slowfast.features import clip_slowfast

            slowfast = clip_slowfast(video, self.config.slowfast, self.config.slowfast_weights, device)
        vi = video_input(video, encoder=self.config.encoder, device=device, clip_len=cfg.clip_length,
                         slowfast=slowfast, progress=progress)
        tokens = text_tokens(query.text or "", encoder=self.config.encoder, device=device)[: cfg.max_q_l]
        nms = cfg.nms_thd if self.config.nms_iou is None else self.config.nms_iou
        moments, saliency, pieces = self._run(net, cfg, vi, tokens, device, nms)
        meta: dict[str, Any] = {"model": str(self.config.model), "encoder": self.config.encoder,
                                "clips": len(vi.clips), "clip_length": cfg.clip_length,
                                "features": cfg.video_features, "nms_iou": nms}
        if pieces > 1:
            meta["note"] = (f"{len(vi.clips)} clips, more than the {cfg.max_v_l} the model was trained on: "
                            f"run on {pieces} overlapping windows of {cfg.max_v_l} clips, moments merged by NMS")
        return Grounding(query=query.label, video=str(video), duration=vi.duration, moments=tuple(moments),
                         saliency=Saliency(vi.times[: len(vi.clips)], saliency), method=self.name, meta=meta)

    def _run(self, net, cfg, vi, tokens: np.ndarray, device: str, nms: float):
        """(moments, per-clip saliency, number of windows): one pass when the video fits the model's
        training length (the authors' decoding exactly), else overlapping windows of that length,
        each with its own temporal endpoint feature, moments merged and saliency averaged."""
        from .decode import clip_windows, decode_windows, merge_windows

        n, clip_len = len(vi.clips), cfg.clip_length
        pieces = clip_windows(n, cfg.max_v_l)
        saliency, counts, found = np.zeros(n), np.zeros(n), []
        for start, end in pieces:
            clips = with_tef(vi.clips[start:end]) if cfg.tef else vi.clips[start:end]
            if clips.shape[1] != cfg.v_feat_dim or tokens.shape[1] != cfg.t_feat_dim:
                raise UsageError(f"the model takes {cfg.v_feat_dim}-d clips and {cfg.t_feat_dim}-d tokens; the "
                                 f"features are {clips.shape[1]}-d and {tokens.shape[1]}-d")
            out = run_network(net, clips, tokens, device)
            saliency[start:end] += out["saliency_scores"]
            counts[start:end] += 1
            if len(pieces) == 1:
                return (decode_windows(out["pred_logits"], out["pred_spans"], vi.duration, clip_len=clip_len,
                                       nms_thd=nms, keep=self.config.max_moments),
                        out["saliency_scores"].astype(np.float64), 1)
            t0, t1 = start * clip_len, min(end * clip_len, vi.duration)
            local = decode_windows(out["pred_logits"], out["pred_spans"], t1 - t0, clip_len=clip_len, nms_thd=-1.0,
                                   keep=len(out["pred_logits"]))
            found.append([Moment(m.start + t0, m.end + t0, m.score) for m in local])
        return merge_windows(found, nms, self.config.max_moments), saliency / np.maximum(counts, 1), len(pieces)

    def feature_settings(self, video: VideoInput | None = None) -> dict:
        """CLIP at two frames per clip (the clip-centre ones are used) at the model's clip length,
        so ``vtg index`` fills exactly what ``ground`` reads; only ``config.json`` is read."""
        from .weights import model_config

        clip_len = model_config(self.config.model, self.family).clip_length if self.config.model else 2.0
        return {"encoder": self.config.encoder, "fps": clip_sample_rate(clip_len), "max_frames": None}

    def check_weights(self) -> None:
        """Fail before any work (and before the encoder is downloaded) when --model is missing or
        holds another model."""
        from .weights import model_config

        model_config(self.config.model, self.family)

    def plan(self, video: VideoInput, query: Query | None = None) -> Plan:
        """The default plan (the encoder's cached features) plus the model folder (--model)."""
        plan = super().plan(video, query)
        return plan.with_models(local_need(f"{self.family} checkpoint", self.config.model)) if self.config.model else plan

    def warm_up(self) -> None:
        from vtg.device import resolve_device

        loaded_model(self.family, self.config.model, resolve_device(self.config.device))
        super().warm_up()

    def _check_features(self, kind: str) -> None:
        if kind == "slowfast_clip" and not (self.config.slowfast or self.config.slowfast_weights or _release_present()):
            raise UsageError(f"these {self.family} weights take SlowFast+CLIP features: give the SlowFast R50 weights "
                             "(-O slowfast_weights=SLOWFAST_8x8_R50.pkl, vtg computes the features) or the video's "
                             "features (-O slowfast=FILE.npy, 2304-d per 2-s clip), or use CLIP-only weights" + _offline_remedy())
        if kind != "slowfast_clip" and self.config.slowfast:
            raise UsageError(f"these {self.family} weights take no SlowFast features; drop the slowfast option")


class MomentDETR(DetrMethod):
    name = "moment_detr"
    family = "moment_detr"
    summary = "Moment-DETR: DETR moment queries over joint clip+word encoding (moments + saliency)"
    paper = ("Lei et al., QVHighlights: Detecting Moments and Highlights in Videos via Natural Language Queries, "
             "NeurIPS 2021")


class QDDETR(DetrMethod):
    name = "qd_detr"
    family = "qd_detr"
    summary = "QD-DETR: query-dependent clip encoding + anchor-query DETR decoder (moments + saliency)"
    paper = ("Moon et al., Query-Dependent Video Representation for Moment Retrieval and Highlight Detection, "
             "CVPR 2023")


class CGDETR(DetrMethod):
    name = "cg_detr"
    family = "cg_detr"
    summary = "CG-DETR: QD-DETR with dummy tokens calibrating clip-word attention and prompt-built global tokens"
    paper = ("Moon et al., Correlation-Guided Query-Dependency Calibration for Video Temporal Grounding, "
             "arXiv:2311.08835, 2023")


def _offline_remedy() -> str:
    from vtg.slowfast.download import offline_remedy

    return offline_remedy()


def _release_present() -> bool:
    """The SlowFast release sits where vtg looks for it by default (vtg.slowfast.weights), or will
    be downloaded there on first use (downloads are on)."""
    from vtg.encoders.weights import offline_mode
    from vtg.slowfast.weights import default_weights

    return default_weights().is_file() or not offline_mode()

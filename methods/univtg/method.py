"""The ``univtg`` grounding method: converted or trained UniVTG weights on CLIP clip features.

``vtg ground video.mp4 "query" --method univtg --model DIR`` extracts one CLIP ViT-B/32 frame
feature per 2-second clip (cached), the query's CLIP token features, runs the network and decodes
moments (NMS 0.7, top 10) and per-clip saliency (cosine + foreground), as in the paper.
With ``summary_ratio`` the answer is a summary instead: the top clips by saliency merged into
intervals (query-free when the query is the generic ``highlight_query``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

import numpy as np

from vtg.determinism import fixed_threads
from vtg.engine import default_manager
from vtg.errors import UsageError
from vtg.method import Method
from vtg.options import SCORING, DeviceName, IoU, Range, TopK
from vtg.planning import Plan, VideoInput, local_need
from vtg.types import Query
from vtg.types import Grounding, Saliency
from .config import ModelConfig
from .data import with_tef
from .features import CLIP_ENCODER, clip_sample_rate, text_tokens, video_input
from .inference import clip_centres, clip_saliency, decode_moments, summarize

@dataclass(frozen=True)
class UniVTGConfig:
    #: Directory written by ``vtg models convert univtg`` or ``vtg train univtg``.
    model: str | None = None
    device: DeviceName = "auto"
    #: Clip/text encoder. Default: the one the model folder records (vtg train/convert write it),
    #: else CLIP ViT-B/32 (every official checkpoint). An explicit one that differs is an error.
    encoder: str | None = None
    #: Precomputed SlowFast R50 features of this video (.npy/.npz, 2304-d per 2-s clip) for SlowFast+CLIP weights.
    slowfast: str | None = None
    #: SlowFast R50 weights (PySlowFast's SLOWFAST_8x8_R50.pkl, or .safetensors) for SlowFast+CLIP
    #: weights: vtg then computes the SlowFast features from the video itself (vtg.slowfast).
    slowfast_weights: str | None = None
    nms_iou: Annotated[IoU, SCORING] = 0.7
    max_moments: TopK = 10
    #: Return a summary: the top fraction of clips by saliency, merged into intervals.
    summary_ratio: Annotated[float, Range(0, 1, low_open=True)] | None = None
    #: Query used for query-free highlight detection / summarisation.
    highlight_query: str = "highlight"

    #: What a line of a batch file may set: not ``model``/``encoder`` (files, downloads) or
    #: ``device``. ``slowfast`` names the line's own video's features, data like the video path.
    line_options: ClassVar[frozenset[str]] = frozenset({
        "slowfast", "nms_iou", "max_moments", "summary_ratio", "highlight_query"})


def loaded_model(model_dir: str | None, device: str):
    """(network, config) for ``model_dir`` on ``device``, shared per process through the model manager."""
    from .weights import load_model, resolve_model_dir

    path = resolve_model_dir(model_dir)
    return default_manager().get("univtg", (str(path.resolve()), device), lambda: load_model(path, device),
                                 label=f"UniVTG {path} ({device})")


@dataclass(frozen=True)
class HeadOutputs:
    """Per-clip outputs of one forward pass, as numpy arrays of length L."""

    fg: np.ndarray
    spans: np.ndarray
    cosine: np.ndarray


def run_model(net, video: np.ndarray, text: np.ndarray, device: str) -> HeadOutputs:
    """One forward pass on a single (video clips without TEF, text tokens) pair."""
    import torch

    src_vid = torch.from_numpy(with_tef(video))[None].to(device)
    src_txt = torch.from_numpy(np.ascontiguousarray(text, dtype=np.float32))[None].to(device)
    with torch.inference_mode(), fixed_threads(device):
        out = net(src_txt, torch.ones(src_txt.shape[:2], device=device), src_vid,
                  torch.ones(src_vid.shape[:2], device=device))
    return HeadOutputs(out["pred_logits"][0, :, 0].float().cpu().numpy(), out["pred_spans"][0].float().cpu().numpy(),
                       out["saliency_scores"][0].float().cpu().numpy())


class UniVTG(Method):
    """UniVTG with official (converted) or self-trained weights."""

    name = "univtg"
    summary = "UniVTG: unified foreground/boundary/saliency heads (moments, highlights, summaries)"
    paper = "Lin et al., UniVTG: Towards Unified Video-Language Temporal Grounding, ICCV 2023"
    score_meaning = ("the foreground probability (0 to 1) of the clip whose boundary regression gave the "
                     "window; for summaries, the mean saliency of the chosen clips.")
    Config = UniVTGConfig

    def ground(self, video: VideoInput, query: Query, *, progress: bool = False) -> Grounding:
        self.check_query(query)
        return self.ground_text(video, query.text, progress=progress)

    def feature_settings(self, video: VideoInput | None = None) -> dict:
        """The encoder and rate ``ground`` reads from the feature cache (two frames per clip, 1 fps for
        the 2-s clips of every released model, of which the clip-centre ones are used), so ``vtg index
        --method univtg`` fills exactly that. Only the model's ``config.json`` is read, not its weights."""
        from .weights import CONFIG_FILE, resolve_model_dir

        clip_len = ModelConfig.load(resolve_model_dir(self.config.model) / CONFIG_FILE).clip_length \
            if self.config.model else 2.0
        return {"encoder": self.encoder_spec(), "fps": clip_sample_rate(clip_len), "max_frames": None}

    def check_weights(self) -> None:
        """Fail before any work (and before the encoder is downloaded) when --model is missing."""
        from .weights import resolve_model_dir

        resolve_model_dir(self.config.model)

    def plan(self, video: VideoInput, query: Query | None = None) -> Plan:
        """The default plan (the encoder's cached features) plus the model folder (--model)."""
        plan = super().plan(video, query)
        return plan.with_models(local_need("UniVTG model", self.config.model)) if self.config.model else plan

    def warm_up(self) -> None:
        """UniVTG's network, and the encoder its queries use (the default hook's)."""
        from vtg.device import resolve_device

        loaded_model(self.config.model, resolve_device(self.config.device))
        super().warm_up()

    def encoder_spec(self) -> str:
        """The encoder this run uses: ``--encoder``, else the model folder's recorded one, else CLIP."""
        from .weights import choose_encoder

        return choose_encoder(self.config.encoder, self.config.model, CLIP_ENCODER)

    def summarize(self, video: str | Path, ratio: float = 0.2, query: str | None = None, *,
                  progress: bool = False) -> Grounding:
        """Highlights of the whole video as a summary of ``ratio`` of its clips (query-free by default)."""
        import dataclasses

        runner = UniVTG(dataclasses.replace(self.config, summary_ratio=ratio))
        return runner.ground_text(video, query, progress=progress)

    def ground_text(self, video: VideoInput, text: str | None, *, progress: bool = False) -> Grounding:
        from vtg.device import resolve_device

        cfg_m = self.config
        device = resolve_device(cfg_m.device)
        net, cfg = loaded_model(cfg_m.model, device)
        self._check_features(cfg)
        encoder = self.encoder_spec()
        vi = video_input(video, encoder=encoder, device=device, clip_len=cfg.clip_length,
                         slowfast=self._slowfast(video, cfg, device), progress=progress)
        query_text = text or cfg_m.highlight_query
        tokens = text_tokens(query_text, encoder=encoder, device=device)
        self._check_dims(cfg, vi.clips, tokens)
        heads = run_model(net, vi.clips, tokens, device)
        return self.to_grounding(heads, cfg, video, query_text, vi.duration,
                                 meta={"encoder": encoder, "model": str(cfg_m.model), "query_free": text is None})

    def to_grounding(self, heads: HeadOutputs, cfg, video, query: str, duration: float,
                     meta: dict | None = None) -> Grounding:
        """Decode head outputs into a :class:`Grounding` (moments or a summary, plus saliency)."""
        n = len(heads.fg)
        sal = clip_saliency(heads.cosine, heads.fg)
        meta = dict(meta or {}, clip_length=cfg.clip_length, clips=n, timestamp=cfg.timestamp,
                    scoring="moments: foreground probability; saliency: cosine + foreground")
        ratio = self.config.summary_ratio
        if ratio is not None:
            summ = summarize(sal, duration, ratio, cfg.clip_length)
            moments = summ.moments
            meta["summary"] = {"ratio": ratio, "clips": [int(c) for c in summ.clips]}
        else:
            moments = decode_moments(heads.fg, heads.spans, duration, clip_len=cfg.clip_length,
                                     convention=cfg.timestamp, nms_iou=self.config.nms_iou,
                                     max_moments=self.config.max_moments)
        return Grounding(query=query, video=str(video), duration=duration, moments=tuple(moments),
                         saliency=Saliency(clip_centres(n, cfg.clip_length, duration), sal),
                         method=self.name, meta=meta)

    def _slowfast(self, video, cfg, device: str):
        """SlowFast features for SlowFast+CLIP weights: the given file, else computed (and cached)."""
        if cfg.video_features != "slowfast_clip":
            return None
        from vtg.slowfast.features import clip_slowfast

        return clip_slowfast(video, self.config.slowfast, self.config.slowfast_weights, device)

    def _check_features(self, cfg) -> None:
        if cfg.video_features == "slowfast_clip" and not (self.config.slowfast or self.config.slowfast_weights or _release_present()):
            raise UsageError("these UniVTG weights take SlowFast+CLIP features: give the SlowFast R50 weights "
                             "(-O slowfast_weights=SLOWFAST_8x8_R50.pkl, vtg computes the features) or the video's "
                             "features (-O slowfast=FILE.npy, 2304-d per 2-s clip), or use a CLIP-only checkpoint" + _offline_remedy())
        if cfg.video_features != "slowfast_clip" and self.config.slowfast:
            raise UsageError("these UniVTG weights take no SlowFast features; drop the slowfast option")

    @staticmethod
    def _check_dims(cfg, clips: np.ndarray, tokens: np.ndarray) -> None:
        if clips.shape[1] + 2 != cfg.v_feat_dim:
            raise UsageError(f"the model expects {cfg.v_feat_dim - 2}-d clip features but the encoder gives "
                             f"{clips.shape[1]}; use the encoder the weights were trained with")
        if tokens.shape[1] != cfg.t_feat_dim:
            raise UsageError(f"the model expects {cfg.t_feat_dim}-d text tokens but the encoder gives {tokens.shape[1]}")


def _offline_remedy() -> str:
    from vtg.slowfast.download import offline_remedy

    return offline_remedy()


def _release_present() -> bool:
    """The SlowFast release sits where vtg looks for it by default (vtg.slowfast.weights), or will
    be downloaded there on first use (downloads are on)."""
    from vtg.encoders.weights import offline_mode
    from vtg.slowfast.weights import default_weights

    return default_weights().is_file() or not offline_mode()

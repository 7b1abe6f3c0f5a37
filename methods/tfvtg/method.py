"""The TFVTG method behind ``vtg ground --method tfvtg`` (Zheng et al., ECCV 2024).

Pipeline: frame features at the preset's rate (cached), the query decomposed by an LLM backend
(``rules`` by default), one similarity curve per description, calibrated for the encoder, scored
by :mod:`~vtg.methods.tfvtg.localize`, and with sub-events or rewrites fused by
:mod:`~vtg.methods.tfvtg.fusion`. Deviations from the reference code are listed in those modules'
docstrings and in docs/tfvtg.md; the method itself adds:

* the ``long`` preset for videos over 20 minutes (:mod:`~vtg.methods.tfvtg.presets`), used unless
  ``fps`` or ``stride`` is given;
* calibration of non-BLIP-2 similarities (:mod:`~vtg.methods.tfvtg.calibration`);
* query by example image: the frames are compared with the image's own features (cosine; for
  BLIP-2 the mean over the 32 Q-Former query tokens of the token-wise cosine, i.e. the cosine of
  the concatenated normalised tokens, because query token i of one image corresponds to query
  token i of another while a max over tokens would match any token of a frame to any of the
  image). Identical frames then score exactly 1;
* a query without sub-events and rewrites (``--llm rules`` on a single-event sentence, or
  ``--llm none``) is ranked exactly as the reference's evaluation without an LLM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vtg.errors import VideoError
from vtg.methods.base import Method, Query
from vtg.methods.tfvtg import calibration
from vtg.methods.tfvtg.fusion import fuse
from vtg.methods.tfvtg.localize import propose
from vtg.methods.tfvtg.presets import LONG_VIDEO_SECONDS, auto_preset, get_preset, window_lengths
from vtg.types import Grounding, Moment, Saliency

DEFAULT_ENCODER = "blip2:Salesforce/blip2-itm-vit-g-coco"


class TFVTG(Method):
    name = "tfvtg"
    summary = "Training-free grounding: VLM similarity with dynamic/static window scores, optional LLM sub-events"
    paper = "Zheng et al., Training-free Video Temporal Grounding using Large-scale Pre-trained Models, ECCV 2024"
    supports_image_query = True

    @dataclass(frozen=True)
    class Config:
        preset: str = "charades"
        encoder: str = DEFAULT_ENCODER
        fps: float | None = None
        stride: int | None = None
        max_window_fraction: float | None = None
        mask_threshold: float = 0.2
        rise_threshold: float = 0.0005
        nms_iou: float = 0.3
        gamma: float = 0.6
        dynamic_weight: float = 0.0
        llm: str = "rules"
        llm_url: str | None = None
        device: str = "auto"
        calibration: str = "auto"
        top_k: int = 10
        long_after: float = LONG_VIDEO_SECONDS

    def ground(self, video: str | Path, query: Query, *, progress: bool = False) -> Grounding:
        from vtg.encoders import load_encoder
        from vtg.features import video_features
        from vtg.video import probe

        self.check_query(query)
        cfg = self.config
        path = Path(video)
        get_preset(cfg.preset)
        calibration.parse(cfg.calibration) if cfg.calibration.lower() != "auto" else None
        if cfg.fps is None and cfg.stride is None:
            preset = auto_preset(cfg.preset, probe(path).duration, cfg.long_after)
        else:
            preset = get_preset(cfg.preset)
        fps = float(cfg.fps or preset.fps)
        encoder = load_encoder(cfg.encoder, device=cfg.device)
        feats = video_features(path, encoder, fps, progress=progress, device=cfg.device)
        n, duration = len(feats.times), float(feats.duration)
        if n == 0 or duration <= 0:
            raise VideoError(f"no frames could be sampled from {path}")

        calib = calibration.resolve(cfg.calibration, encoder.family, query.image is not None)
        stride, lengths = window_lengths(n, duration, preset, stride=cfg.stride,
                                         max_window_fraction=cfg.max_window_fraction)
        meta = {"encoder": encoder.spec, "fps": fps, "preset": preset.name, "frames": n,
                "stride_frames": stride, "window_lengths_s": [round(k / n * duration, 3) for k in lengths],
                "calibration": calib, "features_cached": bool(feats.cached)}
        if preset.name != get_preset(cfg.preset).name:
            meta["preset_note"] = f"{cfg.preset} -> long: video is {duration:.0f} s > {cfg.long_after:.0f} s"

        def localise(curve: np.ndarray) -> list[Moment]:
            found = propose(curve, lengths, stride, mask_threshold=cfg.mask_threshold,
                            rise_threshold=cfg.rise_threshold, nms_iou=cfg.nms_iou, top_k=cfg.top_k,
                            dynamic_weight=cfg.dynamic_weight)
            return found.moments(duration)

        if query.image is not None:
            curve = calibration.calibrate(image_similarity(encoder, feats.features, query.image), calib)
            moments, saliency = localise(curve), curve
        else:
            moments, saliency, meta["decomposition"] = self._ground_text(encoder, feats.features, query.text,
                                                                         path.stem, calib, localise)
        if not moments:
            meta["note"] = "no frame is above the mask threshold; nothing found"
        return Grounding(query=query.label, video=str(path), duration=duration, moments=tuple(moments[:cfg.top_k]),
                         saliency=Saliency(feats.times, saliency), method=self.name, meta=meta)

    def _ground_text(self, encoder, features, text: str, video_id: str, calib: str, localise):
        """Moments, saliency and the decomposition used, for a sentence query."""
        from vtg.llm import decompose

        cfg = self.config
        plan = decompose(text, cfg.llm, url=cfg.llm_url, video_id=video_id, device=cfg.device)
        groups = [list(plan.descriptions)] + [list(s.descriptions) for s in plan.sub_events]
        flat = [d for g in groups for d in g]
        sims = encoder.similarity(features, encoder.encode_texts(flat))
        curves = [calibration.calibrate(sims[:, i], calib) for i in range(len(flat))]
        per_desc = [localise(c) for c in curves]
        query_results = per_desc[:len(groups[0])]
        saliency = np.mean(curves[:len(groups[0])], axis=0)
        if plan.trivial:
            moments = query_results[0]
        else:
            subs, pos = [], len(groups[0])
            for g in groups[1:]:
                subs.append(per_desc[pos:pos + len(g)])
                pos += len(g)
            moments = fuse(query_results, subs, plan.relationship, cfg.gamma)
        return moments, saliency, plan.to_dict()


def image_similarity(encoder, features: np.ndarray, image: Path) -> np.ndarray:
    """Cosine of every frame to an example image (BLIP-2: mean token-wise cosine over the queries)."""
    from vtg.video import load_image

    ref = encoder.encode_images(load_image(image)[None])[0]
    feats = np.asarray(features, np.float32)
    if feats.ndim == 3:
        return np.einsum("nqd,qd->n", feats, ref) / feats.shape[1]
    return feats @ ref

"""The TFVTG method behind ``vtg ground --method tfvtg`` (Zheng et al., ECCV 2024).

Pipeline: frame features at the preset's rate (cached), the query decomposed by an LLM backend
(``rules`` by default), one similarity curve per description, calibrated for the encoder, scored
by :mod:`~vtg.methods.tfvtg.localizer`, and with sub-events or rewrites fused by
:mod:`~vtg.methods.tfvtg.fusion`. The full list of deviations from the reference code is in the
:class:`TFVTG` docstring and docs/tfvtg.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar, cast

import numpy as np

from vtg.errors import UsageError, VideoError
from vtg.llm import backend_kind, decompose
from vtg.method import Localised, Method
from vtg.methods.tfvtg import calibration
from vtg.methods.tfvtg.encoded import TFVTGQuery, similarity_to_image
from vtg.methods.tfvtg.fusion import fuse
from vtg.methods.tfvtg.localizer import propose
from vtg.methods.tfvtg.presets import LONG_VIDEO_SECONDS, auto_preset, get_preset, window_lengths
from vtg.options import SCORING, IoU, DeviceName, Fps, Fraction, PositiveSeconds, Range, Timeout, TopK
from vtg.planning import Plan, VideoInput, hub_or_local_need
from vtg.types import Query
from vtg.types import Grounding, Moment, Saliency
from vtg.video import load_image
from vtg.video.source import VideoSource

DEFAULT_ENCODER = "blip2:Salesforce/blip2-itm-vit-g-coco"


class TFVTG(Method):
    """Training-free video temporal grounding (Zheng et al., ECCV 2024, Sec. 3).

    Sec. 3.2: an LLM splits the query into sub-events with a temporal relationship and rewrites
    it (:mod:`vtg.llm`). Sec. 3.3: every description is scored against every frame (BLIP-2: max
    over the 32 Q-Former query tokens), frames at or below 0.2 are masked, windows whose lengths
    are multiples of a stride up to a fraction of the video get the static score (mean inside
    minus mean of the above-mask frames outside), their start moves back to where the Gaussian-
    smoothed similarity began to rise (rise threshold 0.0005), greedy NMS at IoU 0.3 keeps the
    10 best and confidences are divided by the best. Sec. 3.4: the top 3 of every description are
    pooled and re-ranked by IoU-weighted voting (gamma 0.6); sub-event proposals are combined
    when they respect the relationship (in order / overlapping) and the 2 best combinations join
    the first 7 proposals of the query and its rewrites for a final vote. Presets (3 fps):
    charades stride 20, windows up to 0.5; activitynet 40, 1.0; qvhighlights 50, 0.5.

    Deviations from the reference code (minghangz/TFVTG), all in cases the reference leaves
    ill-defined or that it was not built for; elsewhere the ranking is the reference's:

    1. A window containing every above-mask frame has no outside frame to average; the reference
       divides 0 by 0 and scores it NaN (dropped) or, through rounding, +-inf (+inf ranked
       first). Here it is never proposed (the reference's well-defined case: such a window, often
       the whole video, grounds nothing), unless every window of the grid is one; then they are
       scored with the mask threshold as their outside mean.
    2. When the best static score is <= 0, ``s / max`` inverts the confidences (and divides by
       zero at 0). Here ``s / max`` is kept for ``max > 0`` and ``1 + (s - max) / |max|`` is used
       otherwise (best = 1, order kept).
    3. Nothing above the mask: no moment (the reference returns three [0, 0] moments with
       confidence 1, which then win votes with NaN IoUs); such descriptions add nothing to fusion.
    4. One frame, or no window length fits: one window of ``stride`` frames (the reference
       crashes or returns [0, 0]).
    5. Exact ties keep the reference's enumeration order (length, then start) instead of the
       arbitrary order of a GPU sort; window sums are exact (integer prefix sums on a 2^-32
       grid, exact for float32 similarities above the mask), so equal windows tie exactly.
    6. The dynamic score enters the ranking with weight ``dynamic_weight`` = 0, as in the released
       code, which produced the published numbers: it computes the dynamic score but its NMS only
       adds ``0.0 *`` a second copy of the static score, so only the shifted start is used. The
       paper's text combines the two scores (``dynamic_weight=1``).
    7. Fusion: zero-length proposals vote 0 (not NaN); a moment's score is its vote over the best
       vote; an interval already listed is not listed again.
    8. A preset's stride (frames at 3 fps) is rescaled to the actual sampling rate, so ``--fps``
       changes the sampling density but not the window lengths in seconds.
    9. Videos longer than ``long_after`` (1200 s, beyond every benchmark video) use the ``long``
       preset (1 fps, 10-s stride, windows up to 1/4) unless ``fps`` or ``stride`` is given.
    10. Encoders other than BLIP-2, and image queries, are min-max calibrated per curve
        (``calibration``), because the 0.2 / 0.0005 thresholds were set on BLIP-2's scale.
    11. Query by example image (not in the paper): cosine of every frame to the image; for BLIP-2
        the mean over the 32 query tokens of the token-wise cosine (query token i of one image
        corresponds to token i of another), so identical frames score exactly 1.
    12. The saliency curve is the mean calibrated similarity of the query and its rewrites.
    """

    name = "tfvtg"
    #: benchmarks whose reference preset ``vtg bench`` selects (the ``preset`` option of that name)
    benchmark_presets: ClassVar[frozenset[str]] = frozenset({"charades", "activitynet", "qvhighlights"})
    summary = "Training-free grounding: VLM similarity with dynamic/static window scores, optional LLM sub-events"
    paper = "Zheng et al., Training-free Video Temporal Grounding using Large-scale Pre-trained Models, ECCV 2024"
    supports_image_query = True
    score_meaning = ("1 = the best window. Without LLM sub-events: the window's contrast (mean similarity "
                     "inside minus mean outside) over the best window's, so below 0 the window matches the "
                     "query less than the rest of the video does; with sub-events: its IoU-weighted vote "
                     "over the best vote (0 to 1).")

    @dataclass(frozen=True)
    class Config:
        #: ``SCORING``: the options a ``vtg serve`` request may set (:func:`vtg.method.request_options`).
        preset: Annotated[str, SCORING] = "charades"
        encoder: str = DEFAULT_ENCODER
        fps: Fps | None = None
        stride: Annotated[int, Range(1, 100_000, unit="frames"), SCORING] | None = None
        max_window_fraction: Annotated[float, Range(0, 1, low_open=True), SCORING] | None = None
        #: Thresholds on the normalised similarity curve, in [0, 1].
        mask_threshold: Annotated[Fraction, SCORING] = 0.2
        rise_threshold: Annotated[Fraction, SCORING] = 0.0005
        nms_iou: Annotated[IoU, SCORING] = 0.3
        #: A second greedy suppression at this IoU on the moments as shown (after the start shift);
        #: None keeps the reference's single suppression before the shift (see ``shown_overlaps``).
        final_nms: IoU | None = None
        #: Exponent of the IoU in the proposal vote (0: every overlap votes fully).
        gamma: Annotated[float, Range(0, 10), SCORING] = 0.6
        dynamic_weight: Annotated[float, Range(0, 100), SCORING] = 0.0
        llm: str = "rules"
        llm_url: str | None = None
        #: Overall seconds per LLM decomposition (all attempts); None: $VTG_LLM_TIMEOUT or 120.
        llm_timeout: Timeout | None = None
        device: DeviceName = "auto"
        calibration: Annotated[str, SCORING] = "auto"
        top_k: TopK = 10
        long_after: PositiveSeconds = LONG_VIDEO_SECONDS

        #: What a line of a batch file may set (see :func:`vtg.method.line_options`): not
        #: ``encoder`` (names files or downloads), ``llm``/``llm_url`` (network endpoints, files,
        #: models), ``device``.
        line_options: ClassVar[frozenset[str]] = frozenset({
            "preset", "fps", "stride", "max_window_fraction", "mask_threshold", "rise_threshold", "nms_iou",
            "final_nms", "gamma", "dynamic_weight", "calibration", "top_k", "long_after"})

    def ground(self, video: VideoInput, query: Query, *, progress: bool = False) -> Grounding:
        return self.ground_many(video, [query], progress=progress)[0]

    def ground_many(self, video: VideoInput, queries: list[Query], *, progress: bool = False) -> list[Grounding]:
        """All ``queries`` on one video: features read once, and every sentence of every query
        (with the decomposition's rewrites and sub-events) through the text tower in one batch."""
        from vtg.encoders import load_encoder
        from vtg.features import video_features

        for query in queries:
            self.check_query(query)
        cfg = self.config
        path = VideoSource.of(video)
        calibration.check(cfg.calibration)
        preset, fps = self._sampling(path)
        plans = [None if q.image is not None else self.decompose(q.text or "", path.stem) for q in queries]
        # Features first: on a cache hit no frame is decoded and the image tower is never loaded,
        # so sentence queries load only the text side of the encoder.
        feats = video_features(as_path(path), cfg.encoder, fps, progress=progress, device=cfg.device)
        encoder = load_encoder(cfg.encoder, device=cfg.device, text_only=all(p is not None for p in plans))
        n, duration = len(feats.times), float(feats.duration)
        if n == 0 or duration <= 0:
            raise VideoError(f"no frames could be sampled from {path}")
        texts = list(dict.fromkeys(t for p in plans if p is not None for t in plan_texts(p)))
        embedded = dict(zip(texts, encoder.encode_texts(texts))) if texts else {}
        stride, lengths, localise = self.localiser(n, duration, preset)
        out = []
        for query, plan in zip(queries, plans):
            calib = calibration.resolve(cfg.calibration, encoder.family, query.image is not None)
            q_meta = {"encoder": encoder.spec, "fps": fps, "preset": preset.name, "frames": n,
                      "stride_frames": stride, "window_lengths_s": [round(k / n * duration, 3) for k in lengths],
                      "calibration": calib, "features_cached": bool(feats.cached),
                      "query_by": "image" if plan is None else "text"}
            if preset.name != get_preset(cfg.preset).name:
                q_meta["preset_note"] = f"{cfg.preset} -> long: video is {duration:.0f} s > {cfg.long_after:.0f} s"
            if plan is None:
                sims = image_similarity(encoder, feats.features, Path(query.image or ""))[:, None]
            else:
                sims = encoder.similarity(feats.features, np.stack([embedded[t] for t in plan_texts(plan)]))
                q_meta["decomposition"] = plan.to_dict()
            moments, saliency = self.moments_from(sims, plan, calib, localise)
            out.append(self._grounding(query, path, duration, moments, Saliency(feats.times, saliency), q_meta))
        return out

    def moments_from(self, sims: np.ndarray, plan, calib: str, localise) -> tuple[list[Moment], np.ndarray]:
        """Moments and saliency from raw similarities ``sims`` [frames, columns]: one column for an
        image query (``plan`` None), else the columns of :func:`plan_texts`. The one path from
        similarities to moments, shared by ``ground`` and :meth:`localise` (library search)."""
        if plan is None:
            curve = calibration.calibrate(sims[:, 0], calib)
            return localise(curve), curve
        return ground_similarities(sims, plan, calib, localise, self.config.gamma)

    # -- capability: localise on stored features (vtg.method.FeatureLocaliser) -------------------
    def encode_query(self, query: Query, encoder) -> TFVTGQuery:
        """The query decomposed (text) and encoded with ``encoder`` once, for every video of a
        library: one decomposition without a video id, so every video gets the same plan."""

        query = Query.of(query)
        self.check_query(query)
        cfg = self.config
        calibration.check(cfg.calibration)
        calib = calibration.resolve(cfg.calibration, encoder.family, query.image is not None)
        if query.image is not None:
            ref = encoder.encode_images(load_image(query.image)[None])
            return TFVTGQuery(query.label, ref, None, calib, encoder.similarity, True)
        plan = self.decompose(query.text or "", None)  # check_query: a text when there is no image
        return TFVTGQuery(query.label, encoder.encode_texts(plan_texts(plan)), plan, calib, encoder.similarity, False)

    def localise(self, features: np.ndarray, times: np.ndarray, duration: float, encoded) -> Localised:
        """What ``ground`` finds, on stored features: the preset and window grid follow the
        video's duration and frame count, the similarities come from ``encoded``'s columns.
        Moments as ``ground`` ranks them (before the optional ``final_nms``), top ``top_k``."""

        if not isinstance(encoded, TFVTGQuery):
            raise UsageError(f"tfvtg localises queries encoded by its own encode_query, not {type(encoded).__name__}")
        preset = self.preset_for(duration)
        stride, _, localise = self.localiser(len(features), duration, preset)
        sims = encoded.frame_scores(features)
        moments, saliency = self.moments_from(sims, encoded.plan, encoded.calibration, localise)
        meta = {"preset": preset.name, "stride_frames": stride, "calibration": encoded.calibration,
                "query_by": "image" if encoded.image else "text"}
        if encoded.plan is not None and not encoded.plan.trivial:
            meta["decomposition"] = encoded.plan.to_dict()
        return Localised(list(moments[:self.config.top_k]), np.asarray(saliency, np.float64),
                         encoded.query_curve(sims), meta)

    def _grounding(self, query: Query, path: VideoSource, duration: float, moments: list[Moment],
                   saliency: Saliency, meta: dict) -> Grounding:
        """The result as shown: the optional second suppression, the top ``top_k`` moments."""
        cfg = self.config
        if not moments:
            meta["note"] = "no frame is above the mask threshold; nothing found"
        if cfg.final_nms is not None:
            moments = suppress_shown(moments, cfg.final_nms)
        else:
            meta["nms_before_shift"] = cfg.nms_iou  # shown moments may overlap more: writers say so
        return Grounding(query=query.label, video=str(path), duration=duration, moments=tuple(moments[:cfg.top_k]),
                         saliency=saliency, method=self.name, meta=meta)

    def prepare(self, video: VideoInput, *, progress: bool = False) -> None:
        """Fill the feature cache for ``video`` ahead of its queries (``vtg batch --workers``)."""
        from vtg.encoders import load_encoder
        from vtg.features import video_features

        source = VideoSource.of(video)
        settings = self.feature_settings(as_path(source))
        encoder = load_encoder(settings["encoder"], device=self.config.device)
        video_features(as_path(source), encoder, settings["fps"], progress=progress, device=self.config.device)

    def feature_settings(self, video: VideoInput | None = None) -> dict:
        """The encoder and frame rate ``ground`` uses on ``video``; ``vtg index`` fills exactly these.
        Without a video: the preset's rate (the ``long`` preset needs the video's duration)."""
        _, fps = self._sampling(VideoSource.of(video) if video is not None else None)
        return {"encoder": self.config.encoder, "fps": fps, "max_frames": None}

    def plan(self, video: VideoInput, query: Query | None = None) -> Plan:
        """The default plan (encoder, sampling, cached features) plus the sub-event decomposition's
        backend (``--llm``), and its chat model when it is a local one (``hf:<model>``)."""
        plan = super().plan(video, query)
        if query is not None and query.text is None:  # an image query is not decomposed
            return plan
        cfg = self.config
        kind, arg = backend_kind(cfg.llm, cfg.llm_url)
        shown = f"{cfg.llm} at {cfg.llm_url}" if kind == "openai" else cfg.llm
        needs = (hub_or_local_need("chat model (--llm)", arg),) if kind == "hf" and arg else ()
        return plan.with_models(*needs, llm=shown)

    def _sampling(self, path: VideoSource | None):
        """The preset and frame rate: the ``long`` preset for long videos unless sampling is fixed."""
        preset = self.preset_for(video_duration(path) if path is not None else None)
        return preset, float(self.config.fps or preset.fps)

    def preset_for(self, duration: float | None):
        """The configured preset, or ``long`` for a video longer than ``long_after`` seconds unless
        ``fps`` or ``stride`` fixes the sampling (``duration`` None: the configured one)."""
        cfg = self.config
        preset = get_preset(cfg.preset)
        if cfg.fps is None and cfg.stride is None and duration is not None:
            preset = auto_preset(preset, duration, cfg.long_after)
        return preset

    def localiser(self, n: int, duration: float, preset):
        """``(stride, lengths, localise)`` for ``n`` frames over ``duration`` seconds: the window grid
        and a function scoring one calibrated curve into moments (Sec. 3.3). Shared by ``ground``
        and the library search, which brings its own stored curves."""
        cfg = self.config
        stride, lengths = window_lengths(n, duration, preset, stride=cfg.stride,
                                         max_window_fraction=cfg.max_window_fraction)

        def localise(curve: np.ndarray) -> list[Moment]:
            found = propose(curve, lengths, stride, mask_threshold=cfg.mask_threshold,
                            rise_threshold=cfg.rise_threshold, nms_iou=cfg.nms_iou, top_k=max(cfg.top_k, 10),
                            dynamic_weight=cfg.dynamic_weight)
            return found.moments(duration)

        return stride, lengths, localise

    def decompose(self, text: str, video_id: str | None):
        """The LLM decomposition, before any decoding, so a misconfigured backend fails early."""
        cfg = self.config
        return decompose(text, cfg.llm, url=cfg.llm_url, video_id=video_id, device=cfg.device,
                         deadline=cfg.llm_timeout)


def suppress_shown(moments: list[Moment], iou: float) -> list[Moment]:
    """Greedy suppression on the moments as shown (``-O final_nms=IOU``): drop a moment whose IoU
    with a better kept one exceeds ``iou``. The reference suppresses only on the unshifted windows
    (docs/tfvtg.md, step 5), so moving starts back to where the rise began can make two kept
    windows overlap; this second pass is off by default for fidelity."""
    if not isinstance(iou, (int, float)) or not 0.0 < iou <= 1.0:
        raise UsageError(f"final_nms must be an IoU in (0, 1], got {iou!r}")
    kept: list[Moment] = []
    for m in moments:
        if all(m.iou(k) <= iou for k in kept):
            kept.append(m)
    return kept


def plan_texts(plan) -> list[str]:
    """Every description of a decomposition, in the column order :func:`ground_similarities` reads:
    the query and its rewrites, then each sub-event's descriptions."""
    return [*plan.descriptions, *(d for s in plan.sub_events for d in s.descriptions)]


def ground_similarities(sims: np.ndarray, plan, calib: str, localise, gamma: float):
    """Moments and saliency from per-frame similarities ``sims`` [frames, descriptions] (columns as
    :func:`plan_texts`): each curve calibrated and localised, sub-events fused (Sec. 3.4). Shared
    by ``ground`` and the library search, which computes ``sims`` from its own feature scan."""
    groups = [len(plan.descriptions)] + [len(s.descriptions) for s in plan.sub_events]
    curves = [calibration.calibrate(sims[:, i], calib) for i in range(sum(groups))]
    per_desc = [localise(c) for c in curves]
    query_results = per_desc[:groups[0]]
    saliency = np.mean(curves[:groups[0]], axis=0)
    if plan.trivial:
        return query_results[0], saliency
    subs, pos = [], groups[0]
    for size in groups[1:]:
        subs.append(per_desc[pos:pos + size])
        pos += size
    return fuse(query_results, subs, plan.relationship, gamma), saliency


def as_path(source: VideoSource) -> Path:
    """``source`` where signatures say ``str | Path``: a :class:`VideoSource` is an ``os.PathLike``
    that carries its one probe and hash, so it is passed on as it is, not converted."""
    return cast(Path, source)


def video_duration(video: VideoInput) -> float:
    """The video's duration from its probe (a :class:`VideoSource` is probed once for all its queries)."""
    return VideoSource.of(video).info().duration


def image_similarity(encoder, features: np.ndarray, image: Path) -> np.ndarray:
    """Cosine of every frame to an example image (BLIP-2: mean token-wise cosine over the queries)."""
    ref = encoder.encode_images(load_image(image)[None])[0]
    return similarity_to_image(features, ref)



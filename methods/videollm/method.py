"""What NumPro, TimeMarker and VTG-LLM share: sample -> prompt -> generate -> parse -> Grounding.

Each method only says how time goes into the model's input (:meth:`VideoLLMMethod.build_prompt`)
and how it comes back out of the answer (:meth:`VideoLLMMethod.read_answer`). The saliency curve
is over the sampled frames' true times: 1 inside the answered intervals, 0 outside (the models are
asked for intervals, not per-frame scores). An answer with no interval gives no moments, an
all-zero curve and ``meta["status"] = "no moment found"`` with the raw answer kept in ``meta``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar, Sequence

import numpy as np

from vtg.errors import UsageError, VideoError
from vtg.method import Method
from vtg.types import Query
from vtg.methods.videollm.families import FAMILIES
from vtg.methods.videollm.frames import Sampled, candidate_signatures, frames_at, sample_video, span_targets
from vtg.methods.videollm.selection import RULES, check_rule, select
from vtg.methods.videollm.runner import (DEFAULT_MODEL, Part, VideoLLM, ensure_videollm, load_videollm, local_folder,
                                         model_family)
from vtg.options import Choice, DeviceName, FrameCount, Fps, Range
from vtg.planning import Plan, VideoInput, encoder_need, hub_or_local_need, looks_local
from vtg.types import Grounding, Moment, Saliency
from vtg.video.sampling import expected_frames
from vtg.video.source import VideoSource


@dataclass(frozen=True)
class VideoLLMConfig:
    """Options every Video-LLM method takes (``--model``, ``--device``, ``-O dtype=bf16`` ...)."""

    model: str = DEFAULT_MODEL
    device: DeviceName = "auto"
    dtype: Annotated[str, Choice(("auto", "bf16", "fp16", "fp32"))] = "auto"
    max_new_tokens: Annotated[int, Range(1, 4096, unit="tokens")] = 64
    #: Frame selection (docs/videollm.md, :mod:`~vtg.methods.videollm.selection`): ``uniform`` is
    #: the method's own sampling; ``keyframes`` (ShareGPT4Video), ``diff`` (VideoLLaMA3's DiffFP)
    #: and ``merge`` (MovieChat's consolidation) choose among candidates taken at ``candidate_fps``,
    #: within the method's frame limit.
    select: Annotated[str, Choice(RULES)] = "uniform"
    #: Cosine distance (keyframes, up to 2) or VideoLLaMA3's mean difference of CLIP-normalised
    #: pixels x255 (diff; default 0.1, at most 255 / min CLIP std ~ 980).
    select_threshold: Annotated[float, Range(0, 1000)] | None = None
    candidate_fps: Fps = 2.0
    #: Features the selection compares: None = 32x32 pixel thumbnails; an encoder spec (e.g.
    #: ViT-B-32/openai, as ShareGPT4Video's CLIP features) = image features from the feature cache.
    select_encoder: str | None = None
    #: Upper bound on frames shown, on top of the method's own limit (coarse-to-fine sets it per
    #: window). None: the method's limit alone.
    frame_budget: FrameCount | None = None
    #: ``merge``'s comparison: MovieChat's dot product (default) or ``cosine`` (a deviation).
    merge_similarity: Annotated[str, Choice(("dot", "cosine"))] = "dot"
    #: How the answer is read: ``lenient`` (vtg's reading, many phrasings) or ``strict`` (the
    #: authors' evaluation script, quirks included: :mod:`~vtg.methods.videollm.official`).
    parse: Annotated[str, Choice(("lenient", "strict"))] = "lenient"

    #: What a line of a batch file may set: frame selection, not ``model`` (names files or
    #: downloads), ``select_encoder`` (the same), ``device``/``dtype`` (hardware) or
    #: ``max_new_tokens`` (bounds generation time). Subclasses add their own sampling options.
    line_options: ClassVar[frozenset[str]] = frozenset({"select", "select_threshold", "candidate_fps", "frame_budget",
                                                        "parse", "merge_similarity"})


def saliency_inside(times: np.ndarray, moments: Sequence[Moment]) -> np.ndarray:
    """1.0 at sampled times inside any moment (ends included), 0.0 elsewhere."""
    times = np.asarray(times, dtype=np.float64)
    scores = np.zeros(times.shape)
    for m in moments:
        scores[(times >= m.start - 1e-6) & (times <= m.end + 1e-6)] = 1.0
    return scores


def prompt_text(parts: Sequence[Part]) -> str:
    """The prompt's text with frames shown as ``<image>`` / ``<video>`` (kept in meta)."""
    return "".join(p if isinstance(p, str) else f"<{type(p).__name__.lower()}>" for p in parts)


class VideoLLMMethod(Method):
    """Base class of the Video-LLM grounding methods."""

    Config = VideoLLMConfig
    #: The Video-LLM families it runs on (``vtg methods -v``).
    model_families: ClassVar[tuple[str, ...]] = tuple(f.label for f in FAMILIES.values())
    score_meaning = ("Video-LLMs give no confidence: every interval the model answered scores 1, "
                     "ranked in the order it named them.")

    # -- what subclasses provide ------------------------------------------------------------
    def frame_rule(self, duration: float) -> tuple[float | None, int | None]:
        """The paper's sampling for a stretch of ``duration`` seconds: ``(fps, max_frames)``;
        ``fps`` None means evenly spread ``max_frames`` (every frame when there are fewer)."""
        raise NotImplementedError

    def build_prompt(self, sampled: Sampled, query: str, llm: VideoLLM) -> list[Part]:
        raise NotImplementedError

    def read_answer(self, answer: str, sampled: Sampled) -> tuple[list[Moment], np.ndarray]:
        """Moments in seconds and the saliency scores over ``sampled.times``."""
        raise NotImplementedError

    def strict(self) -> bool:
        """Whether ``-O parse=strict`` asks for the authors' reading (checked: lenient|strict, and
        only for methods whose authors publish a parser)."""
        from vtg.methods.videollm.answers import check_reading  # not loaded by `vtg methods`

        return check_reading(self.config.parse, self.name) == "strict"

    # -- shared path ------------------------------------------------------------------------
    def sample(self, video: VideoInput) -> Sampled:
        """Frames with their true times, sampled as the method's paper says (or selected)."""
        return self.sample_span(video)

    def sample_span(self, video: VideoInput, start: float = 0.0, end: float | None = None) -> Sampled:
        """Frames of ``[start, end)`` under the method's own rule applied to that span's length
        (coarse-to-fine grounding shows a Video-LLM one window at a time), then the configured
        frame selection. ``Sampled.duration`` stays the whole video's."""
        from vtg.video import probe

        info = probe(video)
        whole = start <= 0 and end is None
        start = max(0.0, float(start))
        end = float(info.duration) if end is None else min(float(end), float(info.duration))
        fps, max_frames = self.frame_rule(max(0.0, end - start))
        budget = self.config.frame_budget
        if budget is not None:
            if budget < 1:
                raise UsageError(f"frame_budget must be at least 1, got {budget}")
            max_frames = budget if max_frames is None else min(max_frames, budget)
        family_cap = model_family(self.config.model).max_frames  # e.g. Video-LLaVA's 8 frames
        if family_cap is not None:
            max_frames = family_cap if max_frames is None else min(max_frames, family_cap)
        rule = check_rule(self.config.select)
        if rule == "uniform" and whole:
            return sample_video(video, fps, max_frames)
        if rule == "uniform":
            return frames_at(video, span_targets(start, end, fps, max_frames, info.fps), info.duration)
        return self._selected(video, info, start, end, max_frames)

    def _selected(self, video, info, start: float, end: float, budget: int | None) -> Sampled:
        """Candidates at ``candidate_fps``, signatures, the selection rule, then the kept frames."""
        cfg = self.config
        if not (cfg.candidate_fps and cfg.candidate_fps > 0):
            raise UsageError(f"candidate_fps must be positive, got {cfg.candidate_fps!r}")
        times, signatures = candidate_signatures(video, info, start, end, cfg.candidate_fps,
                                                 cfg.select_encoder, cfg.device)
        kept = select(cfg.select, signatures, threshold=cfg.select_threshold, budget=budget,
                      candidate_fps=cfg.candidate_fps, similarity=cfg.merge_similarity)
        sampled = frames_at(video, times[kept], info.duration)
        return Sampled(sampled.frames, sampled.times, sampled.duration,
                       {"selection": cfg.select, "candidates": int(len(times)), "kept": int(len(sampled.times))})

    def warm_up(self) -> None:
        """The Video-LLM itself: billions of parameters, the slow part of a first query."""
        super().warm_up()
        self.runner()

    def runner(self) -> VideoLLM:
        cfg = self.config
        return load_videollm(cfg.model, cfg.device, None if cfg.dtype == "auto" else cfg.dtype)

    def ground(self, video: VideoInput, query: Query, *, progress: bool = False) -> Grounding:
        query = Query.of(query)
        self.check_query(query)
        self.strict()  # a bad -O parse= fails before any frame is decoded
        self.fetch_model()
        return self.ground_frames(self.sample(video), query.text or "", video=video)  # check_query: text

    def fetch_model(self) -> None:
        """The download step: the Video-LLM made local (first use downloads it, offline a missing
        one is a one-line error), before its config says how frames are sampled."""
        ensure_videollm(self.config.model)

    def check_weights(self) -> None:
        """A ``--model`` directory must hold config.json (a hub id is the download step's business)."""
        if looks_local(self.config.model):
            local_folder(self.config.model)

    def plan(self, video: VideoInput, query: Query | None = None) -> Plan:
        """The paper's sampling on this video (the frame rule, ``frame_budget``, and the model
        family's own cap when its config is here), the Video-LLM, and ``select_encoder`` if set."""
        source = VideoSource.of(video)
        self.check_weights()
        info = source.info()
        cfg = self.config
        fps, max_frames = self.frame_rule(float(info.duration))
        need = hub_or_local_need("video-llm", cfg.model)
        caps = [cfg.frame_budget, model_family(cfg.model).max_frames if need.cached else None]
        for cap in (c for c in caps if c is not None):
            max_frames = cap if max_frames is None else min(max_frames, cap)
        plan = Plan(self.name, str(source), float(info.duration), fps=fps, max_frames=max_frames,
                    frames=expected_frames(info.duration, fps, max_frames, info.num_frames), models=(need,))
        if cfg.select_encoder:
            return plan.with_models(encoder_need(cfg.select_encoder, "selection encoder"))
        return plan

    def ground_frames(self, sampled: Sampled, query: str, *, video: VideoInput = "") -> Grounding:
        """Ground ``query`` in already sampled frames (the part of :meth:`ground` after decoding)."""
        if len(sampled.times) == 0:
            raise VideoError(f"no frames could be sampled from {video or 'the video'}")
        self.strict()  # before the model loads
        llm = self.runner()
        parts = self.build_prompt(sampled, query, llm)
        answer = llm.generate(parts, max_new_tokens=self.config.max_new_tokens)
        moments, scores = self.read_answer(answer, sampled)
        meta = {
            "answer": answer,
            "model": llm.model_id,
            "family": llm.family.name,
            "status": "ok" if moments else "no moment found",
            "num_frames": int(len(sampled.times)),
            "prompt": prompt_text(parts),
            **sampled.note,
        }
        return Grounding(query=query, video=str(video), duration=sampled.duration, moments=tuple(moments),
                         saliency=Saliency(sampled.times, scores), method=self.name, meta=meta)


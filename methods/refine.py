"""Coarse-to-fine grounding for long videos: a fast stage proposes, a Video-LLM looks closely.

A Video-LLM sees a bounded number of frames (NumPro 384, TimeMarker 128, VTG-LLM 96): over an hour
that is one frame every 9-37 s, so a 5-s event is seen once or never. The fast stage (TFVTG on
cached frame features, or UniVTG when given a model) costs milliseconds once the video is indexed
and sees every sampled frame; its top windows are where the Video-LLM should spend its frames.

Algorithm (``vtg ground --method refine``):

1. The fast stage grounds the query over the whole video; its top ``k`` moments are candidates.
   With TFVTG, windows are capped at ``max_window`` seconds so candidates stay event-sized.
2. Each candidate is widened by ``margin`` x its length on both sides (at least ``min_margin``
   seconds), clipped to the video; candidates whose widened windows overlap are merged (the higher
   fast score is kept), so no frame is shown twice.
3. The chosen Video-LLM method runs inside each window with its own sampling rule applied to the
   window's length (NumPro's 1 fps, TimeMarker's AnyLength, VTG-LLM's uniform frames), capped at
   ``window_frames`` frames, optionally with frame selection (``select``). The window is shown as a
   clip starting at 0 (window-relative frame times and separators), the form these models were
   trained on; every answer is shifted back to absolute video time.
4. Ranking rule: a window's fast score ``f`` is normalised over the candidates to ``[0, 1]``
   (best = 1; all equal = 1). A window where the Video-LLM answered an interval scores
   ``0.5 + 0.5 * f`` with the answered interval as its moment; a window with no usable answer
   keeps the fast stage's own moment at ``0.5 * f``. So every answered window ranks above every
   unanswered one (a tie at 0.5 goes to the answered window), and the fast stage orders
   windows within each group. A refined moment
   overlapping a better one by IoU > 0.7 is dropped (two windows agreeing on one event).
5. Saliency is the fast stage's curve; the refined windows, their answers and frame counts are
   in ``meta["windows"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, ClassVar

import numpy as np

from vtg.errors import UsageError
from vtg.method import Method, option_names, supports_feature_search
from vtg.methods.tfvtg.method import as_path
from vtg.methods.videollm.method import VideoLLMMethod
from vtg.methods.videollm.selection import RULES
from vtg.options import (Choice, DeviceName, FrameCount, Fps, PositiveSeconds, Range, Seconds,
                         TopK)
from vtg.planning import Plan, VideoInput, hub_or_local_need
from vtg.registry import load_method, method_class
from vtg.types import Query
from vtg.types import Grounding, Moment
from vtg.video.source import VideoSource

VIDEO_LLMS = ("numpro", "timemarker", "vtgllm")
#: The fast stage when none is chosen and no UniVTG model is given.
DEFAULT_FAST = "tfvtg"


@dataclass(frozen=True)
class Window:
    """A widened candidate: ``[start, end)`` in seconds, the fast stage's moment and score."""

    start: float
    end: float
    fast: Moment


def widen(moments, duration: float, margin: float, min_margin: float) -> list[Window]:
    """Widen each moment by ``margin`` x its length (at least ``min_margin`` s) on both sides,
    clip to ``[0, duration]`` and merge overlapping windows, keeping the better fast moment;
    the result is ordered by fast score, best first."""
    windows: list[Window] = []
    for m in moments:
        pad = max(min_margin, margin * (m.end - m.start))
        windows.append(Window(max(0.0, m.start - pad), min(duration, m.end + pad), m))
    merged: list[Window] = []
    for w in sorted(windows, key=lambda w: w.start):
        if merged and w.start < merged[-1].end:
            prev = merged[-1]
            best = prev.fast if prev.fast.score >= w.fast.score else w.fast
            merged[-1] = Window(prev.start, max(prev.end, w.end), best)
        else:
            merged.append(w)
    return sorted(merged, key=lambda w: -w.fast.score)


def normalised_scores(scores: list[float]) -> list[float]:
    """Min-max to ``[0, 1]`` with the best at 1; all equal (or one) -> all 1."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high - low <= 1e-12:
        return [1.0] * len(scores)
    return [(s - low) / (high - low) for s in scores]


def rank(entries: list[tuple[Moment, bool, float]], overlap: float = 0.7) -> list[Moment]:
    """Apply the ranking rule to ``(moment, answered, normalised fast score)`` entries."""
    scored = [(Moment(m.start, m.end, (0.5 + 0.5 * f) if answered else 0.5 * f), answered)
              for m, answered, f in entries]
    scored.sort(key=lambda e: (-e[0].score, not e[1]))   # a tie at 0.5 goes to the answered window
    kept: list[Moment] = []
    for m, _ in scored:
        if all(m.iou(k) <= overlap for k in kept):
            kept.append(m)
    return kept


class Refine(Method):
    """Coarse-to-fine: fast-stage candidates, a Video-LLM densely inside each (long videos)."""

    name = "refine"
    #: Its Video-LLM stage runs on every family the shared runner drives (``vtg methods -v``).
    model_families = VideoLLMMethod.model_families
    summary = "Long videos: TFVTG/UniVTG candidate windows, then a Video-LLM densely inside each"
    paper = "vtg's combination of a retrieval stage with NumPro / TimeMarker / VTG-LLM (see docs/videollm.md)"
    score_meaning = ("0.5 + half the fast stage's score (normalised over the candidate windows, best = 1) "
                     "where the Video-LLM answered inside the window; half of it where it did not, so every "
                     "answered window ranks above every unanswered one.")

    @dataclass(frozen=True)
    class Config:
        #: The Video-LLM method run inside the windows, and its model / device / dtype.
        videollm: Annotated[str, Choice(VIDEO_LLMS)] = "numpro"
        model: str | None = None
        device: DeviceName = "auto"
        dtype: Annotated[str, Choice(("auto", "bf16", "fp16", "fp32"))] = "auto"
        #: The fast stage: ``auto`` = UniVTG when ``fast_model`` is given, else TFVTG; or any method
        #: that localises on cached frame features (:class:`vtg.method.FeatureLocaliser`).
        fast: str = "auto"
        fast_model: str | None = None
        encoder: str | None = None
        fps: Fps | None = None
        llm: str = "rules"
        #: Candidates, widening, longest fast-stage window (TFVTG), frames per window.
        k: TopK = 5
        margin: Annotated[float, Range(0, 100)] = 0.5
        min_margin: Seconds = 10.0
        max_window: PositiveSeconds = 120.0
        window_frames: FrameCount = 64
        select: Annotated[str, Choice(RULES)] = "uniform"
        top_k: TopK = 10

        #: What a line of a batch file may set: not the Video-LLM or fast-stage choice, models,
        #: encoder, LLM backend (files, downloads, endpoints) or device/dtype.
        line_options: ClassVar[frozenset[str]] = frozenset({
            "fps", "k", "margin", "min_margin", "max_window", "window_frames", "select", "top_k"})

    def ground(self, video: VideoInput, query: Query, *, progress: bool = False) -> Grounding:
        query = Query.of(query)
        self.check_query(query)
        cfg = self.config  # typed and in range (vtg.options), checked when configured
        video = as_path(VideoSource.of(video))  # checked and probed once for both stages and every window
        coarse = self.fast_stage(video).ground(video, query, progress=progress)
        windows = widen(coarse.moments[:cfg.k], coarse.duration, cfg.margin, cfg.min_margin)
        fast_scores = normalised_scores([w.fast.score for w in windows])
        llm = self.video_llm()
        llm.fetch_model()  # first use downloads it (the plan listed it)
        entries, notes = [], []
        for window, f in zip(windows, fast_scores):
            answered, note = self.refine_window(llm, video, query.text or "", window)  # check_query: text
            entries.append((answered[0] if answered else window.fast, bool(answered), f))
            notes.append(note)
        moments = rank(entries)[:cfg.top_k]
        meta = {"fast_method": coarse.method, "fast_meta": coarse.meta, "videollm": cfg.videollm,
                "windows": notes, "frames_shown": int(sum(n["frames"] for n in notes))}
        return Grounding(query=query.label, video=str(video), duration=coarse.duration,
                         moments=tuple(moments), saliency=coarse.saliency, method=self.name, meta=meta)

    # -- stages ---------------------------------------------------------------------------
    # -- hooks: the fast stage reads the cached features, so it answers for them --------------
    def feature_settings(self, video: VideoInput | None = None) -> dict:
        """The fast stage's encoder and sampling (``vtg index`` and the preflight use them)."""
        return self.fast_stage(video).feature_settings(video)

    def check_weights(self) -> None:
        self.fast_stage(None).check_weights()

    def plan(self, video: VideoInput, query: Query | None = None) -> Plan:
        """The fast stage's plan (its features, its models) plus the Video-LLM that refines."""
        source = VideoSource.of(video)
        fast = self.fast_stage(source).plan(source, query)
        model = self.video_llm().config.model
        return replace(fast, method=self.name).with_models(hub_or_local_need("video-llm", model))

    def prepare(self, video: VideoInput, *, progress: bool = False) -> None:
        self.fast_stage(video).prepare(video, progress=progress)

    def warm_up(self) -> None:
        """Both stages: the fast method's models and the Video-LLM."""
        self.fast_stage(None).warm_up()
        self.video_llm().warm_up()

    def fast_stage(self, video: VideoInput | None) -> Method:
        """TFVTG (features cached, windows capped at ``max_window`` s on ``video``) or UniVTG with
        a model; ``video`` None: the stage as configured, without the cap."""
        cfg = self.config
        fast = cfg.fast.strip().lower() if cfg.fast != "auto" else ("univtg" if cfg.fast_model else DEFAULT_FAST)
        options: dict = {"device": cfg.device}
        if cfg.encoder:
            options["encoder"] = cfg.encoder
        if fast == "univtg":
            if not cfg.fast_model:
                raise UsageError("refine with fast=univtg needs -O fast_model=DIR (a converted UniVTG model)")
            return load_method("univtg", model=cfg.fast_model, max_moments=max(cfg.k, 10), **options)
        cls = method_class(fast)
        if not supports_feature_search(cls):
            raise UsageError(f"refine option fast={fast!r}: the fast stage is univtg (with fast_model) or a method "
                             "that localises on cached frame features, such as tfvtg")
        options.update(llm=cfg.llm, top_k=max(cfg.k, 10), fps=cfg.fps)
        known = set(option_names(cls.Config))
        method = cls(**{k: v for k, v in options.items() if k in known and v is not None})
        return method if video is None else _cap_windows(method, video, cfg.max_window)

    def video_llm(self) -> VideoLLMMethod:
        cfg = self.config
        options = {"device": cfg.device, "dtype": cfg.dtype, "frame_budget": cfg.window_frames,
                   "select": cfg.select}
        if cfg.model:
            options["model"] = cfg.model
        method = load_method(cfg.videollm, **options)
        if not isinstance(method, VideoLLMMethod):
            raise UsageError(f"refine option videollm={cfg.videollm!r} is not a Video-LLM method")
        return method

    def refine_window(self, llm, video, text: str, window: Window) -> tuple[list[Moment], dict]:
        """Run the Video-LLM on ``window`` shown as a clip from 0; answers back in video time."""
        sampled = llm.sample_span(video, window.start, window.end)
        note = {"start": window.start, "end": window.end, "fast": window.fast.to_list(),
                "frames": int(len(sampled.times))}
        if len(sampled.times) == 0:
            return [], {**note, "status": "no frames"}
        origin = min(window.start, float(sampled.times[0]))
        local = replace(sampled, times=np.asarray(sampled.times) - origin,
                        duration=max(window.end - origin, float(sampled.times[-1] - origin)))
        result = llm.ground_frames(local, text, video=video)
        answered = [Moment(m.start + origin, m.end + origin, m.score) for m in result.moments]
        note.update(answer=result.meta.get("answer"), status=result.meta.get("status"),
                    moments=[m.to_list()[:2] for m in answered])
        return answered, note


def _cap_windows(method, video: VideoInput, max_window: float):
    """The fast method with ``max_window_fraction`` lowered so no window is longer than
    ``max_window`` s (unless the user set the fraction): candidates stay event-sized on hour-long
    videos. Methods without a window-fraction option (and preset) are used as they are."""
    if getattr(method.config, "max_window_fraction", 0) is not None or not hasattr(method, "preset_for"):
        return method
    duration = VideoSource.of(video).info().duration  # a VideoSource keeps its one probe
    if duration <= 0:
        return method
    fraction = min(float(method.preset_for(duration).max_window_fraction), max_window / duration)
    return type(method)(replace(method.config, max_window_fraction=fraction))

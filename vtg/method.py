"""The contract every grounding method implements, in core so front ends and plugins share it.

A method is a class with a ``name``, a frozen ``Config`` dataclass holding its parameters (with
the paper's defaults; each field's type and range in its annotation, checked by
:mod:`vtg.options`), and ``ground(video, query) -> Grounding``; ``plan(video, query) -> Plan`` says beforehand what a
query will run and which models it needs (:mod:`vtg.planning`). Heavy imports (torch,
transformers, ...) happen inside methods, never at module import, so listing methods is cheap and
a missing optional dependency disables only the method that needs it. Methods register under the
``vtg.methods`` entry-point group (:mod:`vtg.registry`), vtg's own ones included.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol, cast, runtime_checkable

import numpy as np

from vtg.errors import EmptyQueryError, UsageError
from vtg.options import apply_options, field_specs, option_problem
from vtg.planning import Plan, VideoInput, feature_plan
from vtg.types import Grounding, Moment, Query
from vtg.video.source import VideoSource


class Method(ABC):
    """Base class of grounding methods; subclasses set the class attributes and ``ground``."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    Config: ClassVar[type]
    #: Whether ``ground`` accepts a query given as an example image.
    supports_image_query: ClassVar[bool] = False
    #: What a moment's ``score`` means, in one or two sentences: tables and reports print it
    #: under the score column, so a reader knows whether 0.4 is good and what a negative is.
    score_meaning: ClassVar[str] = ""

    def __init__(self, config: Any = None, **options: Any) -> None:
        base = config if config is not None else self.Config()
        self.config = apply_options(base, options, owner=self.name)

    @abstractmethod
    def ground(self, video: VideoInput, query: Query, *, progress: bool = False) -> Grounding:
        """Find when ``query`` happens in ``video``."""

    def ground_many(self, video: VideoInput, queries: list[Query], *, progress: bool = False) -> list[Grounding]:
        """Every query of ``queries`` on one video, in order (``vtg.ground(video, [q1, q2, ...])``).

        Default: :meth:`ground` once per query on one shared :class:`vtg.video.VideoSource`.
        Methods that can share work between queries (encode all sentences in one text batch)
        override it; the results must equal those of single :meth:`ground` calls."""
        source = cast(Path, VideoSource.of(video))  # os.PathLike, carrying its one probe and hash
        return [self.ground(source, q, progress=progress) for q in queries]

    def prepare(self, video: VideoInput, *, progress: bool = False) -> None:
        """Hook: decode and encode ``video`` ahead of ``ground`` (e.g. fill the feature cache).

        ``video`` may be a :class:`vtg.video.VideoSource` (checked and probed once, shared with
        the queries that follow). ``vtg batch --workers N`` calls it from a thread pool for the
        next videos while the current one's queries run, so overriding methods must be
        thread-safe. Default: nothing (methods that read frames per query have nothing to prepare).
        """

    def check_weights(self) -> None:
        """Hook: fail early, with the remedy, when the method's own weights (not its encoder's)
        are missing, before any encoder is downloaded or loaded. Default: nothing to check."""

    def warm_up(self) -> None:
        """Hook: load every model a query needs now and run it once, so the first query costs what
        the later ones do (``vtg serve`` calls it before it binds its port). Default: the encoder
        whose features ``ground`` reads (:meth:`feature_settings`), if any, encoding one sentence;
        methods with models of their own (a Video-LLM, UniVTG's network) load those too."""
        spec = self.feature_settings().get("encoder")
        if spec:
            from vtg.encoders import load_encoder

            load_encoder(spec, device=getattr(self.config, "device", "auto")).encode_texts(["warm up"])

    def feature_settings(self, video: VideoInput | None = None) -> dict:
        """Hook: the ``encoder``, ``fps`` and ``max_frames`` whose cached features ``ground`` reads.

        ``vtg index`` (and library indexing) fills the feature cache with exactly these, so a
        later query finds its features. Methods whose sampling depends on the video (TFVTG's
        long-video preset) override it and look at ``video``. Default: those of the three names
        that are fields of the method's config; a method without an ``encoder`` field reads no
        cached features.
        """
        return {name: getattr(self.config, name) for name in ("encoder", "fps", "max_frames")
                if hasattr(self.config, name)}

    def check_query(self, query: Query) -> None:
        """Reject query kinds this method cannot take, with a message saying which it can."""
        if query.image is not None and not self.supports_image_query:
            raise UsageError(f"method {self.name!r} cannot take an image query; use a text query")
        if query.text is None and query.image is None:
            raise EmptyQueryError("the query is empty")

    # -- the plan of a query (vtg.planning): what will run, said before it runs ------------------
    def plan(self, video: VideoInput, query: Query | None = None) -> Plan:
        """What grounding ``query`` in ``video`` will run: encoder, sampling and frame count,
        whether the features are cached, the models needed (here or to fetch), the LLM backend.

        Reads the video's header and content hash through one :class:`~vtg.video.VideoSource`
        (pass the same source to :meth:`ground` and neither is read again); loads no model and
        never downloads (:func:`vtg.planning.fetch_models` is that step). The method's own
        weights are checked first (:meth:`check_weights`), so a missing ``--model`` folder fails
        before anything else. Default: the cached features :meth:`feature_settings` names;
        methods with models of their own add them (:meth:`Plan.with_models`)."""
        source = VideoSource.of(video)
        self.check_weights()
        return feature_plan(self.name, source, self.feature_settings(source))


# -- capability: localise on precomputed frame features --------------------------------------

class EncodedQuery(Protocol):
    """A query encoded once (text or image features), reused for every video it is run on.

    Library search scores every frame of the library with :meth:`relevance` (the exact scan) and
    ranks videos by their best frame, so ``relevance`` must be on one scale for every video (raw
    similarity, not calibrated per video)."""

    #: What the results show as the query (``Query.label``).
    label: str

    def relevance(self, block: np.ndarray) -> np.ndarray:
        """The whole query's raw similarity to each frame of ``block`` (float16 ``[rows, *shape]``,
        possibly memory-mapped: do not copy it whole): float32 ``[rows]``."""
        ...

    def direction(self) -> np.ndarray | None:
        """The vector ``d`` with ``relevance(block) == block @ d`` (single-vector features), which
        lets an approximate index find candidate frames; None when relevance is not one dot product."""
        ...


@dataclass
class Localised:
    """What a :class:`FeatureLocaliser` found on one video's features.

    ``moments``: best first, scores as the method's ``score_meaning`` says; ``saliency``: one value
    per frame, as ``ground`` shows it; ``relevance``: the raw per-frame curve of
    :meth:`EncodedQuery.relevance` (search ranks videos by its peak inside the best moment);
    ``meta``: what ``ground`` would record about how the moments were found."""

    moments: list[Moment]
    saliency: np.ndarray
    relevance: np.ndarray
    meta: dict = dataclasses.field(default_factory=dict)


@runtime_checkable
class FeatureLocaliser(Protocol):
    """The capability of a method that grounds from precomputed frame features.

    Such a method reads features an encoder computed once per video (:meth:`Method.feature_settings`
    names the encoder and sampling), so a library of videos indexed once can be searched without
    decoding a frame: ``vtg search`` encodes the query once (:meth:`encode_query`), scans every
    frame with its :meth:`EncodedQuery.relevance`, and calls :meth:`localise` on the best videos'
    stored features. ``refine`` uses it for its fast stage and ``vtg serve`` for ``/search``. A
    method declares the capability by having both methods (no registration: a plugin's method that
    has them searches a library with no change to vtg); :func:`supports_feature_search` tells.
    """

    name: ClassVar[str]

    def feature_settings(self, video: str | Path | None = None) -> dict:
        ...

    def encode_query(self, query: Query, encoder: Any) -> EncodedQuery:
        """Encode ``query`` with ``encoder`` (a :class:`vtg.encoders.Encoder`: the one that
        computed the features, which the caller loads, e.g. the library's), once for all videos."""
        ...

    def localise(self, features: np.ndarray, times: np.ndarray, duration: float,
                 encoded: EncodedQuery) -> Localised:
        """Moments of one video from its frame ``features`` (float16 or float32 ``[frames, *shape]``)
        sampled at ``times`` (seconds) over ``duration`` seconds."""
        ...


def supports_feature_search(method_or_class: object) -> bool:
    """Whether a method (instance or class) can localise on precomputed features (has
    ``encode_query`` and ``localise``, :class:`FeatureLocaliser`)."""
    return all(callable(getattr(method_or_class, name, None)) for name in ("encode_query", "localise"))


@dataclass(frozen=True)
class MethodCommand:
    """A CLI command a method package adds to ``vtg`` (its hook is registered under the ``vtg.commands`` entry-point group).

    ``path`` says where it mounts: ``("summarize",)`` is ``vtg summarize``; ``("train", "univtg")``
    is ``vtg train univtg`` (groups are created on first use); ``("models", "convert", "univtg")``
    is ``vtg models convert univtg``. ``callback`` is a typer command function (parameters declared
    with ``typer.Argument`` / ``typer.Option``); its docstring is the help text.
    """

    path: tuple[str, ...]
    callback: Callable[..., Any]


def option_names(config_cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(config_cls)]


#: The class attribute of a method's ``Config`` naming the options a line of input data may set.
LINE_OPTIONS_ATTR = "line_options"


def line_options(config_cls: type) -> frozenset[str]:
    """Options of ``config_cls`` that a line of a batch file may set.

    A line of an input file is untrusted data (annotation files are downloaded from the internet),
    so it may only change *what is computed*: sampling, thresholds, top-k, presets. Endpoints,
    credentials, backends that imply a network endpoint, model and encoder names (which name files
    or downloads) and devices come only from the command line, the environment or the caller. Each
    method's ``Config`` declares its safe fields in a ``line_options`` class attribute (a
    ``ClassVar``, so not a dataclass field); a Config without one allows no per-line options.
    """
    return frozenset(getattr(config_cls, LINE_OPTIONS_ATTR, ()))


def request_options(config_cls: type) -> frozenset[str]:
    """Options of ``config_cls`` one request to ``vtg serve`` may set: those a batch line may set
    (:func:`line_options`: a request is as untrusted as a line) that are also declared scoring
    parameters (``Annotated[..., SCORING]``, :class:`vtg.options.Scoring`): a request tunes how
    moments are scored on the warm model, never how much a shared server decodes or loads."""
    if not dataclasses.is_dataclass(config_cls):
        return frozenset()
    specs = field_specs(config_cls)
    return frozenset(name for name in line_options(config_cls) if name in specs and specs[name].scoring)


def line_option_problem(config_cls: type, options: dict[str, Any], owner: str) -> str | None:
    """Why ``options`` (read from a line of input data) are refused, or None when all are allowed."""
    allowed = line_options(config_cls)
    refused = sorted(k for k in options if k not in allowed)
    if not refused:  # allowed names: their values must still be in range
        return option_problem(config_cls, options, owner) if dataclasses.is_dataclass(config_cls) else None
    known = set(option_names(config_cls)) if dataclasses.is_dataclass(config_cls) else set()
    safe = ", ".join(sorted(allowed)) or "none"
    unknown = [k for k in refused if k not in known]
    if unknown:
        return f"{owner} has no option {', '.join(map(repr, unknown))}; options a line may set: {safe}"
    named = ", ".join(repr(k) for k in refused)
    why = ("endpoints, credentials, model and encoder names and devices come only from the command line "
           "or the environment")
    return f"a line may not set option {named} of {owner} ({why}); options a line may set: {safe}"

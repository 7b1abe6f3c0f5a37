"""What a query will run, said before it runs: :class:`Plan`, and the named step that fetches.

``Method.plan(video, query)`` (:mod:`vtg.method`) returns a :class:`Plan`: the encoder and the
sampling whose features the method reads, how many frames that is (the one frame-count rule,
:func:`vtg.video.sampling.expected_frames`), whether those features are cached already, every
model the query needs with whether it is on this machine, and the LLM backend if any. Making a
plan reads the container's header and the file's content hash (shared with the grounding that
follows through the :class:`~vtg.video.VideoSource`) and looks in local caches; it never loads a
model and never touches the network.

Downloading is its own step, :func:`fetch_models`: the CLI prints the plan, fetches, then grounds
with the same method object, so a first run says what it will download before it does, and a
missing model fails (offline) before any decoding.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from vtg.errors import WeightsNotFoundError
from vtg.video.sampling import expected_frames

#: What a plan (and a method's ``feature_settings``) takes as the video: a path, or a
#: :class:`~vtg.video.VideoSource` (a path-like that carries its probe and content hash).
VideoInput = Union[str, "os.PathLike[str]"]

#: How a :class:`ModelNeed` is made local: an encoder spec, a Hugging Face hub id, or a local path
#: (nothing to download: it must exist).
SOURCES = ("encoder", "hub", "local")


@dataclass(frozen=True)
class ModelNeed:
    """One model a query needs: what it is to the method (``role``), its name as the user gave it,
    how it is fetched (:data:`SOURCES`), whether it is here, where, and its size on disk."""

    role: str
    name: str
    source: str
    cached: bool
    path: str | None = None
    #: Bytes of the weight files on disk (cached models); None when not known without the network.
    size: int | None = None


@dataclass(frozen=True)
class Plan:
    """What grounding one query will run (see the module docstring). ``frames`` and
    ``features_cached`` are None where the method reads no cached features; ``duration`` is the
    video's, from its header."""

    method: str
    video: str
    duration: float
    encoder: str | None = None
    fps: float | None = None
    max_frames: int | None = None
    frames: int | None = None
    features_cached: bool | None = None
    models: tuple[ModelNeed, ...] = ()
    #: The LLM backend a query goes through (TFVTG's sub-event decomposition, ``--llm``), if any.
    llm: str | None = None

    @property
    def missing(self) -> tuple[ModelNeed, ...]:
        """Models :func:`fetch_models` has to download (or, offline, report)."""
        return tuple(m for m in self.models if not m.cached)

    def with_models(self, *needs: ModelNeed, llm: str | None = None) -> "Plan":
        """This plan with ``needs`` added (a method's own models) and ``llm`` set when given."""
        return dataclasses.replace(self, models=self.models + needs, llm=llm if llm is not None else self.llm)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def feature_plan(method: str, video: Any, settings: dict) -> Plan:
    """The plan of a method that reads ``settings`` (``encoder``, ``fps``, ``max_frames``: its
    ``feature_settings``) from the feature cache of ``video`` (a :class:`~vtg.video.VideoSource`)."""
    from vtg.features import features_cached

    info = video.info()
    encoder, fps, max_frames = settings.get("encoder"), settings.get("fps"), settings.get("max_frames")
    plan = Plan(method, str(video), float(info.duration), fps=fps, max_frames=max_frames,
                frames=expected_frames(info.duration, fps, max_frames, info.num_frames))
    if not encoder:
        return plan
    need = encoder_need(encoder)
    cached = need.cached and features_cached(video, encoder, fps, max_frames)
    return dataclasses.replace(plan, encoder=canonical(encoder), features_cached=cached, models=(need,))


def canonical(encoder: str) -> str:
    from vtg.encoders.specs import parse_spec

    return parse_spec(encoder).canonical


def encoder_need(spec: str, role: str = "encoder") -> ModelNeed:
    """An encoder spec's weights: found locally (:func:`vtg.encoders.fetch.find_weights`) or not."""
    from vtg.encoders.fetch import find_weights

    found = find_weights(spec)
    return ModelNeed(role, spec, "encoder", found is not None, found, bytes_on_disk(found))


def hub_or_local_need(role: str, model: str) -> ModelNeed:
    """A transformers model named by a hub id (fetched from the hub) or a local folder (must exist)."""
    from vtg.encoders.weights import hf_weights_cached

    if looks_local(model):
        path = Path(model).expanduser()
        return ModelNeed(role, model, "local", path.exists(), str(path), bytes_on_disk(str(path)))
    found = hf_weights_cached(model)
    folder = os.path.dirname(found) if found else None
    return ModelNeed(role, model, "hub", found is not None, folder, bytes_on_disk(folder))


def local_need(role: str, path: str | Path) -> ModelNeed:
    """A model that only comes from a local path (a converted checkpoint folder or file)."""
    p = Path(path).expanduser()
    return ModelNeed(role, str(path), "local", p.exists(), str(p), bytes_on_disk(str(p)))


def looks_local(model: str) -> bool:
    """Whether a model name is a local path rather than a hub id (``org/name``): the one rule the
    plan and the loaders (the Video-LLM runner, ``--llm hf:``) share, so a plan says what runs."""
    return model.startswith((".", "/", "~")) or Path(model).expanduser().exists() or model.count("/") > 1


def bytes_on_disk(path: str | None) -> int | None:
    """Size of a weights file, or of the files of a model folder (links followed, as the HF cache
    links its blobs); None when there is nothing there."""
    if path is None:
        return None
    p = Path(path)
    try:
        if p.is_file():
            return p.stat().st_size
        if p.is_dir():
            return sum(f.stat().st_size for f in p.iterdir() if f.is_file())
    except OSError:
        return None
    return None


def fetch_models(plan: Plan) -> None:
    """The download step: make every model of ``plan`` that is missing local, each downloaded with
    its size and a progress bar (:mod:`vtg.encoders.hub`), or, offline, a one-line
    :class:`~vtg.errors.WeightsNotFoundError` naming the model and the remedy. Models already here
    cost nothing."""
    for need in plan.missing:
        fetch_model(need)


def fetch_model(need: ModelNeed) -> str:
    """One model made local; its path."""
    from vtg.encoders import weights
    from vtg.encoders.fetch import ensure_weights

    if need.source == "encoder":
        return ensure_weights(need.name)
    if need.source == "hub":
        return weights.ensure_hf_model(need.name)
    if need.path is not None and Path(need.path).exists():
        return need.path
    raise WeightsNotFoundError(f"the {need.role} {need.name!r} does not exist; give an existing path")

"""Before the work: make a command's models local, then say what the work will be.

``vtg ground`` and ``vtg index`` call :func:`prepare` before anything heavy is imported: the
method's encoder (and a Video-LLM's or ``--llm hf:``'s hub model) are made local by
:func:`vtg.encoders.fetch.ensure_weights` — downloaded on first use with their size and a
progress bar, or, offline, a one-line error within a second of the command starting. Then
:func:`print_plan` puts one line on stderr — frames to sample, model, device, estimated time — and
suggests ``--fps`` when the estimate is long (see :mod:`vtg.cli.plan`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """What a method will read from a video: its encoder and sampling, and its hub model if any."""

    encoder: str | None
    fps: float | None
    max_frames: int | None
    model: str | None = None
    #: the chat model of ``--llm hf:<model>`` (TFVTG's sub-event decomposition), if any
    llm_model: str | None = None


def method_settings(method: str, options: dict, video: Path | None, *, check: bool = True) -> Settings:
    """The encoder/fps/max_frames ``method`` configured with ``options`` uses on ``video``: its
    ``feature_settings(video)`` hook (declared on :class:`vtg.methods.Method`: the config's values
    unless the method chooses rates per video). With ``check``, the method's own
    ``check_weights`` hook runs first (UniVTG's --model folder)."""
    from vtg.registry import load_method

    instance = load_method(method, **options)
    if check:  # the method's own weights before its encoder is downloaded
        instance.check_weights()
    found = dict(instance.feature_settings(video))
    model = getattr(instance.config, "model", None)
    llm = getattr(instance.config, "llm", None)
    llm_model = llm[3:] if isinstance(llm, str) and llm.startswith("hf:") else None
    return Settings(found.get("encoder"), found.get("fps"), found.get("max_frames"),
                    model if isinstance(model, str) else None, llm_model or None)


def ensure_models(settings: Settings) -> None:
    """Download (first use) or check (offline) the encoder and hub model ``settings`` name."""
    from vtg.encoders import weights
    from vtg.encoders.fetch import ensure_weights

    if settings.encoder:
        ensure_weights(settings.encoder)
    for model in (settings.model, settings.llm_model):
        if model and is_hub_id(model):
            weights.ensure_hf_model(model)


def is_hub_id(model: str) -> bool:
    """``org/name`` that is not a local path (UniVTG's --model is a folder; Video-LLMs take ids)."""
    return (model.count("/") == 1 and not model.startswith(("/", ".", "~"))
            and not Path(model).expanduser().exists())


def prepare(method: str, options: dict, video: Path | None) -> Settings:
    settings = method_settings(method, options, video)
    ensure_models(settings)
    return settings


def expected_frames(video: Path, fps: float | None, max_frames: int | None) -> tuple[int | None, float]:
    """(frames the sampler will take, video duration in seconds), from the container's header."""
    from vtg.video import probe

    info = probe(video)
    n = info.num_frames if fps is None else int(math.ceil(info.duration * fps - 1e-9))
    if n is not None and max_frames is not None:
        n = min(n, max_frames)
    return n, float(info.duration)


def features_cached(video: Path, settings: Settings) -> bool:
    """Whether the feature cache already holds this (video, encoder, sampling): no work to plan."""
    from vtg.encoders.specs import parse_spec
    from vtg.encoders.fetch import spec_fingerprint
    from vtg.features import features_dir, video_key

    parsed = parse_spec(settings.encoder)
    key = video_key(video, parsed.canonical, spec_fingerprint(parsed), settings.fps, settings.max_frames)
    return (features_dir() / f"{key}.json").is_file()


def print_plan(video: Path, settings: Settings, device: str | None, *, verbose: bool) -> None:
    """The plan line on stderr (with ``verbose``, or always when the estimate is long)."""
    import sys

    from vtg.cli.plan import describe

    if not settings.encoder or features_cached(video, settings):
        return
    from vtg.encoders.specs import parse_spec

    frames, duration = expected_frames(video, settings.fps, settings.max_frames)
    lines, long = describe(frames, duration, settings.fps, parse_spec(settings.encoder).canonical, _device(device))
    if verbose or long:
        for line in lines:
            print(line, file=sys.stderr, flush=True)


def _device(device: str | None) -> str:
    from vtg.device import resolve_device

    return resolve_device(device or "auto")

"""Finding the weights a model name or an encoder spec needs on this machine, and fetching them.

``vtg models`` prints :func:`list_encoders` (no network); ``vtg models download NAME`` calls
:func:`download`; a first use calls :func:`ensure_weights`. All three fetch through the same path
(:mod:`vtg.encoders.weights`, :mod:`vtg.encoders.hub`): size shown, progress bar, one-line errors.
Spec strings are parsed first (:mod:`vtg.encoders.specs`), so this module sits above both.
"""

from __future__ import annotations

import os
from pathlib import Path

from vtg.encoders import weights
from vtg.encoders.open_clip_table import is_architecture
from vtg.encoders.registry import KNOWN_MODELS, ModelEntry, ModelStatus
from vtg.encoders.specs import EncoderSpec, parse_spec
from vtg.errors import ModelError, UnknownNameError, VtgError, WeightsNotFoundError


def list_encoders() -> list[ModelStatus]:
    """Every named model with whether its weights are cached locally (no network)."""
    return [model_status(e) for e in KNOWN_MODELS.values()]


def model_status(entry: ModelEntry) -> ModelStatus:
    if entry.spec:
        parsed = parse_spec(entry.spec)
        if parsed.family == "open_clip" and parsed.kind == "tag" and parsed.arch and parsed.tag:
            try:
                path = weights.find_open_clip_tag_weights(weights.open_clip_tag_config(parsed.arch, parsed.tag))
            except VtgError:
                path = None
            return ModelStatus(entry, bool(path), path)
    found = weights.hf_weights_cached(entry.repo) if entry.repo else None
    return ModelStatus(entry, bool(found), os.path.dirname(found) if found else None)


def resolve_entry(name: str) -> ModelEntry:
    """A registry name, an encoder spec, or a bare hub repo id -> what to download."""
    if name in KNOWN_MODELS:
        return KNOWN_MODELS[name]
    if name.count("/") == 1 and ":" not in name and not name.startswith(("/", ".", "~")):
        arch = name.split("/")[0]
        if is_architecture(arch):
            return ModelEntry(name, "encoder", "", spec=f"open_clip:{name}")
        return ModelEntry(name, "model", "", repo=name)
    parsed = parse_spec(name)
    if parsed.is_local:
        raise UnknownNameError("downloadable model", name, list(KNOWN_MODELS))
    if parsed.family == "open_clip":
        return ModelEntry(name, "encoder", "", spec=parsed.canonical)
    return ModelEntry(name, "encoder", "", spec=parsed.canonical, repo=parsed.source)


def download(name: str) -> str:
    """Fetch a model's weights into the local cache now (network); returns where they are.

    The same download a first use does (size, progress bar, one-line errors); a model already
    cached is not fetched again."""
    entry = resolve_entry(name)
    if weights.offline_mode():
        raise WeightsNotFoundError(f"could not download {name!r}: offline mode is on (HF_HUB_OFFLINE is set, "
                                   "or --offline); unset it to download")
    if entry.repo:
        return weights.ensure_hf_model(entry.repo)
    return ensure_weights(entry.spec)


def find_weights(spec: str | EncoderSpec) -> str | None:
    """Local path of the weights an encoder spec loads, or None when they are not on this machine.

    Never downloads and never touches the network (the plan of a query asks it to say what must be
    fetched); :func:`ensure_weights` is the step that fetches."""
    parsed = spec if isinstance(spec, EncoderSpec) else parse_spec(spec)
    if parsed.family != "open_clip":
        if parsed.is_local:
            path = Path(parsed.source)
            return next((str(path / n) for n in weights.HF_WEIGHT_FILES if (path / n).is_file()), None)
        return weights.hf_weights_cached(parsed.source)
    if parsed.kind == "tag":
        try:
            return weights.find_open_clip_tag_weights(weights.open_clip_tag_config(*parsed.pretrained_tag()))
        except ModelError:  # an unknown tag: ensure_weights says which tags exist
            return None
    if parsed.kind == "hub":
        return weights.cached_open_clip_hub_dir(parsed.source)
    return parsed.source if Path(parsed.source).exists() else None


def local_fingerprint(parsed: EncoderSpec) -> str | None:
    """Fingerprint of the weight files a parsed spec resolves to on this machine, or None when
    they are missing. Never downloads: a cache lookup with missing weights is simply a miss."""
    found = find_weights(parsed)
    return weights.files_fingerprint(found) if found is not None else None


def ensure_weights(spec, *, offline: bool | None = None) -> str:
    """Local path of the weights an encoder spec (string or parsed) loads: a file, or a model folder.

    The download step: fetches on first use unless ``offline`` (default:
    :func:`vtg.encoders.weights.offline_mode`); raises :class:`WeightsNotFoundError` with the remedy
    otherwise. Imports nothing heavy, so callers run it before loading torch to fail (or download)
    first. Model loaders call it too; :func:`find_weights` only looks.
    """
    with weights.offline_scope(offline):
        parsed = spec if isinstance(spec, EncoderSpec) else parse_spec(spec)
        found = find_weights(parsed)
        if found is not None:
            return found
        if parsed.family != "open_clip":
            return weights.require_hf_model(parsed.source, parsed.is_local)
        if parsed.kind == "tag":
            return weights.open_clip_tag_weights(*parsed.pretrained_tag())[0]
        if parsed.kind == "hub":
            return weights.open_clip_hub_dir(parsed.source)
        return parsed.source


def fetch_fingerprint(parsed) -> str:
    """Make the weights local (the :func:`ensure_weights` step: downloaded on first use, or
    WeightsNotFoundError offline), then fingerprint them. For loaders, which need them anyway;
    :func:`local_fingerprint` never downloads."""
    return weights.files_fingerprint(ensure_weights(parsed))

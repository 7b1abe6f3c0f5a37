"""Named models vtg knows, whether each is on this machine, and downloading one by name.

:data:`KNOWN_MODELS` maps a short name to a model: encoders carry a ``spec`` that
:func:`vtg.encoders.load_encoder` accepts; other models (Video-LLMs used by methods) carry only a
hub ``repo``. Methods add their own entries with :func:`register_model`. ``vtg models`` prints
:func:`list_encoders` (no network); ``vtg models download NAME`` calls :func:`download`, which
fetches through the same path as a first use (:mod:`vtg.encoders.weights`), ahead of time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vtg.errors import UnknownNameError, VtgError, WeightsNotFoundError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str  # "encoder" or what the model is to the methods, e.g. "video-llm"
    summary: str
    spec: str = ""  # encoder spec, for kind == "encoder"
    repo: str = ""  # Hugging Face repo id, for models that are not open_clip tags
    used_by: str = ""


@dataclass(frozen=True)
class ModelStatus:
    entry: ModelEntry
    cached: bool
    path: str | None  # where the weights are (or would be looked for)


KNOWN_MODELS: dict[str, ModelEntry] = {}


def register_model(entry: ModelEntry) -> None:
    """Add (or replace) a named model; methods call this for the models they need."""
    KNOWN_MODELS[entry.name] = entry


for _e in (
    ModelEntry("clip-vit-b-32", "encoder", "OpenAI CLIP ViT-B/32 (open_clip)", spec="open_clip:ViT-B-32/openai",
               used_by="univtg"),
    ModelEntry("clip-vit-l-14", "encoder", "OpenAI CLIP ViT-L/14 (open_clip)", spec="open_clip:ViT-L-14/openai"),
    ModelEntry("hf-clip-vit-b-32", "encoder", "OpenAI CLIP ViT-B/32 (transformers)",
               spec="hf-clip:openai/clip-vit-base-patch32", repo="openai/clip-vit-base-patch32"),
    ModelEntry("siglip-base", "encoder", "SigLIP ViT-B/16 224px (transformers)",
               spec="hf-siglip:google/siglip-base-patch16-224", repo="google/siglip-base-patch16-224"),
    ModelEntry("blip2-itm-coco", "encoder", "BLIP-2 ITM Q-Former, ViT-g, COCO fine-tuned (transformers)",
               spec="blip2:Salesforce/blip2-itm-vit-g-coco", repo="Salesforce/blip2-itm-vit-g-coco",
               used_by="tfvtg"),
    ModelEntry("qwen2-vl-7b", "video-llm", "Qwen2-VL 7B Instruct", repo="Qwen/Qwen2-VL-7B-Instruct",
               used_by="numpro"),
    ModelEntry("qwen2-vl-2b", "video-llm", "Qwen2-VL 2B Instruct", repo="Qwen/Qwen2-VL-2B-Instruct",
               used_by="numpro"),
):
    register_model(_e)


def list_encoders() -> list[ModelStatus]:
    """Every named model with whether its weights are cached locally (no network)."""
    return [model_status(e) for e in KNOWN_MODELS.values()]


def model_status(entry: ModelEntry) -> ModelStatus:
    from vtg.encoders import weights

    if entry.spec:
        from vtg.encoders.specs import parse_spec

        parsed = parse_spec(entry.spec)
        if parsed.family == "open_clip" and parsed.kind == "tag":
            try:
                path = weights.find_open_clip_tag_weights(weights.open_clip_tag_config(*parsed.pretrained_tag()))
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
        from vtg.encoders.open_clip_table import is_architecture

        arch = name.split("/")[0]
        if is_architecture(arch):
            return ModelEntry(name, "encoder", "", spec=f"open_clip:{name}")
        return ModelEntry(name, "model", "", repo=name)
    from vtg.encoders.specs import parse_spec

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
    from vtg.encoders import weights

    entry = resolve_entry(name)
    if weights.offline_mode():
        raise WeightsNotFoundError(f"could not download {name!r}: offline mode is on (HF_HUB_OFFLINE is set, "
                                   "or --offline); unset it to download")
    if entry.repo:
        return weights.ensure_hf_model(entry.repo)
    return weights.ensure_weights(entry.spec)

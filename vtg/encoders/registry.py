"""Named models vtg knows.

:data:`KNOWN_MODELS` maps a short name to a model: encoders carry a ``spec`` that
:func:`vtg.encoders.load_encoder` accepts; other models (Video-LLMs used by methods) carry only a
hub ``repo``. Methods add their own entries with :func:`register_model`. Whether each is on this
machine and downloading one by name is :mod:`vtg.encoders.fetch` (``vtg models``), which builds on
this table as spec parsing (:mod:`vtg.encoders.specs`) does.
"""

from __future__ import annotations

from dataclasses import dataclass


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

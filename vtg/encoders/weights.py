"""Finding model weights on this machine, and fetching them only when the user asks.

Loading never downloads: a Hugging Face id resolves only from the local HF cache, an open_clip
pretrained tag only from the files open_clip itself would have downloaded (HF cache or
``~/.cache/clip``). Missing weights raise :class:`WeightsNotFoundError` naming the model and the
command that fetches it, so a run never continues with random weights and never surprises an
offline machine with a download. ``vtg models download`` is the one explicit, networked path.
"""

from __future__ import annotations

import os
from pathlib import Path

from vtg.errors import CheckpointError, ModelError, WeightsNotFoundError

HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                   "pytorch_model.bin.index.json")
OPEN_CLIP_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def hf_cache_dir() -> Path:
    """The HF hub cache, read from the environment at call time (HF_HUB_CACHE, HF_HOME)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def open_clip_url_cache_dir() -> Path:
    """Where open_clip stores weights it downloads from plain URLs (its default)."""
    return Path("~/.cache/clip").expanduser()


def hf_cached_file(repo_id: str, filename: str) -> str | None:
    """Path of ``filename`` of ``repo_id`` in the local HF cache, or None (no network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=str(hf_cache_dir()))
    except Exception:  # malformed repo ids raise HFValidationError
        return None
    return found if isinstance(found, str) else None


def hf_weights_cached(repo_id: str) -> str | None:
    """The cached weights file of a transformers model (config and weights both present)."""
    if not hf_cached_file(repo_id, "config.json"):
        return None
    for name in HF_WEIGHT_FILES:
        found = hf_cached_file(repo_id, name)
        if found:
            return found
    return None


def require_hf_model(repo_or_dir: str, is_local: bool) -> str:
    """Check that a transformers model can load offline; returns the path of its weights."""
    if is_local:
        path = Path(repo_or_dir)
        for name in HF_WEIGHT_FILES:
            if (path / name).is_file():
                return str(path / name)
        raise WeightsNotFoundError(f"no weights in {path} (expected one of {', '.join(HF_WEIGHT_FILES)}, "
                                   "as written by save_pretrained)")
    found = hf_weights_cached(repo_or_dir)
    if not found:
        raise WeightsNotFoundError(missing_hf_message(repo_or_dir))
    return found


def quiet_transformers() -> None:
    """Silence transformers' own per-load progress bars: vtg shows one bar for the work that takes
    time, and output piped to a file or another program must stay clean."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def load_hf_parts(parsed, model_cls, dtype, device: str):
    """Model, image processor, tokenizer and weights fingerprint of a transformers encoder, offline.

    Shared by the CLIP/SigLIP and BLIP-2 loaders: weights must already be local (never a download),
    and a directory that exists but cannot be read becomes a CheckpointError naming the model.
    """
    from transformers import AutoImageProcessor, AutoTokenizer

    weight_file = require_hf_model(parsed.source, parsed.is_local)
    common = dict(local_files_only=True, cache_dir=str(hf_cache_dir()))
    quiet_transformers()
    try:
        model = model_cls.from_pretrained(parsed.source, dtype=dtype, **common)
        image_processor = AutoImageProcessor.from_pretrained(parsed.source, **common)
        tokenizer = AutoTokenizer.from_pretrained(parsed.source, **common)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot load {parsed.canonical}: {exc}") from exc
    model.to(device).eval()
    return model, image_processor, tokenizer, fingerprint(weight_file)


def missing_hf_message(repo_id: str) -> str:
    return (f"weights for {repo_id!r} are not in the local Hugging Face cache ({hf_cache_dir()}); run "
            f"`vtg models download {repo_id}` or `hf download {repo_id}` (needs network), "
            "or pass a local directory written by save_pretrained")


def open_clip_tag_weights(arch: str, tag: str) -> tuple[str, dict]:
    """Local file of an open_clip (arch, pretrained tag), and the tag's config (preprocessing,
    quick_gelu). Looks where open_clip's own download would have put it; never downloads."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise ModelError(f"open_clip has no pretrained tag {tag!r} for {arch!r}; known: {', '.join(tags) or 'none'}")
    for path in _open_clip_candidates(cfg):
        if path and Path(path).is_file():
            return path, cfg
    raise WeightsNotFoundError(
        f"weights for open_clip {arch}/{tag} are not cached (looked in {hf_cache_dir()} and "
        f"{open_clip_url_cache_dir()}); run `vtg models download {arch}/{tag}` (needs network), or "
        f"pass a local file as open_clip:{arch}@/path/to/weights.safetensors")


def _open_clip_candidates(cfg: dict):
    if cfg.get("file"):
        yield cfg["file"]
    hub = cfg.get("hf_hub", "")
    if hub:
        repo, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub.rstrip("/"), "")
        names = [filename] if filename else list(OPEN_CLIP_WEIGHT_FILES)
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        for name in names:
            yield hf_cached_file(repo, name)
    if cfg.get("url"):
        yield str(open_clip_url_cache_dir() / os.path.basename(cfg["url"]))


def open_clip_hub_dir(repo_id: str) -> str:
    """The cached snapshot folder of an ``open_clip:hf-hub:`` model (config + weights)."""
    config = hf_cached_file(repo_id, "open_clip_config.json")
    weights = next((w for w in (hf_cached_file(repo_id, n) for n in OPEN_CLIP_WEIGHT_FILES) if w), None)
    if not config or not weights:
        raise WeightsNotFoundError(missing_hf_message(repo_id).replace("save_pretrained", "open_clip"))
    return str(Path(config).parent)


def fingerprint(*paths: str | Path) -> str:
    """Size and mtime of the weight files: changes when the weights under a path are replaced."""
    parts = []
    for p in paths:
        try:
            st = Path(p).stat()
            parts.append(f"{Path(p).name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{Path(p).name}:?")
    return ";".join(parts)


def spec_fingerprint(parsed) -> str:
    """Fingerprint of the weight files a parsed spec resolves to (no model is loaded).

    Raises WeightsNotFoundError when they are missing, as loading would."""
    if parsed.family != "open_clip":
        return fingerprint(require_hf_model(parsed.source, parsed.is_local))
    if parsed.kind == "tag":
        return fingerprint(open_clip_tag_weights(parsed.arch, parsed.tag)[0])
    if parsed.kind == "file":
        return fingerprint(parsed.source)
    folder = Path(open_clip_hub_dir(parsed.source) if parsed.kind == "hub" else parsed.source)
    return fingerprint(*sorted(p for p in folder.iterdir() if p.name.startswith("open_clip")))

"""Encoder spec strings: parse what the user typed into a family plus a model source.

Accepted forms (``--encoder`` and ``load_encoder``):

* ``ViT-B-32/openai``, ``open_clip:ViT-B-32/openai`` — an open_clip architecture and pretrained tag,
  in open_clip's own naming.
* ``open_clip:hf-hub:org/name`` — an open_clip model published on the Hugging Face hub.
* ``open_clip:local-dir:/dir`` or a directory holding ``open_clip_config.json`` plus weights.
* ``open_clip:ARCH@/path/weights.safetensors`` — an architecture (built-in name, or a model-config
  JSON file as in open_clip's ``model_configs/``) with a local weights file.
* ``hf-clip:<id or dir>``, ``hf-siglip:<id or dir>``, ``blip2:<id or dir>`` (``blip2`` alone means
  TFVTG's ``Salesforce/blip2-itm-vit-g-coco``) — transformers models.
* a bare directory written by transformers' ``save_pretrained``: the family comes from its
  ``config.json`` ``model_type``.
* a short name from :mod:`vtg.encoders.registry` (``vtg models`` lists them), e.g. ``clip-vit-b-32``.

The canonical form (absolute paths, explicit family prefix) is what feature-cache keys use, so the
same model typed two ways shares one cache entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vtg.encoders import hub, weights
from vtg.encoders.open_clip_table import is_architecture
from vtg.encoders.registry import KNOWN_MODELS
from vtg.encoders.weights import hf_cached_file
from vtg.errors import UnknownNameError, UsageError, WeightsNotFoundError

FAMILIES = ("open_clip", "hf-clip", "hf-siglip", "blip2")
DEFAULT_BLIP2 = "Salesforce/blip2-itm-vit-g-coco"

#: transformers ``model_type`` -> family, for bare directories and cached hub ids.
MODEL_TYPES = {"clip": "hf-clip", "siglip": "hf-siglip", "blip-2": "blip2"}
_PREFIXES = {"open_clip": "open_clip", "open-clip": "open_clip", "openclip": "open_clip",
             "hf-clip": "hf-clip", "hf-siglip": "hf-siglip", "siglip": "hf-siglip", "blip2": "blip2",
             "blip-2": "blip2"}


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed spec. ``source`` is a hub id or an absolute local path; for open_clip ``kind`` says
    which of ``tag`` (arch + pretrained tag), ``hub``, ``dir`` or ``file`` (arch + weights file)."""

    family: str
    source: str
    kind: str = "hub"
    arch: str | None = None
    tag: str | None = None

    def architecture(self) -> str:
        """``arch`` of a ``tag`` or ``file`` spec (:func:`parse_spec` always sets it for them)."""
        if self.arch is None:
            raise UsageError(f"encoder spec {self.source!r} names no open_clip architecture")
        return self.arch

    def pretrained_tag(self) -> tuple[str, str]:
        """``(arch, tag)`` of a ``tag`` spec."""
        if self.tag is None:
            raise UsageError(f"encoder spec {self.source!r} names no open_clip pretrained tag")
        return self.architecture(), self.tag

    @property
    def is_local(self) -> bool:
        return self.kind in ("dir", "file")

    @property
    def canonical(self) -> str:
        if self.family != "open_clip":
            return f"{self.family}:{self.source}"
        if self.kind == "tag":
            return f"open_clip:{self.arch}/{self.tag}"
        if self.kind == "hub":
            return f"open_clip:hf-hub:{self.source}"
        if self.kind == "dir":
            return f"open_clip:local-dir:{self.source}"
        return f"open_clip:{self.arch}@{self.source}"


def parse_spec(spec: str) -> EncoderSpec:
    """Turn a user's encoder string into an :class:`EncoderSpec` (no model is loaded)."""
    if not isinstance(spec, str) or not spec.strip():
        raise UsageError("the encoder spec is empty; e.g. --encoder ViT-B-32/openai (see `vtg models`)")
    text = spec.strip()

    entry = KNOWN_MODELS.get(text)
    if entry is not None:
        if not entry.spec:
            raise UsageError(f"{text!r} is a {entry.kind}, not a frame/text encoder")
        text = entry.spec
    prefix, sep, rest = text.partition(":")
    if sep and prefix.lower() in _PREFIXES:
        family = _PREFIXES[prefix.lower()]
        return _parse_open_clip(rest.strip()) if family == "open_clip" else _parse_hf(family, rest.strip())
    if text.lower() in _PREFIXES and _PREFIXES[text.lower()] == "blip2":
        return EncoderSpec("blip2", DEFAULT_BLIP2)
    if text.startswith("hf-hub:") or text.startswith("local-dir:"):
        return _parse_open_clip(text)
    return _parse_bare(text, spec)


def _parse_hf(family: str, rest: str) -> EncoderSpec:
    if not rest:
        if family == "blip2":
            return EncoderSpec("blip2", DEFAULT_BLIP2)
        raise UsageError(f"{family}: needs a model id or a directory, e.g. {family}:openai/clip-vit-base-patch32")
    path = Path(rest).expanduser()
    if path.exists() or _looks_like_path(rest):
        if not path.is_dir():
            raise UsageError(f"{family}: {rest} is not a directory written by save_pretrained")
        return EncoderSpec(family, str(path.resolve()), kind="dir")
    return EncoderSpec(family, rest, kind="hub")


def _parse_open_clip(rest: str) -> EncoderSpec:
    if rest.startswith("hf-hub:"):
        return EncoderSpec("open_clip", rest[len("hf-hub:"):].strip("/"), kind="hub")
    if rest.startswith("local-dir:"):
        return _open_clip_dir(Path(rest[len("local-dir:"):]).expanduser())
    if "@" in rest:
        arch, _, weights = rest.partition("@")
        wpath = Path(weights).expanduser()
        if not wpath.is_file():
            raise WeightsNotFoundError(f"open_clip weights file not found: {weights} (spec open_clip:{rest})")
        arch = arch.strip()
        if arch.endswith(".json"):
            arch = str(Path(arch).expanduser().resolve())
        return EncoderSpec("open_clip", str(wpath.resolve()), kind="file", arch=arch)
    path = Path(rest).expanduser()
    if path.is_dir():
        return _open_clip_dir(path)
    arch, sep, tag = rest.partition("/")
    if not sep or not tag:
        raise UsageError(f"open_clip spec {rest!r} needs a pretrained tag, e.g. ViT-B-32/openai; "
                         "`python -c 'import open_clip; print(open_clip.list_pretrained())'` lists them")
    return EncoderSpec("open_clip", f"{arch}/{tag}", kind="tag", arch=arch, tag=tag)


def _open_clip_dir(path: Path) -> EncoderSpec:
    if not (path / "open_clip_config.json").is_file():
        raise UsageError(f"{path} is not an open_clip model directory (no open_clip_config.json)")
    return EncoderSpec("open_clip", str(path.resolve()), kind="dir")


def _parse_bare(text: str, original: str) -> EncoderSpec:
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / "open_clip_config.json").is_file():
            return _open_clip_dir(path)
        family = _family_from_config(path / "config.json")
        if family is None:
            raise UsageError(f"{path} is not a model directory vtg knows (config.json model_type must be one of "
                             f"{', '.join(MODEL_TYPES)}, or the directory must hold open_clip_config.json)")
        return EncoderSpec(family, str(path.resolve()), kind="dir")
    if _looks_like_path(text):
        raise UsageError(f"encoder directory not found: {text}")
    cached = _family_of_cached_hub_id(text)
    if cached is not None:
        return EncoderSpec(cached, text, kind="hub")
    arch, sep, tag = text.partition("/")
    if sep and _is_open_clip_arch(arch):
        return EncoderSpec("open_clip", text, kind="tag", arch=arch, tag=tag)
    if not sep and _is_open_clip_arch(text):
        return _parse_open_clip(text)  # raises: an architecture needs a pretrained tag
    remote = _family_of_remote_hub_id(text)
    if remote is not None:
        return EncoderSpec(remote, text, kind="hub")

    known = [n for n, e in KNOWN_MODELS.items() if e.spec]
    raise UnknownNameError("encoder", original, known + ["open_clip:<arch>/<tag>", "hf-clip:<id>",
                                                          "hf-siglip:<id>", "blip2:<id>", "<model dir>"])


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~")) or text.endswith((".json", ".safetensors", ".bin", ".pt"))


def _family_from_config(config_path: Path) -> str | None:
    try:
        model_type = json.loads(config_path.read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None
    return MODEL_TYPES.get(model_type)


def _family_of_cached_hub_id(text: str) -> str | None:
    """A bare ``org/name`` already in the local HF cache: read its config for the family."""
    if text.count("/") != 1:
        return None

    config = hf_cached_file(text, "config.json")
    return _family_from_config(Path(config)) if config else None


def _family_of_remote_hub_id(text: str) -> str | None:
    """A bare ``org/name`` not cached yet: its family from the hub's ``config.json`` (first use),
    or None when downloads are off or no such repo exists (then the name is reported unknown)."""
    if text.count("/") != 1:
        return None
    if weights.offline_mode():
        raise WeightsNotFoundError(hub.offline_message(text) + " (or, if it is not a hub model, see `vtg models` "
                                   "for the encoder names vtg knows)")
    try:
        config = hub.fetch_file(text, "config.json", cache_dir=weights.hf_cache_dir())
    except hub.RepoNotFoundError:
        return None
    family = _family_from_config(Path(config)) if config else None
    if family is None:
        raise UsageError(f"{text} on the hub is not a model vtg encodes with (config.json model_type must be one "
                         f"of {', '.join(MODEL_TYPES)}); open_clip hub models are open_clip:hf-hub:{text}")
    return family


def _is_open_clip_arch(arch: str) -> bool:
    return is_architecture(arch)

"""CLIP-style encoders through open_clip (Radford et al. 2021; Cherti et al. 2023).

Model strings use open_clip's own naming (``ViT-B-32/openai``, ``hf-hub:org/name``,
``local-dir:/dir``) plus ``ARCH@/path/weights`` for a local weights file. Weights resolve only from
local files (see :mod:`vtg.encoders.weights`); the frames go through the model's own validation
transform (resize, centre crop, normalise with the tag's mean/std).

Deviation from calling ``open_clip.create_model('ViT-B-32', pretrained='openai')`` directly: open_clip
3.x only *warns* when a tag was trained with QuickGELU but the architecture config uses GELU, and
then computes features with the wrong activation. Here the tag's ``quick_gelu`` flag is applied, so
``ViT-B-32/openai`` gives the features of OpenAI's released model.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import tempfile
from pathlib import Path

import numpy as np

from vtg.determinism import fixed_threads
from vtg.device import precision_name
from vtg.encoders import weights
from vtg.encoders.base import Encoder, as_texts, l2_normalize, skipped_weight_init
from vtg.encoders.clip_text import build_tower, builtin_model_config, clip_tokenizer, read_text_state, text_tower_config
from vtg.encoders.fetch import fetch_fingerprint
from vtg.encoders.open_clip_import import import_open_clip, needs_full_import
from vtg.encoders.preprocess import for_open_clip
from vtg.encoders.specs import EncoderSpec
from vtg.errors import CheckpointError, ModelError, WeightsNotFoundError
from vtg.modelsize import check_config_counts, check_module


class OpenClipEncoder(Encoder):
    family = "open_clip"

    def __init__(self, spec: str, model, preprocess, tokenizer, device: str, dtype, dim: int, fingerprint: str):
        """``model`` is an open_clip model, or a :class:`~vtg.encoders.clip_text_model.ClipTextTower`
        (text-only, ``preprocess`` None)."""
        super().__init__(spec, device, dtype, dim, fingerprint=fingerprint)
        self.model, self.preprocess = model, preprocess
        self._tokenizer = tokenizer
        self.image_transform = for_open_clip(preprocess)

    @property
    def tokenizer(self):
        """open_clip's tokenizer, built on first use when given as :class:`_LazyTokenizer` (reading
        the BPE vocabulary costs ~0.1 s that indexing frames never needs)."""
        if isinstance(self._tokenizer, _LazyTokenizer):
            self._tokenizer = self._tokenizer.build()
        return self._tokenizer

    def _reference_pixels(self, frames: np.ndarray):
        import torch
        from PIL import Image

        pixels = torch.stack([self.preprocess(Image.fromarray(f)) for f in frames])
        return pixels.to(self.device, dtype=self.dtype)

    def _forward(self, pixels):
        return l2_normalize(self.model.encode_image(pixels))

    def _encode_text_batch(self, texts: list[str]):
        tokens = self.tokenizer(texts).to(self.device)
        return l2_normalize(self.model.encode_text(tokens))

    def encode_text_tokens(self, texts: list[str] | str) -> list[np.ndarray]:
        """Per-token outputs of the text transformer after ``ln_final``, before pooling/projection.

        Each sentence keeps its real tokens: start token through end-of-text token (padding dropped),
        the query representation Moment-DETR/UniVTG use (Lin et al. 2023, Sec. 4).
        """
        import torch

        texts = as_texts(texts)
        if not texts:
            return []
        tokens = self.tokenizer(texts).to(self.device)
        with torch.inference_mode(), fixed_threads(self.device):
            hidden = _text_token_states(self.model, tokens).float().cpu().numpy()
        lengths = _token_lengths(self.model, tokens.cpu())
        return [hidden[i, :n].astype(np.float32) for i, n in enumerate(lengths)]


def _text_token_states(model, tokens):
    """Mirror of ``CLIP.encode_text`` without the pooling and projection."""
    if hasattr(model, "token_embedding"):
        cast_dtype = model.transformer.get_cast_dtype()
        x = model.token_embedding(tokens).to(cast_dtype)
        x = x + model.positional_embedding.to(cast_dtype)
        x = model.transformer(x, attn_mask=model.attn_mask)
        return model.ln_final(x)
    text = getattr(model, "text", None)
    if text is not None and hasattr(text, "output_tokens"):
        previous = text.output_tokens
        text.output_tokens = True
        try:
            _, hidden = text(tokens)
        finally:
            text.output_tokens = previous
        return hidden
    raise ModelError(f"{type(model).__name__} does not expose per-token text features")


class _LazyTokenizer:
    """``open_clip.get_tokenizer(name)``, called when the encoder first needs it."""

    def __init__(self, open_clip, name: str, spec: str):
        self.open_clip, self.name, self.spec = open_clip, name, spec

    def build(self):
        try:
            return self.open_clip.get_tokenizer(self.name)
        except (RuntimeError, ValueError, KeyError, OSError) as exc:
            raise CheckpointError(f"cannot load the tokenizer of open_clip model {self.spec}: {exc}") from exc


def _token_lengths(model, tokens) -> list[int]:
    pool = getattr(model, "text_pool_type", "argmax")
    if pool == "argmax":
        return (tokens.argmax(dim=-1) + 1).tolist()
    eos = getattr(model, "text_eos_id", None)
    if pool == "eos" and eos is not None:
        return ((tokens == eos).int().argmax(dim=-1) + 1).tolist()
    return (tokens != 0).sum(dim=-1).clamp(min=1).tolist()


def load(parsed: EncoderSpec, device: str, dtype) -> OpenClipEncoder:
    """Build the model, its validation transform and tokenizer from local files only."""
    # open_clip's "fp16"/"bf16" (vtg's names too): OpenAI's mixed precision, LayerNorms in float32
    kwargs: dict = dict(precision=precision_name(dtype), device=device, pretrained_text=False, weights_only=True)
    if parsed.kind == "tag":
        path, cfg = weights.open_clip_tag_weights(*parsed.pretrained_tag())
        name = tok_name = parsed.architecture()
        kwargs.update(pretrained=path, force_quick_gelu=bool(cfg.get("quick_gelu")),
                      **{f"image_{k}": cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if cfg.get(k)})
    elif parsed.kind in ("hub", "dir"):
        folder = weights.open_clip_hub_dir(parsed.source) if parsed.kind == "hub" else parsed.source
        if _checkpoint_in_dir(Path(folder)) is None:  # open_clip would only warn and keep random weights
            raise WeightsNotFoundError(f"no weights in {folder} (expected open_clip_model.safetensors or "
                                       "open_clip_pytorch_model.bin beside open_clip_config.json)")
        name = tok_name = f"local-dir:{folder}"
    else:
        name = tok_name = _arch_name(parsed.architecture())
        kwargs.update(pretrained=parsed.source)
    fp = fetch_fingerprint(parsed)
    _check_size(parsed, name, kwargs, dtype)
    open_clip = _open_clip(parsed)
    try:
        with skipped_weight_init():  # every weight comes from the checkpoint (open_clip loads it strictly)
            model, _, preprocess = open_clip.create_model_and_transforms(name, **kwargs)
        tokenizer = _LazyTokenizer(open_clip, tok_name, parsed.canonical)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"cannot load open_clip model {parsed.canonical}: {exc}") from exc
    except (pickle.UnpicklingError, EOFError) as exc:  # torch.load(weights_only=True) refused or hit the end
        raise CheckpointError(
            f"cannot load open_clip model {parsed.canonical}: the weights file is damaged or holds more than "
            f"tensors ({type(exc).__name__}); vtg loads checkpoints with weights_only=True and never runs code "
            "from them - use a .safetensors file or a plain state dict") from None
    model.eval()
    dim = _embed_dim(model)
    return OpenClipEncoder(parsed.canonical, model, preprocess, tokenizer, device, dtype, dim, fp)


def load_text(parsed: EncoderSpec, device: str, dtype) -> OpenClipEncoder:
    """Only the text tower (:mod:`vtg.encoders.clip_text`): no ``import open_clip`` for local
    models, no vision weights read, no random initialisation. Models whose text side that module
    does not reproduce (custom or HF text towers, other tokenizers, TorchScript checkpoints) load
    in full through :func:`load`, which encodes text just the same."""
    fp = fetch_fingerprint(parsed)  # missing weights fail here, as a full load would
    found = _config_and_weights(parsed)
    cfg = text_tower_config(found[0]) if found else None
    if found is None or cfg is None:
        return load(parsed, device, dtype)
    from vtg.encoders.clip_text_model import ClipTextTower

    check_module(lambda: ClipTextTower(**cfg), dtype, f"the text tower of {parsed.canonical}", [found[1]])
    try:
        tower = build_tower(cfg, read_text_state(found[1]), device, dtype)
    except CheckpointError:  # a layout the tower does not read: open_clip converts it, or says what is wrong
        return load(parsed, device, dtype)
    enc = OpenClipEncoder(parsed.canonical, tower, None, clip_tokenizer(cfg["context_length"]), device, dtype,
                          cfg["embed_dim"], fp)
    enc.text_only = True
    return enc


def _check_size(parsed: EncoderSpec, name: str, kwargs: dict, dtype) -> None:
    """The model's size from its config, built on the meta device, against the ceiling; the
    weights' tensor shapes against it (:mod:`vtg.modelsize`), before open_clip reads any weight."""
    found = _config_and_weights(parsed)
    open_clip = _open_clip(parsed)
    if found is not None:
        check_config_counts(found[0], parsed.canonical)
    import inspect

    build_kwargs = {k: v for k, v in kwargs.items() if k not in ("pretrained", "device", "weights_only")
                    and not k.startswith("image_")}
    if "load_weights" in inspect.signature(open_clip.create_model).parameters:  # open_clip >= 3
        build_kwargs["load_weights"] = False
    weight_files = [found[1]] if found else []
    check_module(lambda: open_clip.create_model(name, device="meta", **build_kwargs), dtype, parsed.canonical,
                 weight_files, prefixes=("", "module."))


def _open_clip(parsed: EncoderSpec):
    """The open_clip module, imported without transformers, timm and torchvision's model zoo when
    the model needs none of them (:mod:`vtg.encoders.open_clip_import`: seconds of start-up)."""
    found = _config_and_weights(parsed)
    return import_open_clip(light=not needs_full_import(found[0] if found else None))


def _config_and_weights(parsed: EncoderSpec) -> tuple[dict, str] | None:
    """(model config, weights file) as open_clip would resolve them for ``parsed``, or None."""

    if parsed.kind in ("dir", "hub"):
        folder = Path(weights.open_clip_hub_dir(parsed.source) if parsed.kind == "hub" else parsed.source)
        try:
            cfg = json.loads((folder / "open_clip_config.json").read_text())["model_cfg"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        path = _checkpoint_in_dir(folder)
        return (cfg, path) if path else None
    if parsed.kind == "file":
        arch = parsed.architecture()
        if arch.endswith(".json"):
            try:
                return json.loads(Path(arch).read_text()), parsed.source
            except (OSError, ValueError):
                return None
        cfg = builtin_model_config(arch.replace("/", "-"))
        return (cfg, parsed.source) if cfg else None
    arch, tag = parsed.pretrained_tag()
    path, tag_cfg = weights.open_clip_tag_weights(arch, tag)
    cfg = builtin_model_config(arch.replace("/", "-"))
    if cfg is None:
        return None
    if tag_cfg.get("quick_gelu"):  # the tag's activation wins, as in load()
        cfg = dict(cfg, quick_gelu=True)
    return cfg, path


def _checkpoint_in_dir(folder: Path) -> str | None:
    """The weights file open_clip picks in a model directory (its preferred names first)."""
    preferred = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin",
                 "open_clip_pytorch_model.pth", "model.safetensors", "pytorch_model.bin", "pytorch_model.pth",
                 "model.pth")
    for name in preferred:
        if (folder / name).is_file():
            return str(folder / name)
    others = sorted(p for ext in ("*.safetensors", "*.bin", "*.pth") for p in folder.glob(ext) if p.is_file())
    others.sort(key=lambda p: p.suffix != ".safetensors")
    return str(others[0]) if others else None


def _arch_name(arch: str) -> str:
    """A built-in architecture name, or a model-config JSON registered under a unique name."""
    if not arch.endswith(".json"):
        return arch

    try:
        cfg = json.loads(Path(arch).read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read open_clip model config {arch}: {exc}") from exc
    open_clip = import_open_clip(light=not needs_full_import(cfg))
    name = "vtg-" + hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]
    if open_clip.get_model_config(name) is None:
        folder = Path(tempfile.mkdtemp(prefix="vtg-open-clip-cfg-"))
        (folder / f"{name}.json").write_text(json.dumps(cfg))
        open_clip.add_model_config(folder / f"{name}.json")
    return name


def _embed_dim(model) -> int:
    """Width of the joint embedding space (the image tower's output)."""
    for tower in ("visual", "text"):
        out = getattr(getattr(model, tower, None), "output_dim", None)
        if out:
            return int(out)
    proj = getattr(model, "text_projection", None)
    if proj is not None and getattr(proj, "ndim", 0) == 2:
        return int(proj.shape[1])
    raise ModelError(f"cannot tell the embedding width of {type(model).__name__}")

"""The text side of a transformers-format CLIP or SigLIP, built without importing transformers.

Why: a query on a video whose frame features are cached needs one sentence embedding, yet
``from transformers import CLIPTextModelWithProjection`` pulls in transformers' modeling stack
(issue 22: 2.5 s of a 5.3 s cold query, when ``import torch`` takes 1.7 s). This module reads
``config.json``, takes only the ``text_model.*`` and ``text_projection`` tensors from
``model.safetensors`` (the image weights are never read), builds the tower of
:mod:`vtg.encoders.hf_text_model` on the meta device (no random initialisation), assigns the
weights, and tokenises with the ``tokenizers`` library from the checkpoint's ``tokenizer.json``,
padded and truncated as :class:`vtg.encoders.hf_clip.HFClipEncoder` asks transformers to (CLIP:
to the longest sentence; SigLIP: to ``max_length``). Tests compare it with transformers' own
text model (max abs diff <= 1e-5).

What it does not reproduce returns None from :func:`text_setup` and the caller loads the text
model through transformers, as before: other model types, unknown activations, sharded or
non-safetensors weights, no ``tokenizer.json``, or a tokenizer class that transformers rebuilds
in its own way (SigLIP's SentencePiece tokenizer): only generic fast tokenizers and CLIP's
byte-level BPE (whose ``tokenizer.json`` is what transformers' CLIP tokenizer builds) are read here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from vtg.determinism import fixed_threads
from vtg.encoders import weights
from vtg.encoders.base import Encoder, as_texts, l2_normalize, skipped_weight_init
from vtg.encoders.specs import EncoderSpec
from vtg.errors import CheckpointError
from vtg.modelsize import check_module

log = logging.getLogger(__name__)

#: transformers' text-config defaults (CLIPTextConfig / SiglipTextConfig), for fields a config omits.
_DEFAULTS = {
    "hf-clip": {"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
                "num_attention_heads": 8, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                "layer_norm_eps": 1e-5, "eos_token_id": 49407},
    "hf-siglip": {"vocab_size": 32000, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                  "num_attention_heads": 12, "max_position_embeddings": 64, "hidden_act": "gelu_pytorch_tanh",
                  "layer_norm_eps": 1e-6, "eos_token_id": 49407},
}
_MODEL_TYPES = {"hf-clip": "clip", "hf-siglip": "siglip"}
#: Tokenizer classes whose transformers tokenizer is the ``tokenizer.json`` file as saved.
_TOKENIZERS = {"hf-clip": {"PreTrainedTokenizerFast", "TokenizersBackend", "CLIPTokenizer", "CLIPTokenizerFast"},
               "hf-siglip": {"PreTrainedTokenizerFast", "TokenizersBackend"}}
#: Switch for benchmarks (before/after in one run) and for comparing with transformers.
ENABLED = True


class TextTokenizer:
    """``tokenizer.json`` through the ``tokenizers`` library, padded and truncated like vtg's
    transformers path: ``ids(texts)`` -> int64 tensor [N, L]."""

    def __init__(self, path: Path, pad_token: str, max_length: int, pad_to_max: bool, eos_token: str | None = None):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(path))
        self.eos_id = self.tokenizer.token_to_id(eos_token) if eos_token else None
        pad_id = self.tokenizer.token_to_id(pad_token)
        if pad_id is None:
            raise CheckpointError(f"{path}: the pad token {pad_token!r} is not in the vocabulary")
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token, length=max_length if pad_to_max else None)

    def ids(self, texts: list[str]):
        return self.encode(texts)[0]

    def encode(self, texts: list[str]):
        """(ids [N, L] int64 tensor, real tokens per row: the attention mask's sums)."""
        import torch

        encodings = self.tokenizer.encode_batch(texts)
        return (torch.tensor([e.ids for e in encodings], dtype=torch.long),
                [sum(e.attention_mask) for e in encodings])


def open_tokenizer(path: Path, pad_token: str, max_length: int, *, pad_to_max: bool,
                   eos_token: str | None = None) -> TextTokenizer | None:
    """:class:`TextTokenizer`, or None when the ``tokenizers`` library cannot read the file (the
    caller falls back to transformers, which reports what is wrong with it)."""
    try:
        return TextTokenizer(path, pad_token, max_length, pad_to_max, eos_token)
    except Exception as exc:  # tokenizers raises its own exception types on a damaged file
        log.info("%s: %s; loading the tokenizer through transformers", path, str(exc).splitlines()[0][:200] if str(exc) else exc)
        return None


def text_setup(parsed: EncoderSpec, folder: Path) -> dict | None:
    """The tower's config (with ``projection_dim`` and ``family``) and its tokenizer settings when
    this module reproduces the checkpoint in ``folder``; None otherwise (transformers loads it)."""
    if not ENABLED or parsed.family not in _MODEL_TYPES:
        return None
    config = read_json_object(folder / "config.json")
    tok_config = read_json_object(folder / "tokenizer_config.json")
    if config is None or tok_config is None or config.get("model_type") != _MODEL_TYPES[parsed.family]:
        return None
    if tok_config.get("tokenizer_class") not in _TOKENIZERS[parsed.family] or not (folder / "tokenizer.json").is_file():
        return None
    text = dict(config.get("text_config") or {})
    cfg: dict[str, Any] = {k: text.get(k, v) for k, v in _DEFAULTS[parsed.family].items()}
    if parsed.family == "hf-clip":
        cfg["projection_dim"] = config.get("projection_dim", 512)
    else:
        cfg["projection_dim"] = text.get("projection_size") or cfg["hidden_size"]
    from vtg.encoders.hf_text_model import ACTIVATIONS

    sizes = [k for k, v in _DEFAULTS[parsed.family].items() if isinstance(v, int)] + ["projection_dim"]
    if not all(type(cfg[k]) is int and cfg[k] >= 0 for k in sizes) or type(cfg["layer_norm_eps"]) not in (int, float):
        return None  # odd values: transformers' own loader reports them
    if cfg["hidden_act"] not in ACTIVATIONS or min(cfg[k] for k in sizes if k != "eos_token_id") < 1:
        return None
    if cfg["hidden_size"] % cfg["num_attention_heads"]:
        return None
    pad, eos = (special_token(tok_config.get(name)) for name in ("pad_token", "eos_token"))
    if pad is None:
        return None
    cfg["family"] = parsed.family
    return {"model": cfg, "pad_token": pad, "eos_token": eos}


def special_token(value: Any) -> str | None:
    """A special token of ``tokenizer_config.json``: a string, or an AddedToken dict (older files)."""
    value = value.get("content") if isinstance(value, dict) else value
    return value if isinstance(value, str) else None


def read_json_object(path: Path) -> dict | None:
    """A JSON object from a model folder's file (config, tokenizer config); None when the file is
    missing, unreadable or not an object, so the caller falls back to transformers' own loader."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


#: Where a ``CLIPModel`` / ``SiglipModel`` checkpoint keeps its text weights.
TEXT_PREFIXES = ("text_model.", "text_projection.")


def read_text_state(path: Path, prefixes: tuple[str, ...] = TEXT_PREFIXES) -> dict:
    """Only the tensors whose names start with ``prefixes`` (the text side) of a safetensors file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k: fh.get_tensor(k) for k in fh.keys() if k.startswith(prefixes)}
    except Exception as exc:  # safetensors raises its own error types on damaged headers
        raise CheckpointError(f"cannot read {path}: {exc}") from None


def build_tower(factory, cfg: dict, state: dict, device: str, dtype):
    """``factory(cfg)`` built on the meta device with ``state``'s weights assigned; CheckpointError
    when a text weight is missing or of another shape (never a random initialisation)."""
    import torch

    with torch.device("meta"), skipped_weight_init():
        tower = factory(cfg)
    names = tower.state_dict()
    missing = [k for k in names if k not in state]
    if missing:
        raise CheckpointError(f"the checkpoint lacks text weights: {', '.join(missing[:5])}")
    try:
        tower.load_state_dict({k: state[k] for k in names}, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(f"text weights do not match the config: {str(exc).splitlines()[0]}") from None
    return tower.to(device=device, dtype=dtype).eval()


class HFTextEncoder(Encoder):
    """The text side of a transformers CLIP: sentences -> joint embeddings, per-token states."""

    family = "hf-clip"

    def __init__(self, spec: str, tower, tokenizer: TextTokenizer, device: str, dtype, dim: int, fingerprint: str):
        super().__init__(spec, device, dtype, dim, fingerprint=fingerprint)
        self.model, self.tokenizer = tower, tokenizer
        self.text_only = True

    def _encode_text_batch(self, texts: list[str]):
        return l2_normalize(self.model.embed(self.tokenizer.ids(texts).to(self.device)))

    def encode_text_tokens(self, texts: list[str] | str) -> list[np.ndarray]:
        """Last hidden states (after the final layer norm) of the real tokens, up to and including
        the first end-of-text token."""
        import torch

        texts = as_texts(texts)
        if not texts:
            return []
        ids, real = self.tokenizer.encode(texts)
        with torch.inference_mode(), fixed_threads(self.device):
            hidden = self.model.hidden(ids.to(self.device)).float().cpu().numpy()
        return [hidden[i, :n].astype(np.float32) for i, n in enumerate(self._lengths(ids, real))]

    def _lengths(self, ids, real: list[int]) -> list[int]:
        """CLIP: the real tokens (the attention mask), as :class:`~vtg.encoders.hf_clip.HFClipEncoder`."""
        return real


class HFSiglipTextEncoder(HFTextEncoder):
    family = "hf-siglip"

    def _lengths(self, ids, real: list[int]) -> list[int]:
        """Up to and including the first end-of-sentence token (SigLIP pads with it too)."""
        eos = self.tokenizer.eos_id
        return [row.index(eos) + 1 if eos in row else len(row) for row in ids.tolist()]


def single_safetensors(parsed: EncoderSpec) -> Path | None:
    """The checkpoint's weights file when it is one ``model.safetensors`` (what the own towers read)."""
    weight_file = Path(weights.require_hf_model(parsed.source, parsed.is_local))
    return weight_file if ENABLED and weight_file.name == "model.safetensors" else None


def load_text(parsed: EncoderSpec, device: str, dtype) -> Encoder | None:
    """The text encoder of ``parsed`` built here, or None when this module does not reproduce it."""
    weight_file = single_safetensors(parsed)
    if weight_file is None:
        return None
    setup = text_setup(parsed, weight_file.parent)
    if setup is None:
        return None
    cfg = setup["model"]
    from vtg.encoders.hf_text_model import HFTextTower

    siglip = parsed.family == "hf-siglip"
    tokenizer = open_tokenizer(weight_file.parent / "tokenizer.json", setup["pad_token"],
                               int(cfg["max_position_embeddings"]), pad_to_max=siglip, eos_token=setup["eos_token"])
    if tokenizer is None:
        return None
    check_module(lambda: HFTextTower(cfg), dtype, f"the text tower of {parsed.canonical}", [weight_file])
    try:
        tower = build_tower(HFTextTower, cfg, read_text_state(weight_file), device, dtype)
    except CheckpointError as exc:  # transformers converts layouts this module does not read, or says why not
        log.info("text tower of %s: %s; loading it through transformers", parsed.canonical, exc)
        return None
    cls = HFSiglipTextEncoder if siglip else HFTextEncoder
    dim = int(cfg["projection_dim"])
    return cls(parsed.canonical, tower, tokenizer, device, dtype, dim, weights.fingerprint(str(weight_file)))

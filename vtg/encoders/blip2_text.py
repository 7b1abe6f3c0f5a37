"""The text path of BLIP-2's retrieval Q-Former (Li et al. 2023, Sec. 3.1-3.2, ITC), built without
importing transformers: TFVTG's default encoder answers a cached query at the cost of its text
path, not of transformers' modeling stack (issue 22).

The Q-Former's text side is a BERT encoder (Devlin et al. 2019): word + position embeddings,
a LayerNorm, then post-LayerNorm blocks (bidirectional self-attention over the real tokens, with
padding masked out; a GELU MLP), and the [CLS] state through ``text_projection``. The query
tokens and cross-attention are only used by the image side and are never read. Parameter names
are those of ``Blip2ForImageTextRetrieval`` checkpoints, so ``model.safetensors`` loads as is;
tests compare the result with transformers' ``Blip2TextModelWithProjection`` (max abs diff <= 1e-5).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vtg.encoders import weights
from vtg.encoders.base import Encoder, l2_normalize
from vtg.encoders.hf_text import (build_tower, open_tokenizer, read_json_object, read_text_state, single_safetensors,
                                  special_token)
from vtg.encoders.hf_text_model import ACTIVATIONS, activation
from vtg.encoders.specs import EncoderSpec
from vtg.errors import CheckpointError
from vtg.modelsize import check_module

log = logging.getLogger(__name__)

#: Blip2QFormerConfig's defaults, for fields a config omits.
DEFAULTS = {"vocab_size": 30522, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
            "num_attention_heads": 12, "max_position_embeddings": 512, "hidden_act": "gelu",
            "layer_norm_eps": 1e-12}
#: Tokenizer classes whose transformers tokenizer is the ``tokenizer.json`` file as saved.
TOKENIZERS = {"PreTrainedTokenizerFast", "TokenizersBackend"}
#: BERT's WordPiece tokenizer (BLIP-2's): transformers rebuilds it from the vocabulary with the
#: settings of ``tokenizer_config.json``, so the file is used only when it holds those settings.
BERT_TOKENIZERS = {"BertTokenizer", "BertTokenizerFast"}


def same_as_rebuilt_bert(tok_config: dict, folder: Path) -> bool:
    """Whether ``tokenizer.json`` is what transformers' BertTokenizer builds from ``tok_config``:
    BERT's normaliser with the configured lower-casing, accent stripping and CJK handling, BERT's
    pre-tokeniser and a WordPiece model with the ``##`` continuation prefix."""
    data = read_json_object(folder / "tokenizer.json") or {}
    norm, pre, model = (data.get(k) or {} for k in ("normalizer", "pre_tokenizer", "model"))
    return (isinstance(norm, dict) and norm.get("type") == "BertNormalizer" and norm.get("clean_text") is True
            and norm.get("lowercase") == tok_config.get("do_lower_case", True)
            and norm.get("strip_accents") == tok_config.get("strip_accents")
            and norm.get("handle_chinese_chars") == tok_config.get("tokenize_chinese_chars", True)
            and isinstance(pre, dict) and pre.get("type") == "BertPreTokenizer"
            and isinstance(model, dict) and model.get("type") == "WordPiece"
            and model.get("continuing_subword_prefix", "##") == "##")


class _Projection(nn.Module):
    """A Linear then LayerNorm of (its output + the block's input): BERT's post-norm residual."""

    def __init__(self, inner: int, width: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(inner, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int, eps: float):
        super().__init__()
        self.attention = _SelfAttention(width, heads)
        self.output = _Projection(width, width, eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        a = self.attention
        n, length, width = x.shape
        shape = (n, length, a.heads, width // a.heads)
        q, k, v = (p(x).view(shape).transpose(1, 2) for p in (a.query, a.key, a.value))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        return self.output(out.transpose(1, 2).reshape(n, length, width), x)


class _Intermediate(nn.Module):
    def __init__(self, width: int, inner: int, act: str):
        super().__init__()
        self.act = act
        self.dense = nn.Linear(width, inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return activation(self.act, self.dense(x))


class _Layer(nn.Module):
    def __init__(self, width: int, inner: int, heads: int, act: str, eps: float):
        super().__init__()
        self.attention = _Attention(width, heads, eps)
        self.intermediate = _Intermediate(width, inner, act)
        self.output = _Projection(inner, width, eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, keep)
        return self.output(self.intermediate(x), x)


class _Encoder(nn.Module):
    def __init__(self, layers: int, **kw):
        super().__init__()
        self.layer = nn.ModuleList([_Layer(**kw) for _ in range(layers)])


class _QFormer(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        width = int(cfg["hidden_size"])
        self.layernorm = nn.LayerNorm(width, eps=float(cfg["layer_norm_eps"]))
        self.encoder = _Encoder(int(cfg["num_hidden_layers"]), width=width, inner=int(cfg["intermediate_size"]),
                                heads=int(cfg["num_attention_heads"]), act=str(cfg["hidden_act"]),
                                eps=float(cfg["layer_norm_eps"]))


class _Embeddings(nn.Module):
    def __init__(self, vocab: int, width: int, positions: int):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, width)
        self.position_embeddings = nn.Embedding(positions, width)


class Blip2TextTower(nn.Module):
    """``embed(ids, mask)`` -> [N, D] unnormalised ITC text features, as
    ``Blip2TextModelWithProjection`` computes them before its normalisation."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.embeddings = _Embeddings(int(cfg["vocab_size"]), int(cfg["hidden_size"]),
                                      int(cfg["max_position_embeddings"]))
        self.qformer = _QFormer(cfg)
        self.text_projection = nn.Linear(int(cfg["hidden_size"]), int(cfg["projection_dim"]))

    def hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.embeddings.word_embeddings(ids) + self.embeddings.position_embeddings(positions)
        x = self.qformer.layernorm(x)
        keep = mask.bool()[:, None, None, :]  # every position attends to the real tokens only
        for layer in self.qformer.encoder.layer:
            x = layer(x, keep)
        return x

    def embed(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.text_projection(self.hidden(ids, mask)[:, 0])


def text_setup(folder: Path) -> dict | None:
    """The tower's config and tokenizer settings for the checkpoint in ``folder``, or None when
    this module does not reproduce it (transformers then loads the text model)."""
    config = read_json_object(folder / "config.json")
    tok_config = read_json_object(folder / "tokenizer_config.json")
    if config is None or tok_config is None or config.get("model_type") != "blip-2":
        return None
    kind = tok_config.get("tokenizer_class")
    if not (folder / "tokenizer.json").is_file():
        return None
    if kind not in TOKENIZERS and not (kind in BERT_TOKENIZERS and same_as_rebuilt_bert(tok_config, folder)):
        return None
    q = dict(config.get("qformer_config") or {})
    cfg: dict[str, Any] = {k: q.get(k, v) for k, v in DEFAULTS.items()}
    cfg["projection_dim"] = config.get("image_text_hidden_size", 256)
    sizes = [k for k, v in DEFAULTS.items() if isinstance(v, int)] + ["projection_dim"]
    if not all(type(cfg[k]) is int and cfg[k] >= 1 for k in sizes) or type(cfg["layer_norm_eps"]) not in (int, float):
        return None
    if cfg["hidden_act"] not in ACTIVATIONS or cfg["hidden_size"] % cfg["num_attention_heads"]:
        return None
    pad = special_token(tok_config.get("pad_token"))
    return None if pad is None else {"model": cfg, "pad_token": pad}


class Blip2TextEncoder(Encoder):
    """BLIP-2's text side (ITC): sentences -> [M, D] features scored against [N, 32, D] frames."""

    family = "blip2"
    multi_vector = True

    def __init__(self, spec: str, tower: Blip2TextTower, tokenizer, device: str, dtype, dim: int, fingerprint: str):
        super().__init__(spec, device, dtype, dim, fingerprint=fingerprint)
        self.model, self.tokenizer = tower, tokenizer
        self.text_only = True

    def _encode_text_batch(self, texts: list[str]):
        ids, real = self.tokenizer.encode(texts)
        mask = (torch.arange(ids.shape[1])[None] < torch.tensor(real)[:, None]).long()
        return l2_normalize(self.model.embed(ids.to(self.device), mask.to(self.device)))


def load_text(parsed: EncoderSpec, device: str, dtype, max_tokens: int) -> Encoder | None:
    """The text path of ``parsed`` built here, or None when this module does not reproduce it.

    ``max_tokens`` is the caller's truncation length (vtg.encoders.blip2 passes the reference
    setup's), so this module needs nothing from the transformers-based one that loads it."""
    weight_file = single_safetensors(parsed)
    setup = text_setup(weight_file.parent) if weight_file is not None else None
    if weight_file is None or setup is None:
        return None
    cfg = setup["model"]
    # TFVTG's reference truncates at 35 tokens (see vtg.encoders.blip2), padding to the longest
    tokenizer = open_tokenizer(weight_file.parent / "tokenizer.json", setup["pad_token"],
                               min(max_tokens, int(cfg["max_position_embeddings"])), pad_to_max=False)
    if tokenizer is None:
        return None
    check_module(lambda: Blip2TextTower(cfg), dtype, f"the text path of {parsed.canonical}", [weight_file])
    try:
        state = read_text_state(weight_file, ("embeddings.", "qformer.layernorm.", "qformer.encoder.", "text_projection."))
        tower = build_tower(Blip2TextTower, cfg, state, device, dtype)
    except CheckpointError as exc:
        log.info("text path of %s: %s; loading it through transformers", parsed.canonical, exc)
        return None
    return Blip2TextEncoder(parsed.canonical, tower, tokenizer, device, dtype, int(cfg["projection_dim"]),
                            weights.fingerprint(str(weight_file)))

"""Tiny randomly initialised models, saved the way real ones are, for tests and benchmarks.

Tests must not touch the network, yet should load models through the same ``--encoder`` path
users do. These builders create models from small configs, save them with ``save_pretrained`` (or
open_clip's ``open_clip_config.json`` + safetensors layout) and return the directory, which
:func:`vtg.encoders.load_encoder` accepts like any downloaded model. The tokenizer is a small
word-level one built with the ``tokenizers`` library (no vocabulary download). The weights are
random: features are meaningless, only shapes, normalisation and plumbing can be checked.
"""

from __future__ import annotations

import json
from pathlib import Path

from vtg.encoders.clip_text import ClipTokenizer, byte_symbols, open_clip_package_dir

WORDS = ("a person opens the door closes walks runs sits down stands up red green blue car dog cat "
         "man woman video frame kitchen table picks phone").split()

#: A ViT with one layer of width 32 on 32x32 images, and a one-layer text transformer.
TINY_OPEN_CLIP_CFG = {
    "embed_dim": 16,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def tiny_tokenizer(out: str | Path):
    """A word-level fast tokenizer: [CLS] words [SEP], padded with [PAD]; saved to ``out``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", bos_token="[CLS]", eos_token="[SEP]", model_max_length=32)
    fast.save_pretrained(str(out))
    return fast


def _tower(hidden: int = 32, **extra) -> dict:
    return dict(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=1, num_attention_heads=2, **extra)


def _token_ids(tok) -> dict:
    return dict(pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)


def tiny_hf_clip(out: str | Path, seed: int = 0) -> Path:
    """A transformers CLIPModel (32x32 images, projection 16) with its processor files."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(seed)
    tok = tiny_tokenizer(out)
    cfg = CLIPConfig(text_config=_tower(vocab_size=len(tok), max_position_embeddings=16, **_token_ids(tok)),
                     vision_config=_tower(image_size=32, patch_size=8), projection_dim=16)
    CLIPModel(cfg).save_pretrained(str(out))
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(str(out))
    return Path(out)


def tiny_hf_siglip(out: str | Path, seed: int = 0) -> Path:
    """A transformers SiglipModel (32x32 images, width 32) with its processor files."""
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    torch.manual_seed(seed)
    tok = tiny_tokenizer(out)
    cfg = SiglipConfig(text_config=_tower(vocab_size=len(tok), max_position_embeddings=16, **_token_ids(tok)),
                       vision_config=_tower(image_size=32, patch_size=8))
    SiglipModel(cfg).save_pretrained(str(out))
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(out))
    return Path(out)


def tiny_blip2(out: str | Path, seed: int = 0, num_query_tokens: int = 32) -> Path:
    """A Blip2ForImageTextRetrieval (ITM/ITC Q-Former, 32 queries, 16-d projections)."""
    import torch
    from transformers import Blip2Config, Blip2ForImageTextRetrieval, BlipImageProcessor

    torch.manual_seed(seed)
    tok = tiny_tokenizer(out)
    qformer = _tower(vocab_size=len(tok), encoder_hidden_size=32, max_position_embeddings=32,
                     cross_attention_frequency=1, pad_token_id=tok.pad_token_id, use_qformer_text_input=True)
    cfg = Blip2Config(vision_config=_tower(image_size=32, patch_size=8), qformer_config=qformer,
                      num_query_tokens=num_query_tokens, image_text_hidden_size=16)
    Blip2ForImageTextRetrieval(cfg).save_pretrained(str(out))
    BlipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(out))
    return Path(out)


def random_open_clip(out: str | Path, model_cfg: dict | None = None, seed: int = 0,
                     preprocess_cfg: dict | None = None) -> Path:
    """An open_clip model directory (``open_clip_config.json`` + ``open_clip_model.safetensors``),
    loadable as ``open_clip:local-dir:<out>`` or plainly ``<out>``. ``model_cfg`` defaults to
    :data:`TINY_OPEN_CLIP_CFG`; pass ``open_clip.get_model_config("ViT-B-32")`` for a full-size one."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    cfg = dict(model_cfg or TINY_OPEN_CLIP_CFG)
    model = open_clip.CLIP(**cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": preprocess_cfg or {}}))
    return out


BUILDERS = {"open_clip": random_open_clip, "hf-clip": tiny_hf_clip, "hf-siglip": tiny_hf_siglip, "blip2": tiny_blip2}


def clip_bpe_tokenizer(out: str | Path):
    """transformers' CLIP tokenizer (lower-cased byte-level BPE, 49,408 tokens) built from the merge
    list open_clip ships, saved to ``out`` as ``save_pretrained`` writes it (no download)."""
    import gzip

    from transformers import CLIPTokenizer

    folder = open_clip_package_dir()
    if folder is None:
        raise RuntimeError("open_clip is not installed: its BPE merge list is the vocabulary source")
    lines = gzip.open(folder / "bpe_simple_vocab_16e6.txt.gz").read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:ClipTokenizer.MERGES + 1]]
    symbols = list(byte_symbols().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    # transformers annotates ``merges`` as list[str] but hands it to tokenizers' BPE, which takes pairs
    tok = CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=merges)  # type: ignore[arg-type]
    tok.save_pretrained(str(out))
    return tok


def random_hf_clip(out: str | Path, seed: int = 0, **text_config) -> Path:
    """A transformers CLIPModel of ViT-B/32's size (CLIPConfig's defaults; ``text_config`` overrides)
    with random weights and CLIP's real tokenizer (:func:`clip_bpe_tokenizer`): full-size timings."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(seed)
    clip_bpe_tokenizer(out)
    CLIPModel(CLIPConfig(text_config=text_config or None)).save_pretrained(str(out))
    CLIPImageProcessor().save_pretrained(str(out))
    return Path(out)

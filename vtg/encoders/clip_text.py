"""The text tower of an open_clip CLIP model, built without importing open_clip.

Why: a query on a video whose frame features are cached needs only the sentence's embedding, but
``import open_clip`` alone pulls in torchvision, timm-style model zoos and transformers (seconds,
more than ``import torch`` itself), and building the whole model random-initialises the vision
tower that is never used. This module builds just what ``CLIP.encode_text`` runs, for the standard
text transformer of Radford et al. 2021 (Sec. 2.4: a causal 12-layer, 8-head transformer over
lower-cased byte-pair tokens, the [EOS] position's final state, layer-normed and projected into
the joint space), on the ``meta`` device, then assigns the checkpoint's text weights (read
selectively from safetensors, so the image weights are never loaded). Parameter names are
open_clip's, so the same state dict loads here and there; the result equals open_clip's
``encode_text`` (tests compare both to 1e-5, fp32 and fp16).

Configurations this tower does not reproduce (custom/HF text towers, non-default pooling or
attention variants, other tokenizers) return None from :func:`text_tower_config`, and the caller
falls back to the full open_clip model.
"""

from __future__ import annotations

import gzip
import html
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from vtg.encoders.base import skipped_weight_init
from vtg.errors import CheckpointError

#: Text-config fields and the values this tower implements (open_clip's defaults).
_DEFAULTS = {"embed_cls": False, "no_causal_mask": False, "pool_type": "argmax", "proj_type": "linear",
             "proj_bias": False, "ls_init_value": None, "final_ln_after_pool": False, "act_kwargs": None,
             "norm_kwargs": None, "hf_model_name": None, "hf_tokenizer_name": None, "tokenizer_mode": None,
             "tokenizer_kwargs": None, "block_type": None, "qk_norm": False, "scaled_cosine_attn": False,
             "scale_heads": False, "scale_attn_inner": False, "scale_attn": False, "scale_fc": False,
             "output_tokens": False, "pad_id": 0}
_SIZES = {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12, "mlp_ratio": 4.0}
_IGNORED = {"eos_id", "hf_model_pretrained", "hf_proj_type", "hf_pooler_type"}  # unused by this tower
_TEXT_PREFIXES = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.", "text_projection")


def open_clip_package_dir() -> Path | None:
    """Where open_clip is installed, found without importing it (its ``__init__`` is the slow part)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def builtin_model_config(arch: str) -> dict | None:
    """open_clip's shipped ``model_configs/<arch>.json``, read as a file."""
    folder = open_clip_package_dir()
    path = folder / "model_configs" / f"{arch}.json" if folder else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text())


def text_tower_config(model_cfg: dict) -> dict | None:
    """The tower's settings (sizes, embed_dim, quick_gelu) when this module reproduces the model's
    text side exactly; None for anything else (the caller then loads the full open_clip model)."""
    if model_cfg.get("custom_text") or "multimodal_cfg" in model_cfg:
        return None
    text = dict(model_cfg.get("text_cfg") or {})
    for key, value in text.items():
        if key in _DEFAULTS and value != _DEFAULTS[key] and not (key == "block_type" and value == "default"):
            return None
        if key not in _DEFAULTS and key not in _SIZES and key not in _IGNORED:
            return None
    cfg = {k: text.get(k, v) for k, v in _SIZES.items()}
    cfg.update(embed_dim=int(model_cfg["embed_dim"]), quick_gelu=bool(model_cfg.get("quick_gelu", False)))
    return cfg


def build_tower(cfg: dict, state: dict, device: str, dtype):
    """The text tower with ``state``'s weights assigned (no random initialisation ever runs)."""
    import torch

    from vtg.encoders.clip_text_model import ClipTextTower

    with torch.device("meta"), skipped_weight_init():
        tower = ClipTextTower(**cfg)
    missing = [k for k in tower.state_dict() if k not in state]
    if missing:
        raise CheckpointError(f"the checkpoint lacks text weights: {', '.join(missing[:5])}")
    try:
        tower.load_state_dict({k: state[k] for k in tower.state_dict()}, strict=True, assign=True)
    except RuntimeError as exc:  # shapes that do not match the config
        raise CheckpointError(f"text weights do not match the model config: {exc}") from None
    tower.finish(device, dtype)
    return tower.eval()


def read_text_state(path: str | Path) -> dict:
    """The text weights of a CLIP checkpoint: only those tensors are read from a safetensors file;
    other formats load with ``weights_only=True`` (never running code from the file)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                return {_strip(k): fh.get_tensor(k) for k in fh.keys() if _strip(k).startswith(_TEXT_PREFIXES)}
        except Exception as exc:  # safetensors raises its own error types on damaged headers
            raise CheckpointError(f"cannot read {path}: {exc}") from None
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read {path} (loaded with weights_only=True): {type(exc).__name__}: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    return {_strip(k): v for k, v in state.items() if _strip(k).startswith(_TEXT_PREFIXES)}


def _strip(key: str) -> str:
    return key[len("module."):] if key.startswith("module.") else key


# --- tokenizer --------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def byte_symbols() -> dict[int, str]:
    """Byte -> printable character, as GPT-2/CLIP byte-level BPE defines it: printable Latin-1
    bytes map to themselves, the rest to code points from 256 up, in byte order. The table's order
    (printable bytes first) is the order of the first 256 vocabulary entries."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    for extra, b in enumerate(b for b in range(256) if b not in table):
        table[b] = chr(256 + extra)
    return table


class ClipTokenizer:
    """CLIP's lower-cased byte-level BPE (Radford et al. 2021, Sec. 2.4; Sennrich et al. 2016),
    with open_clip's cleaning (ftfy, HTML unescaping, whitespace collapsing): sentences become
    ``[SOT] tokens [EOT]`` padded with 0 to ``context_length``, truncated with [EOT] kept last."""

    #: The merges CLIP's 49,408-token vocabulary uses from the published merge list.
    MERGES = 49152 - 256 - 2

    def __init__(self, bpe_file: str | Path, context_length: int = 77):
        import regex

        lines = gzip.open(bpe_file).read().decode("utf-8").split("\n")[1:self.MERGES + 1]
        merges = [tuple(line.split()) for line in lines]
        symbols = list(byte_symbols().values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
        vocab += ["<start_of_text>", "<end_of_text>"]
        self.ids = {tok: i for i, tok in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.sot, self.eot = self.ids["<start_of_text>"], self.ids["<end_of_text>"]
        self.context_length = int(context_length)
        self.pattern = regex.compile(r"<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|"
                                     r"[^\s\p{L}\p{N}]+", regex.IGNORECASE)
        self._words: dict[str, list[str]] = {"<start_of_text>": ["<start_of_text>"], "<end_of_text>": ["<end_of_text>"]}

    def __call__(self, texts: list[str] | str):
        import torch

        texts = [texts] if isinstance(texts, str) else list(texts)
        out = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.sot] + self.encode(text) + [self.eot]
            if len(ids) > self.context_length:
                ids = ids[:self.context_length]
                ids[-1] = self.eot
            out[row, :len(ids)] = torch.tensor(ids)
        return out

    def encode(self, text: str) -> list[int]:
        table = byte_symbols()
        ids: list[int] = []
        for piece in self.pattern.findall(_clean(text)):
            word = "".join(table[b] for b in piece.encode("utf-8"))
            ids.extend(self.ids[part] for part in self._merge(word))
        return ids

    def _merge(self, word: str) -> list[str]:
        """Apply the ranked merges to one word until none applies (lowest rank first)."""
        if word in self._words:
            return self._words[word]
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            pairs = {(a, b) for a, b in zip(parts, parts[1:])}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self._words[word] = parts
        return parts


def _clean(text: str) -> str:
    """ftfy's mojibake repair, HTML entities unescaped twice, whitespace collapsed, lower case."""
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).strip().lower()


def clip_tokenizer(context_length: int) -> ClipTokenizer:
    """The BPE tokenizer with the merge list open_clip ships (read as a data file)."""
    folder = open_clip_package_dir()
    bpe = folder / "bpe_simple_vocab_16e6.txt.gz" if folder else None
    if bpe is None or not bpe.is_file():
        raise CheckpointError("open_clip's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz) is not installed")
    return ClipTokenizer(bpe, int(context_length))

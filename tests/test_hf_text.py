"""vtg's own text tower for transformers-format CLIP and SigLIP (issue 22: a cached query with a
transformers CLIP must not import transformers). Checked against transformers' own text model on
tiny random checkpoints, and on the fallback cases that must still load through transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vtg.encoders import hf_clip, hf_text
from vtg.encoders.specs import parse_spec
from vtg.encoders.testing import tiny_hf_clip, tiny_hf_siglip, tiny_tokenizer

TEXTS = ["a person opens the door", "red car", "A MAN walks down  the kitchen table picks phone dog cat video",
         "unknownword zebra", "a " * 40]


def both(folder: Path, family: str):
    """(vtg's tower, transformers' text model) for one checkpoint."""
    parsed = parse_spec(f"{family}:{folder}")
    own = hf_clip.load_text(parsed, "cpu", torch.float32)
    hf_text.ENABLED = False
    try:
        ref = hf_clip.load_text(parsed, "cpu", torch.float32)
    finally:
        hf_text.ENABLED = True
    return own, ref


def assert_same(own, ref):
    assert isinstance(own, hf_text.HFTextEncoder) and not isinstance(ref, hf_text.HFTextEncoder)
    assert own.family == ref.family and own.dim == ref.dim and own.fingerprint == ref.fingerprint
    assert own.tokenizer.ids(TEXTS).tolist() == ref._tokens(TEXTS)["input_ids"].tolist()
    got, want = own._encode_texts_uncached(TEXTS), ref._encode_texts_uncached(TEXTS)
    assert np.abs(got - want).max() <= 1e-5
    tokens, ref_tokens = own.encode_text_tokens(TEXTS), ref.encode_text_tokens(TEXTS)
    assert [t.shape for t in tokens] == [t.shape for t in ref_tokens]
    assert max(np.abs(a - b).max() for a, b in zip(tokens, ref_tokens)) <= 1e-5


def test_clip_text_tower_equals_transformers(tmp_path):
    assert_same(*both(tiny_hf_clip(tmp_path / "clip"), "hf-clip"))


def test_siglip_text_tower_equals_transformers(tmp_path):
    assert_same(*both(tiny_hf_siglip(tmp_path / "siglip"), "hf-siglip"))


def clip_variant(out: Path, **text) -> Path:
    """A tiny CLIPModel with text-config overrides (activation, depth, legacy eos id)."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(1)
    tok = tiny_tokenizer(out)
    base = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                vocab_size=len(tok), max_position_embeddings=24, pad_token_id=tok.pad_token_id,
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    cfg = CLIPConfig(text_config={**base, **text}, vision_config=dict(hidden_size=32, intermediate_size=64,
                     num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8), projection_dim=8)
    CLIPModel(cfg).save_pretrained(str(out))
    return out


@pytest.mark.parametrize("text", [{"hidden_act": "gelu"}, {"hidden_act": "gelu_new", "layer_norm_eps": 1e-6},
                                  {"eos_token_id": 2}])  # 2: pool the highest id, as old CLIP configs do
def test_clip_variants_equal_transformers(tmp_path, text):
    assert_same(*both(clip_variant(tmp_path / "clip", **text), "hf-clip"))


def test_the_real_clip_tokenizer_gives_transformers_ids(tmp_path):
    pytest.importorskip("open_clip")
    from transformers import AutoTokenizer

    from vtg.encoders.testing import clip_bpe_tokenizer

    clip_bpe_tokenizer(tmp_path)
    ours = hf_text.TextTokenizer(tmp_path / "tokenizer.json", "<|endoftext|>", 77, pad_to_max=False)
    theirs = AutoTokenizer.from_pretrained(str(tmp_path))
    texts = TEXTS + ["Café  Über naïve — it's don't 123,456!", "emoji 🙂 and\ttabs\nnewlines", "x"]
    want = theirs(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")["input_ids"]
    assert ours.ids(texts).tolist() == want.tolist()


@pytest.mark.parametrize("change", ["no tokenizer.json", "sentencepiece tokenizer class", "unknown activation",
                                    "a text weight missing", "a damaged tokenizer.json"])
def test_what_the_tower_does_not_reproduce_loads_through_transformers(tmp_path, change):
    folder = tiny_hf_clip(tmp_path / "clip")
    if change == "no tokenizer.json":
        (folder / "tokenizer.json").rename(folder / "tokenizer.json.off")
    elif change == "a damaged tokenizer.json":
        (folder / "tokenizer.json").write_text('{"model": {"type": "WordLevel", "vocab": 3}}')
    elif change == "sentencepiece tokenizer class":
        edit_json(folder / "tokenizer_config.json", tokenizer_class="SiglipTokenizer")
    elif change == "unknown activation":
        config = json.loads((folder / "config.json").read_text())
        config["text_config"]["hidden_act"] = "relu"
        (folder / "config.json").write_text(json.dumps(config))
    else:
        from safetensors.torch import load_file, save_file

        state = load_file(str(folder / "model.safetensors"))
        del state["text_model.final_layer_norm.weight"]
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    assert hf_text.load_text(parse_spec(f"hf-clip:{folder}"), "cpu", torch.float32) is None


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("family", ["hf-clip", "blip2"])
def test_a_cached_query_with_a_transformers_model_does_not_import_transformers(tmp_path, three_scene_video, family):
    import vtg
    from vtg.encoders.testing import BUILDERS

    clip = BUILDERS[family](tmp_path / family)
    vtg.ground(three_scene_video, "index it", encoder=str(clip), device="cpu")  # features cached
    code = ("import sys, vtg; r = vtg.ground(sys.argv[1], 'a person opens the door', encoder=sys.argv[2], "
            "device='cpu'); assert r.meta['features_cached']; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('transformers', 'open_clip')))")
    done = subprocess.run([sys.executable, "-c", code, str(three_scene_video), str(clip)], capture_output=True,
                          text=True, env=dict(os.environ), timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_blip2_text_path_equals_transformers(tmp_path):
    from vtg.encoders import blip2, blip2_text
    from vtg.encoders.testing import tiny_blip2

    parsed = parse_spec(f"blip2:{tiny_blip2(tmp_path / 'blip2')}")
    own = blip2.load_text(parsed, "cpu", torch.float32)
    hf_text.ENABLED = False
    try:
        ref = blip2.load_text(parsed, "cpu", torch.float32)
    finally:
        hf_text.ENABLED = True
    assert isinstance(own, blip2_text.Blip2TextEncoder) and not isinstance(ref, blip2_text.Blip2TextEncoder)
    assert (own.family, own.dim, own.multi_vector, own.fingerprint) == (ref.family, ref.dim, True, ref.fingerprint)
    texts = TEXTS + ["a person opens the door " * 10]  # past the 35-token reference length
    assert np.abs(own._encode_texts_uncached(texts) - ref._encode_texts_uncached(texts)).max() <= 1e-5


def test_a_bert_tokenizer_file_gives_transformers_ids(tmp_path):
    """BLIP-2's WordPiece tokenizer: transformers rebuilds it from its vocabulary; the file read
    here must give the same ids, and a file that disagrees with its config is not used."""
    from transformers import AutoTokenizer, BertTokenizer

    from vtg.encoders.blip2_text import same_as_rebuilt_bert

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "person", "open", "##s", "the", "door", "caf",
             "##e", "man", "walk", "##ing", "!", ",", "1", "2", "3"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    tok = BertTokenizer(vocab_file=str(tmp_path / "vocab.txt"))
    tok.add_special_tokens({"bos_token": "[DEC]"})
    tok.save_pretrained(str(tmp_path / "bert"))
    folder = tmp_path / "bert"
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert same_as_rebuilt_bert(config, folder)
    texts = ["A person OPENS the door!", "Café walking, 123", "zebra  ", "a person opens the door " * 10]
    ours = hf_text.TextTokenizer(folder / "tokenizer.json", "[PAD]", 35, pad_to_max=False)
    want = AutoTokenizer.from_pretrained(str(folder))(texts, padding=True, truncation=True, max_length=35,
                                                       return_tensors="pt")["input_ids"]
    assert ours.ids(texts).tolist() == want.tolist()
    assert not same_as_rebuilt_bert({**config, "do_lower_case": False}, folder)

"""open_clip imported without transformers, timm and torchvision's model zoo (vtg.encoders.open_clip_import).

Each check runs in a fresh interpreter: what matters is which modules a process ends up holding.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from vtg.encoders.open_clip_import import needs_full_import


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_plain_clip_config_needs_neither_transformers_nor_timm():
    assert not needs_full_import({"embed_dim": 512, "vision_cfg": {"width": 768}, "text_cfg": {"width": 512}})
    assert needs_full_import({"vision_cfg": {"timm_model_name": "vit_base"}, "text_cfg": {}})
    assert needs_full_import({"vision_cfg": {}, "text_cfg": {"hf_model_name": "roberta-base"}})
    assert needs_full_import(None)


def test_an_open_clip_model_loads_and_encodes_without_the_model_zoos(tmp_path: Path):
    from vtg.encoders.testing import random_open_clip

    model = random_open_clip(tmp_path / "tiny")
    got = _run(f"""
        import json, sys
        import numpy as np
        from vtg.encoders import load_encoder
        enc = load_encoder({str(model)!r}, device="cpu")
        feats = enc.encode_images(np.zeros((3, 64, 80, 3), np.uint8))
        loaded = [m for m in ("transformers", "timm", "torchvision", "torchvision.models", "torch._dynamo",
                                "sympy") if m in sys.modules]
        import torchvision  # the real package still imports, with the submodules open_clip took early
        import torchvision.ops
        ok = torchvision.ops.misc.FrozenBatchNorm2d is not None and torchvision.transforms.Resize is not None
        print(json.dumps({{"shape": list(feats.shape), "loaded": loaded, "real_torchvision": ok,
                          "models": "torchvision.models" in sys.modules}}))
    """)
    assert got["shape"][0] == 3
    assert not {"transformers", "timm", "torchvision", "torchvision.models", "torch._dynamo", "sympy"} & set(got["loaded"])
    assert got["real_torchvision"] and got["models"]


def test_a_model_that_needs_transformers_after_a_light_import_gets_a_full_open_clip():
    got = _run("""
        import json, sys
        from vtg.encoders.open_clip_import import import_open_clip
        light = import_open_clip(light=True)
        light_hf = light.hf_model.transformers is None
        full = import_open_clip(light=False)
        print(json.dumps({"light_without_hf": light_hf, "full_has_hf": full.hf_model.transformers is not None,
                          "again": import_open_clip(light=True) is full}))
    """)
    assert got == {"light_without_hf": True, "full_has_hf": True, "again": True}


def test_a_light_import_defers_the_uploader_the_tokenizer_and_the_hub_client_until_called():
    got = _run("""
        import json, sys
        from vtg.encoders.open_clip_import import import_open_clip
        watched = ("open_clip.push_to_hf_hub", "open_clip.tokenizer", "ftfy", "huggingface_hub.hf_api", "httpx")
        oc = import_open_clip(light=True)
        before = sorted(m for m in watched if m in sys.modules)
        context = oc.factory.DEFAULT_CONTEXT_LENGTH
        tokens = oc.get_tokenizer("ViT-B-32")(["a dog"])  # builds the real tokenizer
        real = sys.modules["open_clip.tokenizer"]
        rebound = (oc.SimpleTokenizer is real.SimpleTokenizer and oc.factory.SimpleTokenizer is real.SimpleTokenizer
                   and oc.tokenize is real.tokenize and oc.factory.DEFAULT_CONTEXT_LENGTH == real.DEFAULT_CONTEXT_LENGTH)
        try:
            oc.push_pretrained_to_hf_hub()  # missing arguments: the real function says so
        except TypeError as exc:
            error = str(exc)
        uploader = sys.modules["open_clip.push_to_hf_hub"]
        print(json.dumps({"before": before, "context": context, "shape": list(tokens.shape), "rebound": rebound,
                          "error": error, "uploader": oc.push_to_hf_hub is uploader.push_to_hf_hub}))
    """)
    assert got["before"] == [] and got["context"] == 77 and got["shape"] == [1, 77] and got["rebound"]
    assert "push_pretrained_to_hf_hub()" in got["error"] and got["uploader"]


def test_the_meta_size_check_counts_what_the_real_build_holds():
    """The size check answers meta arithmetic and random factories itself (no compiler stack):
    its parameter count and shapes are the real model's."""
    import open_clip
    import torch

    from vtg.modelsize import estimate

    est = estimate(lambda: open_clip.create_model("ViT-B-32", device="meta", load_weights=False), torch.float32,
                   "ViT-B-32")
    real = open_clip.create_model("ViT-B-32", load_weights=False)
    assert est.params == sum(p.numel() for p in real.parameters()) + sum(b.numel() for b in real.buffers())
    assert est.shapes == {k: tuple(v.shape) for k, v in real.state_dict().items()}

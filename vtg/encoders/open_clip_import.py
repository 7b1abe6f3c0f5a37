"""``import open_clip`` without the model zoos it does not need for the model being built.

Why: ``import open_clip`` imports torchvision whole (its detection ops import torch's compiler
stack, sympy included), transformers' model stack and timm, about 2-4 s on this project's 2-core
machine, while a CLIP ViT or ResNet built from open_clip's own modules needs none of them: only
``torchvision.transforms`` (the validation transform) and ``torchvision.ops.misc`` (a class
open_clip's utilities name). That was most of ``vtg index``'s start-up (issue 22).

So when the model's config names neither a transformers text tower (``hf_model_name``) nor a timm
vision tower (``timm_model_name``), open_clip is imported with transformers and timm reported
absent (open_clip's own ``try: import ... except ImportError`` then leaves them out) and with
stand-in ``torchvision`` / ``torchvision.ops`` packages whose ``__init__`` is skipped, so only the
submodules open_clip asks for load, from torchvision's own files. The Hugging Face hub client is
reported absent too when nothing imported it yet (open_clip then leaves out its hub downloads,
which vtg never asks for: vtg fetches weights itself and hands open_clip local files). Two of
open_clip's modules that building an image tower never uses are deferred (:func:`_deferred`): its
uploader (``open_clip.push_to_hf_hub``, which imported the hub client's HTTP stack: with the hub,
~0.15 s of ``vtg index``'s start-up) and its tokenizer module (``open_clip.tokenizer``, which builds
a BPE tokenizer at import and imports ftfy: ~0.15 s), each replaced by functions that import the
real module when first called and put the real objects back where open_clip took the names. Until
then ``open_clip.SimpleTokenizer`` and the other tokenizer classes are such functions (calling them
works; ``isinstance`` against them does not). The stand-ins, the ``ops``
submodules and the "absent" marks are taken out of ``sys.modules`` right after, so a later ``import torchvision`` or
``import transformers`` anywhere in the process imports the real packages as usual. A later
model that does need a transformers or timm tower re-imports open_clip in full
(:func:`import_open_clip` with ``light=False``). Anything unexpected falls back to the plain import.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import threading
import types
from typing import Any

#: Packages open_clip imports only for towers that a light import leaves out.
_OPTIONAL = ("transformers", "timm")
#: Packages a light import reports absent unless they are imported already (see the docstring).
_LEFT_OUT_IF_NEW = ("huggingface_hub",)
_LOCK = threading.Lock()
_light_loaded = False  # open_clip in sys.modules came from a light import


def needs_full_import(model_cfg: dict | None) -> bool:
    """Whether building ``model_cfg`` (open_clip's ``model_cfg`` dict) needs transformers or timm;
    an unknown config (None) is assumed to."""
    if not isinstance(model_cfg, dict):
        return True
    text, vision = model_cfg.get("text_cfg") or {}, model_cfg.get("vision_cfg") or {}
    return bool((isinstance(text, dict) and text.get("hf_model_name"))
                or (isinstance(vision, dict) and vision.get("timm_model_name")))


def import_open_clip(light: bool) -> Any:
    """The ``open_clip`` module; with ``light`` and open_clip not imported yet, without
    transformers, timm and torchvision's model zoo (see the module docstring)."""
    global _light_loaded
    with _LOCK:
        if "open_clip" in sys.modules:
            if _light_loaded and not light:
                _forget("open_clip")
                _light_loaded = False
            else:
                return sys.modules["open_clip"]
        if light and not any(name in sys.modules for name in (*_OPTIONAL, "torchvision")):
            try:
                module = _light_import()
                _light_loaded = True
                return module
            except Exception:  # noqa: BLE001 - an unexpected layout: the plain import below decides
                _forget("open_clip")
        return importlib.import_module("open_clip")


def _light_import() -> Any:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("torchvision not found")
    root = list(spec.submodule_search_locations)[0]
    stand_ins = {name: _package_stand_in(name, os.path.join(root, *name.split(".")[1:]))
                 for name in ("torchvision", "torchvision.ops")}
    package = importlib.util.find_spec("open_clip")
    if package is None or not package.submodule_search_locations:
        raise ImportError("open_clip not found")
    folder = list(package.submodule_search_locations)[0]
    stand_ins.update({name: _deferred(name, folder) for name in _DEFERRED})
    sys.modules.update(stand_ins)
    absent = (*_OPTIONAL, *(name for name in _LEFT_OUT_IF_NEW if name not in sys.modules))
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]  # None: "import transformers" raises ImportError
    try:
        return importlib.import_module("open_clip")
    finally:
        for name in absent:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
        # torchvision.ops' __init__ binds its submodules as attributes only when it loads them, so
        # those loaded under the stand-in go (open_clip keeps its reference to ``misc``; a later
        # import loads them again); torchvision's own __init__ binds ``transforms`` and ``utils``.
        _forget("torchvision.ops")


#: open_clip modules a light import defers: the names other open_clip modules import from each.
_DEFERRED = {
    "open_clip.push_to_hf_hub": ("push_to_hf_hub", "push_pretrained_to_hf_hub"),
    "open_clip.tokenizer": ("HFTokenizer", "SimpleTokenizer", "SigLipTokenizer", "tokenize", "decode"),
}
#: Integer constants taken from a deferred module, read from its source without running it.
_DEFERRED_CONSTANTS = {"open_clip.tokenizer": ("DEFAULT_CONTEXT_LENGTH",)}


def _deferred(name: str, folder: str) -> types.ModuleType:
    """A stand-in for open_clip's module ``name`` (see the module docstring): its functions and
    classes are functions that import the real module on first call, rebind the names wherever
    an open_clip module holds a stand-in function, and call the real object; its integer
    constants are read from the source file (a ValueError when one is missing: the caller then
    imports open_clip plainly)."""
    module = types.ModuleType(name)
    source = ""
    if _DEFERRED_CONSTANTS.get(name):
        with open(os.path.join(folder, name.rsplit(".", 1)[1] + ".py"), encoding="utf-8") as fh:
            source = fh.read()
    for constant in _DEFERRED_CONSTANTS.get(name, ()):
        found = re.search(rf"^{constant}\s*=\s*(\d+)\b", source, re.MULTILINE)
        if found is None:
            raise ValueError(f"{constant} not found in {name}")
        setattr(module, constant, int(found.group(1)))
    stand_ins: dict[str, Any] = {}

    def forwarder(attr: str):
        def call(*args: Any, **kwargs: Any) -> Any:
            # who holds a stand-in, found before the import (which binds the package's attribute
            # of the module's own name, ``open_clip.push_to_hf_hub``, to the module itself)
            holders = [(m, each) for n, m in list(sys.modules.items()) if n == "open_clip" or n.startswith("open_clip.")
                       for each, stand_in in stand_ins.items() if getattr(m, each, None) is stand_in]
            real = importlib.import_module(name)
            for holder, each in holders:
                setattr(holder, each, getattr(real, each))
            return getattr(real, attr)(*args, **kwargs)

        call.__name__ = call.__qualname__ = attr
        return call

    for attr in _DEFERRED[name]:
        stand_ins[attr] = forwarder(attr)
        setattr(module, attr, stand_ins[attr])
    return module


def _package_stand_in(name: str, folder: str) -> types.ModuleType:
    """An empty package whose submodules load from ``folder`` (its ``__init__`` not run)."""
    module = types.ModuleType(name)
    module.__path__ = [folder]
    module.__spec__ = importlib.util.spec_from_loader(name, loader=None, is_package=True)
    return module


def _forget(prefix: str) -> None:
    """Drop ``prefix`` and its submodules from ``sys.modules`` (objects already made keep working)."""
    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
        del sys.modules[name]

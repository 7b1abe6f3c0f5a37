"""open_clip's model and pretrained-tag tables, read without importing torch.

Resolving ``ViT-B-32/openai`` to the file it needs (``timm/vit_base_patch32_clip_224.openai`` on
the hub) only takes open_clip's pretrained table, but ``import open_clip`` imports torch and costs
seconds. vtg checks for cached weights before any heavy import, so a missing model fails (or starts
downloading) at once: this module reads the table from open_clip's own ``pretrained.py`` loaded
under a private package name, with ``safetensors.torch`` kept out (the table does not need it),
and lists architectures from its ``model_configs/*.json``. Whenever torch or open_clip is already
loaded, or that light read fails (a future open_clip may restructure the file), it falls back to
the real ``import open_clip``, so the answer is always open_clip's own.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from pathlib import Path

_PRIVATE = "_vtg_open_clip_tables"
_LOCK = threading.Lock()
_TABLE: dict | None = None
_ARCHS: set[str] | None = None


def pretrained_cfg(arch: str, tag: str) -> dict:
    """open_clip's config of (arch, tag): ``hf_hub``, ``url``, ``mean``, ``std``, ``quick_gelu``...;
    ``{}`` when open_clip has no such pretrained tag (tags normalised as open_clip does)."""
    return dict(_pretrained().get(arch, {}).get(tag.lower().replace("-", "_"), {}))


def pretrained_tags(arch: str) -> list[str]:
    return list(_pretrained().get(arch, {}))


def is_architecture(name: str) -> bool:
    """Whether open_clip knows ``name`` as a model architecture (a built-in model config)."""
    if "open_clip" in sys.modules:
        return name in sys.modules["open_clip"].list_models()
    return name in _architectures()


def _pretrained() -> dict:
    global _TABLE
    with _LOCK:
        if _TABLE is None:
            _TABLE = _read_table()
        return _TABLE


def _architectures() -> set[str]:
    global _ARCHS
    with _LOCK:
        if _ARCHS is None:
            folder = _package_dir()
            names = {p.stem for p in (folder / "model_configs").glob("*.json")} if folder else set()
            _ARCHS = names or set(_full_import().list_models())
        return _ARCHS


def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("open_clip")  # finds the package without running its __init__
    return Path(spec.origin).parent if spec and spec.origin else None


def _full_import():
    import open_clip

    return open_clip


def _read_table() -> dict:
    if "torch" in sys.modules or "open_clip" in sys.modules:
        return _full_import().pretrained._PRETRAINED
    try:
        return _light_table()
    except Exception:  # any surprise in open_clip's layout: take the slow, certain path
        return _full_import().pretrained._PRETRAINED


def _light_table() -> dict:
    """Execute open_clip/pretrained.py as ``_vtg_open_clip_tables.pretrained`` (its relative imports
    resolve to the same folder) with ``safetensors.torch`` blocked, then drop the private modules."""
    folder = _package_dir()
    if folder is None:
        raise ImportError("open_clip is not installed")
    package = types.ModuleType(_PRIVATE)
    package.__path__ = [str(folder)]
    blocked = "safetensors.torch" not in sys.modules
    sys.modules[_PRIVATE] = package
    if blocked:
        sys.modules["safetensors.torch"] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        module = importlib.import_module(f"{_PRIVATE}.pretrained")
        return dict(module._PRETRAINED)
    finally:
        if blocked:
            sys.modules.pop("safetensors.torch", None)
        for name in [n for n in sys.modules if n == _PRIVATE or n.startswith(_PRIVATE + ".")]:
            del sys.modules[name]

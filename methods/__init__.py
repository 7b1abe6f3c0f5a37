"""Grounding methods, installed as ``vtg.methods``.

The registry maps a method's name to where its class lives, so ``vtg methods`` can list every
method without importing torch or transformers, and a method whose optional dependency is missing
fails only when it is chosen, with a message saying what to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from vtg.errors import UnknownNameError
from vtg.methods.base import Method, Query

#: name -> "module:Class". Add one line per method.
REGISTRY: dict[str, str] = {
    "tfvtg": "vtg.methods.tfvtg:TFVTG",
    "numpro": "vtg.methods.numpro:NumPro",
    "timemarker": "vtg.methods.timemarker:TimeMarker",
    "vtgllm": "vtg.methods.vtgllm:VTGLLM",
    "univtg": "vtg.methods.univtg:UniVTG",
    "refine": "vtg.methods.refine:Refine",
}


def method_class(name: str) -> type[Method]:
    """The class registered under ``name``; an unknown name lists the known ones."""
    key = name.strip().lower()
    if key not in REGISTRY:
        raise UnknownNameError("method", name, list(REGISTRY))
    module_name, cls_name = REGISTRY[key].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def load_method(name: str, **options: Any) -> Method:
    """An instance of method ``name`` configured with ``options`` (unknown options are an error)."""
    return method_class(name)(**options)


def list_methods() -> list[type[Method]]:
    return [method_class(n) for n in REGISTRY]


def score_meaning(name: str) -> str:
    """What method ``name``'s moment scores mean (``Method.score_meaning``); "" when unknown,
    e.g. a results file written by another tool."""
    try:
        return method_class(name).score_meaning
    except Exception:  # unknown name or a method that cannot be imported here: no explanation
        return ""


__all__ = ["Method", "Query", "REGISTRY", "method_class", "load_method", "list_methods", "score_meaning"]

"""Grounding methods, installed as ``vtg.methods``.

The registry maps a method's name to where its class lives, so ``vtg methods`` can list every
method without importing torch or transformers, and a method whose optional dependency is missing
fails only when it is chosen, with a message saying what to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from vtg.errors import UnknownNameError
from vtg.methods.base import Method, MethodCommand, Query

#: name -> "module:Class". Add one line per method.
REGISTRY: dict[str, str] = {
    "tfvtg": "vtg.methods.tfvtg:TFVTG",
    "numpro": "vtg.methods.numpro:NumPro",
    "timemarker": "vtg.methods.timemarker:TimeMarker",
    "vtgllm": "vtg.methods.vtgllm:VTGLLM",
    "univtg": "vtg.methods.univtg:UniVTG",
    "moment_detr": "vtg.methods.detr:MomentDETR",
    "qd_detr": "vtg.methods.detr:QDDETR",
    "cg_detr": "vtg.methods.detr:CGDETR",
    "refine": "vtg.methods.refine:Refine",
}


#: method (or method family) -> "module:function" returning its own CLI commands (a list of
#: :class:`MethodCommand`), for methods that add some (training, conversion, summaries, parsers). The CLI
#: mounts them without knowing any method by name; only these modules load at CLI start.
COMMANDS: dict[str, str] = {
    "univtg": "vtg.methods.univtg.cli:cli_commands",
    "detr": "vtg.methods.detr.cli:cli_commands",  # `vtg models convert moment_detr|qd_detr|cg_detr`
    "videollm": "vtg.methods.videollm.cli:cli_commands",  # shared by numpro, timemarker, vtgllm: `vtg parse`
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


def method_commands() -> list[MethodCommand]:
    """Every command the registered methods add to the CLI (see :data:`COMMANDS`)."""
    found: list[MethodCommand] = []
    for spec in COMMANDS.values():
        module_name, func = spec.split(":")
        found.extend(getattr(importlib.import_module(module_name), func)())
    return found


def score_meaning(name: str) -> str:
    """What method ``name``'s moment scores mean (``Method.score_meaning``); "" when unknown,
    e.g. a results file written by another tool."""
    try:
        return method_class(name).score_meaning
    except Exception:  # unknown name or a method that cannot be imported here: no explanation
        return ""


__all__ = ["COMMANDS", "Method", "MethodCommand", "Query", "REGISTRY", "method_class", "method_commands", "load_method",
           "list_methods", "score_meaning"]

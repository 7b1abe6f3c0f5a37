"""Grounding methods shipped with vtg, installed as ``vtg.methods``.

Each subpackage or module holds one method; it registers under the ``vtg.methods`` entry-point
group in vtg's ``pyproject.toml``, exactly as a plugin distribution's method does (see
:mod:`vtg.registry`). The names below are the public ones users reach through ``vtg.methods``;
they live in core (:mod:`vtg.method`, :mod:`vtg.types`, :mod:`vtg.registry`).
"""

from __future__ import annotations

from vtg.method import Method, MethodCommand
from vtg.registry import list_methods, load_method, method_class, method_commands, registered_methods, score_meaning
from vtg.types import Query

__all__ = ["Method", "MethodCommand", "Query", "list_methods", "load_method", "method_class", "method_commands",
           "registered_methods", "score_meaning"]

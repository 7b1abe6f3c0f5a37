"""Where methods come from: the ``vtg.methods`` and ``vtg.commands`` entry-point groups.

vtg's own methods register there from its ``pyproject.toml`` exactly as a plugin distribution's do,
so core names no method and a plugin adds one by declaring, in its own metadata::

    [project.entry-points."vtg.methods"]
    mymethod = "my_package.module:MyMethod"

Reading the groups costs milliseconds and imports nothing: ``vtg methods`` lists every method
without importing torch or transformers, and a method whose optional dependency is missing fails
only when it is chosen, with a message saying what to install.
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points
from typing import Any

from vtg.errors import UnknownNameError
from vtg.method import Method, MethodCommand

METHODS_GROUP = "vtg.methods"
COMMANDS_GROUP = "vtg.commands"

#: Methods registered by code in this process rather than by metadata (a notebook's own class, a
#: test's fixture method): name -> "module:Class". They shadow an installed method of the same name.
RUNTIME_METHODS: dict[str, str] = {}


@functools.lru_cache(maxsize=None)
def _group(group: str) -> dict[str, str]:
    """name -> "module:attribute" of every entry point of ``group``, first one of a name winning."""
    found: dict[str, str] = {}
    for point in entry_points(group=group):
        found.setdefault(point.name.strip().lower(), point.value)
    return found


def registered_methods() -> dict[str, str]:
    """Method name -> "module:Class" of every installed method (vtg's own and plugins'), and of
    those registered in this process (:func:`register_method`)."""
    return {**_group(METHODS_GROUP), **RUNTIME_METHODS}


def register_method(name: str, spec: str) -> None:
    """Make the class at ``spec`` ("module:Class") method ``name`` in this process (the module must
    be importable wherever the method runs: Ray workers import it by name)."""
    RUNTIME_METHODS[name.strip().lower()] = spec


def forget_registrations() -> None:
    """Read the entry points afresh on next use (after installing a plugin in this process)."""
    _group.cache_clear()


def _load(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def method_class(name: str) -> type[Method]:
    """The class registered under ``name``; an unknown name lists the known ones."""
    key = name.strip().lower()
    known = registered_methods()
    if key not in known:
        raise UnknownNameError("method", name, list(known))
    return _load(known[key])


def load_method(name: str, **options: Any) -> Method:
    """An instance of method ``name`` configured with ``options`` (unknown options are an error)."""
    return method_class(name)(**options)


def list_methods() -> list[type[Method]]:
    return [method_class(n) for n in registered_methods()]


def method_commands() -> list[MethodCommand]:
    """Every command the installed method packages add to the CLI (the ``vtg.commands`` group:
    each entry point names a function returning a list of :class:`~vtg.method.MethodCommand`)."""
    found: list[MethodCommand] = []
    for spec in _group(COMMANDS_GROUP).values():
        found.extend(_load(spec)())
    return found


def score_meaning(name: str) -> str:
    """What method ``name``'s moment scores mean (``Method.score_meaning``); "" when unknown,
    e.g. a results file written by another tool."""
    try:
        return method_class(name).score_meaning
    except Exception:  # unknown name or a method that cannot be imported here: no explanation
        return ""

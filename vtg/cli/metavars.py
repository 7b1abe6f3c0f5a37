"""Metavars people read in ``vtg ... --help``: ``VIDEO``, ``FILE``, ``DIR``, ``N``, ``KEY=VALUE``.

typer prints a parameter's Python type where no metavar is given (``<list[str]>``, ``<int range>``,
``{video}``), which says how vtg is written rather than what to type. Rather than repeat a
metavar on every option of every command (method plugins' commands included), one rule names
them from the parameter's type and name when the command tree is built; an explicit
``metavar=`` on an option still wins.
"""

from __future__ import annotations

import typing
from pathlib import PurePath
from typing import Any

#: Parameter name -> metavar, where the type alone does not say it.
BY_NAME = {
    "option": "KEY=VALUE", "fps": "FPS", "out_fps": "FPS", "pad": "SECONDS", "lr": "RATE",
    "weight_decay": "RATE", "summary_ratio": "FRACTION", "max_gib": "GIB", "ray_gpus": "GPUS",
    "seed": "N", "frame_limit": "N", "pixel_limit": "N", "fmt": "FORMAT", "gt": "START-END", "port": "PORT", "host": "HOST", "token": "TOKEN", "log_level": "LEVEL",
}
#: Words in a path parameter's name that mean a folder.
DIR_WORDS = ("dir", "root", "folder")


def option_metavar(name: str, type_name: str, help: str = "") -> str:
    """The metavar of option ``name`` whose click type is called ``type_name`` (a path whose help
    starts by calling it a folder or directory is a ``DIR``)."""
    if name in BY_NAME:
        return BY_NAME[name]
    if type_name in ("integer", "integer range"):
        return "N"
    if type_name in ("float", "float range"):
        return "NUMBER"
    if type_name == "path":
        folder = help.lower().startswith(("folder", "directory", "output directory"))
        return "DIR" if folder or any(w in name for w in DIR_WORDS) else "FILE"
    return name.upper()


def readable(command: Any) -> Any:
    """``command`` (a click command or group, walked recursively) with readable metavars."""
    for param in getattr(command, "params", ()):
        name = param.name or ""
        if param.param_type_name == "argument":
            if param.metavar is None:
                param.metavar = ("DIR" if any(w in name for w in DIR_WORDS) and name != "video" else name.upper())
            _plain_argument(param)
        elif not getattr(param, "is_flag", False) and type_word(param) != "boolean":
            if param.metavar is None:
                param.metavar = option_metavar(name, type_word(param), getattr(param, "help", None) or "")
    for sub in getattr(command, "commands", {}).values():
        readable(sub)
    return command


def type_word(param: Any) -> str:
    """click's name of ``param``'s type (``integer``, ``float``, ``path``, ``text``, ``boolean``),
    from recent typer's type descriptor (its own click copy) or click's ``param.type``."""
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return str(getattr(getattr(param, "type", None), "name", ""))
    annotation = desc.annotation
    if typing.get_origin(annotation) is list:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return "path"
    return {int: "integer", float: "float", bool: "boolean", str: "text"}.get(annotation, "text")


def _plain_argument(param: Any) -> None:
    """Recent typer prints a required argument as ``{name}`` in the usage line and its Python type
    beside it in the help; show the metavar alone (``VIDEO``, optional ones ``[QUERY]``)."""
    if hasattr(param, "_usage_display_name"):
        dots = "..." if param.nargs != 1 else ""
        shown = param.metavar if param.required else f"[{param.metavar}]"
        param._usage_display_name = lambda: shown + dots
    if hasattr(param, "display_type_rich"):
        param.display_type_rich = lambda ctx: None

"""Commands that grounding methods add to ``vtg`` (training, checkpoint conversion, summaries).

The core CLI names no method: each method package lists its commands through the registry's hook
(:func:`vtg.registry.method_commands`), and this module mounts them where their ``path`` says,
creating the shared groups (``vtg train``, ``vtg models convert``) on first use.
"""

from __future__ import annotations

import typer

#: Help of the groups methods mount into, keyed by their path.
GROUP_HELP = {
    ("train",): "Train or fine-tune a grounding model (methods with trainable weights).",
    ("models", "convert"): "Convert a method's official checkpoint once into vtg's format (safetensors + config.json).",
}


def register(app: typer.Typer) -> None:
    from vtg.cli.models import models_app
    from vtg.registry import method_commands

    groups: dict[tuple[str, ...], typer.Typer] = {(): app, ("models",): models_app}
    for command in method_commands():
        *parents, name = command.path
        group_of(groups, tuple(parents)).command(name)(command.callback)


def group_of(groups: dict[tuple[str, ...], typer.Typer], path: tuple[str, ...]) -> typer.Typer:
    """The typer group at ``path``, created (and mounted on its parent) on first use."""
    if path not in groups:
        parent = group_of(groups, path[:-1])
        help_text = GROUP_HELP.get(path, "")
        group = typer.Typer(help=help_text, no_args_is_help=True)
        group.callback()(_group_callback(help_text))
        parent.add_typer(group, name=path[-1])
        groups[path] = group
    return groups[path]


def _group_callback(help_text: str):
    """A callback makes typer keep the group (even with one command) as ``vtg GROUP NAME``."""

    def callback() -> None:
        pass

    callback.__doc__ = help_text
    return callback

"""``vtg methods``: what grounding methods exist, with their papers and options."""

from __future__ import annotations

import dataclasses

import typer


def register(app: typer.Typer) -> None:
    app.command("methods")(methods_command)


def methods_command(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list each method's options and defaults."),
) -> None:
    """List the grounding methods."""
    from vtg.methods import list_methods

    for cls in list_methods():
        typer.echo(f"{cls.name:<12} {cls.summary}")
        if cls.paper:
            typer.echo(f"{'':<12} {cls.paper}")
        if verbose:
            for f in dataclasses.fields(cls.Config):
                default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
                typer.echo(f"{'':<14} {f.name} = {default!r}")

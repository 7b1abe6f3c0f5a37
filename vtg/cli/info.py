"""``vtg methods``: what grounding methods exist, with their papers and options."""

from __future__ import annotations

import dataclasses

import typer

from vtg.options import describe_options
from vtg.registry import list_methods
from vtg.writers import terminal_width


def register(app: typer.Typer) -> None:
    app.command("methods")(methods_command)


def methods_command(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list each method's options, defaults and allowed values."),
) -> None:
    """List the grounding methods."""
    import textwrap

    width = terminal_width()  # wrap under the name column instead of letting the terminal break words
    for cls in list_methods():
        typer.echo(textwrap.fill(cls.summary, width, initial_indent=f"{cls.name:<12} ", subsequent_indent=" " * 13,
                                 break_on_hyphens=False))
        if cls.paper:
            typer.echo(textwrap.fill(cls.paper, width, initial_indent=" " * 13, subsequent_indent=" " * 13,
                                     break_on_hyphens=False))
        families = getattr(cls, "model_families", ())
        if verbose and families:  # methods running on a model the user picks: which kinds it can be
            typer.echo(textwrap.fill("runs on (--model; the family is read from its config.json): " + ", ".join(families),
                                     width, initial_indent=" " * 13, subsequent_indent=" " * 13, break_on_hyphens=False))
        if verbose:
            allowed = describe_options(cls.Config)
            for f in dataclasses.fields(cls.Config):
                default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc,operator]  # a field has a default or a factory
                typer.echo(f"{'':<14} {f.name} = {default!r}  ({allowed[f.name]})")

"""``vtg models``: which models vtg knows, which are on this machine, and fetching them.

``models_app`` is a typer sub-app: with no subcommand it lists the models (no network); other
command modules add subcommands to it (e.g. ``vtg models convert``). ``vtg models download NAME``
fetches a model ahead of time, through the same download a first use runs
(:mod:`vtg.encoders.weights`): size, one progress bar, one-line errors.
"""

from __future__ import annotations

import json
import textwrap

import typer

from vtg.writers import terminal_width

models_app = typer.Typer(help="List known models and whether they are cached; download them.",
                         invoke_without_command=True, no_args_is_help=False)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """List known models: kind, spec, cached or missing, and where the weights are."""
    if ctx.invoked_subcommand is not None:
        return
    from vtg.encoders import list_encoders
    from vtg.encoders.weights import hf_cache_dir, open_clip_url_cache_dir
    from vtg.features import features_dir, list_cached

    statuses = list_encoders()
    if as_json:
        for s in statuses:
            e = s.entry
            typer.echo(json.dumps({"name": e.name, "kind": e.kind, "spec": e.spec, "repo": e.repo, "used_by": e.used_by,
                                   "cached": s.cached, "path": s.path, "summary": e.summary}))
        return
    typer.echo(f"{'NAME':<18} {'KIND':<9} {'STATUS':<8} SPEC / REPO")
    for s in statuses:
        e = s.entry
        where = e.spec or e.repo
        typer.echo(f"{e.name:<18} {e.kind:<9} {'cached' if s.cached else 'missing':<8} {where}")
        about = e.summary + (f" [used by {e.used_by}]" if e.used_by else "")
        typer.echo(textwrap.fill(about, terminal_width(), initial_indent=" " * 19, subsequent_indent=" " * 19))
        if s.path:
            typer.echo(f"{'':<18} {s.path}")
    entries = list_cached()
    size = sum(m["bytes"] for m in entries)
    typer.echo("")
    typer.echo(f"Hugging Face cache:  {hf_cache_dir()}")
    typer.echo(f"open_clip URL cache: {open_clip_url_cache_dir()}")
    in_libraries = sum(1 for m in entries if "stored" in m)  # their features are a library's shard rows
    stored = f", {in_libraries} stored in libraries" if in_libraries else ""
    typer.echo(f"feature cache:       {features_dir()} ({len(entries)} entries, {size / 1e6:.1f} MB{stored})")
    typer.echo("missing weights download on first use (not with --offline / HF_HUB_OFFLINE=1);\n"
               "`vtg models download NAME` fetches ahead; or pass a local directory as --encoder")


@models_app.command("download")
def download_command(
    name: str = typer.Argument(..., help="A name from `vtg models`, an encoder spec (ViT-B-32/openai), or a hub id."),
) -> None:
    """Download a model's weights into the local cache now (needs network; first use does it too)."""
    from vtg.encoders import download

    path = download(name)
    typer.echo(f"{name}: {path}")

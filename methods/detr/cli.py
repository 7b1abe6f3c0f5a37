"""``vtg models convert moment_detr CKPT`` (one command per DETR-family model), mounted through the
method registry's command hook (the ``vtg.commands`` entry points)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import typer

from vtg.method import MethodCommand

FAMILIES = ("moment_detr", "qd_detr", "cg_detr")


def cli_commands() -> list[MethodCommand]:
    return [MethodCommand(("models", "convert", family), convert_command_for(family)) for family in FAMILIES]


def convert_command_for(family: str) -> Callable[..., None]:
    def convert_command(
        checkpoint: Path = typer.Argument(..., help="The released checkpoint file, e.g. model_best.ckpt."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help=f"Directory to write (default: vtg-{family} beside the checkpoint)."),
        max_gib: Optional[float] = typer.Option(None, "--max-gib", help="Refuse checkpoints that would need more than this many GiB (default 4, or $VTG_MAX_CHECKPOINT_BYTES)."),
    ) -> None:
        from .convert import convert_checkpoint

        if output is not None:  # before reading the checkpoint: `-o CKPT` is refused untouched
            from vtg.outputs import check_output_dir

            check_output_dir(output, inputs=[checkpoint], what="-o")
        limit = {} if max_gib is None else {"max_bytes": int(max_gib * (1 << 30))}
        out = convert_checkpoint(family, checkpoint, output, **limit)
        typer.echo(f"wrote {out}; use it with: vtg ground VIDEO QUERY --method {family} --model {out}")

    convert_command.__doc__ = f"Convert a released {family} checkpoint once into safetensors + config.json (read without running its code)."
    return convert_command

"""Helpers shared by CLI commands: parsing ``-O key=value`` and writing results to a file or stdout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from vtg.errors import UsageError
from vtg.types import Grounding

#: Flags that become method options, declared once for ``ground``, ``serve`` and ``search``:
#: name -> (parameter declarations, help).
METHOD_FLAGS: dict[str, tuple[tuple[str, ...], str]] = {
    "encoder": (("--encoder", "-e"), "Feature encoder. TFVTG's default is blip2 (the paper's BLIP-2, several GB "
                                      "to download once); ViT-B-32/openai is about 600 MB. Also hf-clip:<id or dir>, "
                                      "or a local model directory (see `vtg models`)."),
    "model": (("--model",), "Model id or directory for Video-LLM / UniVTG methods."),
    "fps": (("--fps",), "Frames sampled per second."),
    "preset": (("--preset",), "Method preset, e.g. charades, activitynet, qvhighlights, long."),
    "llm": (("--llm",), "Query decomposition: rules, hf:<model>, json:<file>, or openai:<model> with --llm-url."),
    "llm_url": (("--llm-url",), "OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama)."),
    "device": (("--device",), "auto, cuda or cpu."),
    "option": (("--option", "-O"), "Any method option as key=value (repeatable)."),
    "as_json": (("--json",), "Print JSON (same as --format json)."),
    "output": (("--output", "-o"), "Write the result to this file."),
}


def method_flag(name: str, help: str | None = None) -> Any:
    """The typer option for method flag ``name`` (unset by default, so the method keeps its own
    default); ``help`` replaces the shared text where a command means something narrower."""
    decls, text = METHOD_FLAGS[name]
    return typer.Option(False if name == "as_json" else None, *decls, help=help or text)


def method_options(**flags) -> dict:
    """Only the flags the user actually set become method options, so each method keeps its defaults."""
    return {k: v for k, v in flags.items() if v is not None}


def format_flag() -> Any:
    from vtg.writers import WRITERS

    return typer.Option(None, "--format", "-f", help=f"Output format: {', '.join(WRITERS)}.")


def parse_key_values(pairs: list[str] | None) -> dict[str, Any]:
    """``["stride=20", "llm=rules"]`` -> ``{"stride": "20", "llm": "rules"}`` (typed later by the config)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"option {pair!r} must look like key=value")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def pick_format(fmt: str | None, as_json: bool, output: Path | None) -> str:
    """Explicit --format wins; --json means json; else guess from the output suffix; else a table."""
    from vtg.writers import WRITERS

    if fmt:
        return fmt
    if as_json:
        return "json"
    if output is not None:
        for name, writer in WRITERS.items():
            if output.suffix.lower() == writer.suffix and name != "table":
                return name
    return "table"


def emit(results: list[Grounding], fmt: str, output: Path | None, inputs: list | None = None) -> None:
    """Render with the chosen writer and write atomically to ``output`` or print to stdout.
    ``output`` is checked against ``inputs`` again (commands check it before their work too)."""
    from vtg.writers import render

    if output is not None:
        from vtg.outputs import check_output

        check_output(output, inputs=inputs or [], what="-o")
    for result in results:  # NaN scores are a broken model, in every format (not "nan" and exit 0)
        result.check_finite()
    text = render(results, fmt)
    if output is None:
        sys.stdout.write(text)
        return
    from vtg.fileio import atomic_write_text

    atomic_write_text(output, text)

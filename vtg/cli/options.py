"""Helpers shared by CLI commands: parsing ``-O key=value`` and writing results to a file or stdout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import typer

from vtg.errors import UsageError
from vtg.fileio import atomic_write_text
from vtg.options import Check, Fps, Range, apply_options, check_device, check_of, check_value
from vtg.registry import method_class
from vtg.types import Grounding
from vtg.writers import WRITERS, render

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


#: Method flags whose values are checked while the command line is parsed (before any import).
FLAG_CHECKS: dict[str, Callable[[Any], Any]] = {}


def method_flag(name: str, help: str | None = None) -> Any:
    """The typer option for method flag ``name`` (unset by default, so the method keeps its own
    default); ``help`` replaces the shared text where a command means something narrower."""
    decls, text = METHOD_FLAGS[name]
    return typer.Option(False if name == "as_json" else None, *decls, help=help or text,
                        callback=FLAG_CHECKS.get(name))


def checked(flag: str, kind: type, check: Check | None) -> Callable[[Any], Any]:
    """A typer callback holding ``flag``'s value to the option schema's range (``vtg.options``):
    out of range is one ``vtg: error:`` line while the command line is parsed, before any work."""
    def callback(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            return [check_value(flag, v, kind, check) for v in value]
        return check_value(flag, value, kind, check)

    return callback


def ranged(default: Any, *decls: str, kind: type = int, low: float = 1, high: float = 1000,
           check: Check | None = None, **kwargs: Any) -> Any:
    """A typer option for a number in ``[low, high]`` (or ``check``), checked by :func:`checked`."""
    rule = check if check is not None else Range(low, high)
    return typer.Option(default, *decls, callback=checked(decls[0], kind, rule), **kwargs)


def fps_flag(default: float | None = None, help: str = "Frames sampled per second.") -> Any:
    """``--fps``: a rate in the schema's range for every command that samples frames."""
    return ranged(default, "--fps", kind=float, check=check_of(Fps), help=help)


FLAG_CHECKS.update(fps=checked("--fps", float, check_of(Fps)),
                   device=lambda value: check_device(value, "--device"))


def method_options(**flags) -> dict:
    """Only the flags the user actually set become method options, so each method keeps its defaults."""
    return {k: v for k, v in flags.items() if v is not None}


def check_method_options(method: str, options: dict[str, Any], *, known_only: bool = False) -> None:
    """``options`` typed and in range for ``method`` (an unknown method fails here too), without
    importing the method's heavy libraries: only its ``Config`` is read. ``known_only``: names the
    method does not have are left to the caller (batch keeps settings such as ``batch_size`` that
    do not change results, vtg.batch.settings)."""
    import dataclasses

    cls = method_class(method)
    if known_only and dataclasses.is_dataclass(cls.Config):
        names = {f.name for f in dataclasses.fields(cls.Config)}
        options = {k: v for k, v in options.items() if k in names}
    apply_options(cls.Config(), options, owner=cls.name)


def format_flag() -> Any:
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
    if output is not None:
        from vtg.outputs import check_output

        check_output(output, inputs=inputs or [], what="-o")
    for result in results:  # NaN scores are a broken model, in every format (not "nan" and exit 0)
        result.check_finite()
    text = render(results, fmt)
    if output is None:
        sys.stdout.write(text)
        return

    atomic_write_text(output, text)

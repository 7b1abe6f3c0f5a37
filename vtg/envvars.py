"""Values read from the environment (``VTG_MAX_FRAMES``, ``VTG_LLM_TIMEOUT``, ...), declared and checked once.

A ceiling or deadline set to ``nan``, ``0``, ``soon`` or ``1e308`` must not silently switch a bound
off (or overflow a timer thread later), so every ``VTG_*`` variable vtg reads is declared in
:data:`ENV_VARS` with its type and range, parsed by :func:`env_value`, and all of them are checked
by :func:`check_environment` when the CLI starts, before any model loads: a malformed value is one
:class:`~vtg.errors.UsageError` line naming the variable, its value and the allowed range.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from vtg.options import MAX_TIMEOUT, Check, Choice, Range, check_value, describe_kind

#: Ceilings may be raised, but only to sizes a machine can hold: far above any real video.
MAX_FRAMES_CEILING = 1e9
MAX_PIXELS_CEILING = 1e10
MAX_BYTES_CEILING = float(1 << 50)


@dataclass(frozen=True)
class EnvVar:
    """One environment variable: its type (float, int, bool, str), range or choices, and meaning."""

    name: str
    kind: type
    check: Check | None
    meaning: str

    def describe(self) -> str:
        return self.check.describe(self.kind) if self.check is not None else describe_kind(self.kind)


_VARS = (
    EnvVar("VTG_DEBUG", bool, None, "full tracebacks and debug logs (as --debug)"),
    EnvVar("VTG_CACHE_DIR", str, None, "the vtg cache folder (default ~/.cache/vtg)"),
    EnvVar("VTG_DECODER", str, Choice(("pyav", "nvdec", "torchcodec", "decord")),
           "video decoder for indexing (as --decoder)"),
    EnvVar("VTG_PRECISION", str, Choice(("fp32", "fp16", "bf16")), "encoder precision (as --precision)"),
    EnvVar("VTG_MAX_FRAMES", int, Range(1, MAX_FRAMES_CEILING, unit="frames"),
           "most frames sampled from one video (as --frame-limit; default 200000)"),
    EnvVar("VTG_MAX_PIXELS", int, Range(1, MAX_PIXELS_CEILING, unit="pixels"),
           "most pixels per decoded frame (as --pixel-limit; default 36000000)"),
    EnvVar("VTG_MAX_FRAME_BYTES", int, Range(1, MAX_BYTES_CEILING, unit="bytes"),
           "most bytes of frames held in memory at once (default 8 GiB)"),
    EnvVar("VTG_MAX_CHECKPOINT_BYTES", int, Range(1, MAX_BYTES_CEILING, unit="bytes"),
           "most bytes a converted UniVTG checkpoint may allocate (default 4 GiB)"),
    EnvVar("VTG_LLM_TIMEOUT", float, Range(0, MAX_TIMEOUT, low_open=True, unit="seconds"),
           "overall deadline of one LLM decomposition (default 120)"),
    EnvVar("HF_HUB_ETAG_TIMEOUT", float, Range(0, MAX_TIMEOUT, low_open=True, unit="seconds"),
           "seconds per model-hub metadata request (default 10)"),
    EnvVar("HF_HUB_DOWNLOAD_TIMEOUT", float, Range(0, MAX_TIMEOUT, low_open=True, unit="seconds"),
           "seconds one read of a model download may wait (default 10)"),
    EnvVar("VTG_DOWNLOAD_DEADLINE", float, Range(0, 10 * MAX_TIMEOUT, low_open=True, unit="seconds"),
           "overall deadline of one model download (default 600 s + 1 s per MB)"),
    EnvVar("VTG_MAX_FILE_GB", float, Range(0, 1e6, low_open=True, unit="GB"),
           "largest single file a model download may declare (default 50)"),
    EnvVar("VTG_MAX_DOWNLOAD_GB", float, Range(0, 1e6, low_open=True, unit="GB"),
           "largest model download (as --max-download-gb; default 200)"),
    EnvVar("VTG_MAX_MODEL_GB", float, Range(0, 1e6, low_open=True, unit="GB"),
           "largest model built, estimated from its config (as --max-model-gb; default RAM + GPU memory)"),
    EnvVar("VTG_ASK_ABOVE_BYTES", int, Range(0, MAX_BYTES_CEILING, unit="bytes"),
           "downloads larger than this ask first on a terminal (default 1000000000)"),
    EnvVar("VTG_YES", bool, None, "download large models without asking (as --yes)"),
    EnvVar("VTG_OVERLAY_FONT", str, None, "TrueType font of the NumPro frame numbers"),
    EnvVar("VTG_SERVE_TOKEN", str, None, "token every `vtg serve` request must carry (as --token)"),
)
#: Every ``VTG_*`` variable vtg reads (and the hub timeout it reads itself), by name (docs/configuration lists them from here).
ENV_VARS: dict[str, EnvVar] = {v.name: v for v in _VARS}


def env_value(name: str, default: Any = None) -> Any:
    """``$name`` typed and checked against its declaration, or ``default`` when unset or blank."""
    var = ENV_VARS[name]
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    return check_value(name, text, var.kind, var.check)


def check_environment() -> None:
    """Every declared variable that is set, checked (the CLI calls this before any work)."""
    for name in ENV_VARS:
        env_value(name)


def positive_number(name: str, default: float) -> float:
    """``$name`` (a declared number) in its declared range, or ``default`` when unset or blank."""
    value = env_value(name)
    return default if value is None else value

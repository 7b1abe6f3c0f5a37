"""The run settings of one session: frozen, built once from flags and the environment.

Before this module every run setting (decoder, precision, frame/pixel ceilings, ``--verify``,
``--offline``, model and download ceilings, ``--yes``) was a module-level global with its own
setter, so two callers in one process (server requests, threads of a notebook, the CLI run twice
in a test) saw each other's choices, and batch had to gather them by hand for Ray workers.

Now a :class:`Settings` value is built once (:meth:`Settings.from_environment`: the ``VTG_*``
variables, checked as :mod:`vtg.envvars` declares them, with flags taking precedence) and never
changes. Deep code (the limits check, the decoder choice, the feature cache, the weight finder)
reads :func:`current_settings`: the settings of the session active in *this* thread or asyncio
task, held in a :class:`contextvars.ContextVar`. Why a context variable rather than passing the
settings through every call: the front ends (CLI, batch, server, :class:`vtg.session.Session`)
are explicit about which settings apply, while the dozens of functions underneath need no new
parameter, and a context variable is per thread and per task by construction, so concurrent
sessions cannot leak into each other. Work moved to a thread pool carries the caller's settings
with :func:`contextvars.copy_context`; work moved to another process (Ray) carries the pickled
:class:`Settings`.

With no session active, :func:`current_settings` is read from the environment at that moment,
as vtg always did (``VTG_MAX_FRAMES=... python script.py`` and tests that set a variable keep
working).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator

from vtg.contextvalue import bound
from vtg.envvars import ENV_VARS, env_value
from vtg.errors import UnknownNameError, UsageError
from vtg.options import Choice, check_value

DEFAULT_MAX_FRAMES = 200_000
DEFAULT_MAX_PIXELS = 36_000_000
DEFAULT_MAX_DOWNLOAD_GB = 200.0
DEFAULT_LLM_TIMEOUT = 120.0
DEFAULT_MAX_HELD_BYTES = 8 << 30
DEFAULT_MAX_FILE_GB = 50.0
DEFAULT_ASK_ABOVE_BYTES = 1_000_000_000
#: The flag that sets each field from the command line (named in error messages).
FLAGS = {"max_frames": "--frame-limit", "max_pixels": "--pixel-limit", "decoder": "--decoder",
         "precision": "--precision", "max_model_gb": "--max-model-gb", "max_download_gb": "--max-download-gb",
         "assume_yes": "--yes", "verify": "--verify", "offline": "--offline", "device": "--device"}
#: The environment variable read for each field.
VARIABLES = {"max_frames": "VTG_MAX_FRAMES", "max_pixels": "VTG_MAX_PIXELS", "decoder": "VTG_DECODER",
             "precision": "VTG_PRECISION", "max_model_gb": "VTG_MAX_MODEL_GB",
             "max_download_gb": "VTG_MAX_DOWNLOAD_GB", "assume_yes": "VTG_YES", "cache_dir": "VTG_CACHE_DIR",
             "llm_timeout": "VTG_LLM_TIMEOUT", "download_deadline": "VTG_DOWNLOAD_DEADLINE",
             "max_held_bytes": "VTG_MAX_FRAME_BYTES", "max_file_gb": "VTG_MAX_FILE_GB",
             "ask_above_bytes": "VTG_ASK_ABOVE_BYTES"}
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE = ("1", "true", "yes", "on")


def _choices(variable: str) -> tuple[str, ...]:
    check = ENV_VARS[variable].check
    assert isinstance(check, Choice)
    return check.values


#: Decoder and precision names, as :mod:`vtg.envvars` declares them (one list for flag and variable).
DECODERS = _choices("VTG_DECODER")
PRECISIONS = _choices("VTG_PRECISION")


def _default_cache_dir() -> Path:
    return Path("~/.cache/vtg").expanduser()


@dataclass(frozen=True)
class Settings:
    """Everything a run may be told from outside, besides a method's own options.

    ``precision`` None: the device's default (fp16 on CUDA, fp32 on the CPU); ``max_model_gb``
    None: this machine's RAM plus GPU memory; ``download_deadline`` None: 600 s plus 1 s per MB;
    ``max_held_bytes``: frames held in memory at once by ``read_frames``; ``max_file_gb``: the
    largest file a model download may declare; ``ask_above_bytes``: downloads above it ask first.
    ``origins`` says which flag or variable set a field (for messages such as "set by
    --max-model-gb"); fields absent from it hold their default."""

    decoder: str = "pyav"
    precision: str | None = None
    device: str = "auto"
    verify: bool = False
    offline: bool = False
    max_frames: int = DEFAULT_MAX_FRAMES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_model_gb: float | None = None
    max_download_gb: float = DEFAULT_MAX_DOWNLOAD_GB
    assume_yes: bool = False
    cache_dir: Path = field(default_factory=_default_cache_dir)
    llm_timeout: float = DEFAULT_LLM_TIMEOUT
    download_deadline: float | None = None
    max_held_bytes: int = DEFAULT_MAX_HELD_BYTES
    max_file_gb: float = DEFAULT_MAX_FILE_GB
    ask_above_bytes: int = DEFAULT_ASK_ABOVE_BYTES
    origins: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_environment(cls, **overrides: Any) -> "Settings":
        """Settings from the ``VTG_*`` variables (and ``HF_HUB_OFFLINE``), each checked as
        declared, with ``overrides`` (flags; None means "not given") taking precedence. The flags
        are checked first: a bad flag is the error even when a variable is bad too."""
        given = _checked_changes(overrides)
        return _from_environment()._with(given)

    def replace(self, **changes: Any) -> "Settings":
        """A copy with ``changes`` (checked as flags are; None leaves a field as it is)."""
        return self._with(_checked_changes(changes))

    def _with(self, given: dict[str, Any]) -> "Settings":
        if not given:
            return self
        origins = dict(self.origins)
        origins.update({name: FLAGS.get(name, name) for name in given})
        return replace(self, **given, origins=tuple(sorted(origins.items())))

    def origin(self, name: str) -> str | None:
        """The flag or variable that set ``name`` (None: its default)."""
        return dict(self.origins).get(name)


def _checked_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The given (not None) ``changes``, each checked as its flag; TypeError for an unknown name."""
    known = {f.name for f in fields(Settings)} - {"origins"}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise TypeError(f"unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return {name: _checked_flag(name, value) for name, value in changes.items() if value is not None}


def _checked_flag(name: str, value: Any) -> Any:
    """A value given from the command line or Python, checked as its variable twin is."""
    flag = FLAGS.get(name, name)
    if name == "decoder":
        if value not in DECODERS:
            raise UnknownNameError("decoder", str(value), list(DECODERS))
        return value
    if name == "precision":
        return _checked_precision(str(value), flag)
    if name in ("max_frames", "max_pixels", "max_held_bytes", "ask_above_bytes"):
        return int(check_value(flag, value, int, ENV_VARS[VARIABLES[name]].check))
    if name in ("max_model_gb", "max_download_gb"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < float("inf")):
            raise UsageError(f"{flag} must be a positive number, got {value!r}")
        return float(value)
    if name in ("llm_timeout", "download_deadline", "max_file_gb"):
        return float(check_value(flag, value, float, ENV_VARS[VARIABLES[name]].check))
    if name == "cache_dir":
        return Path(value).expanduser()
    if name in ("verify", "offline", "assume_yes"):
        return bool(value)
    if name == "device":
        device = str(value).strip().lower()
        if device not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", device):
            raise UsageError(f"unknown device {value!r}; choose one of auto, cuda, cuda:N, cpu")
        return device
    return value


def _checked_precision(name: str, where: str) -> str:
    if name not in PRECISIONS:
        raise UsageError(f"unknown precision {name!r} ({where}); choose one of {', '.join(PRECISIONS)}")
    return name


def _snapshot() -> tuple[str | None, ...]:
    return tuple(os.environ.get(name) for name in (*VARIABLES.values(), *_OFFLINE_VARIABLES))


_FROM_ENVIRONMENT: dict[tuple[str | None, ...], Settings] = {}  # a cache of pure values, not a setting


def _from_environment() -> Settings:
    """The environment's settings, built once per distinct environment (reading and checking a
    dozen variables on every frame-limit check would cost more than the check)."""
    key = _snapshot()
    found = _FROM_ENVIRONMENT.get(key)
    if found is None:
        if len(_FROM_ENVIRONMENT) > 64:
            _FROM_ENVIRONMENT.clear()
        found = _FROM_ENVIRONMENT[key] = _read_environment()
    return found


def _read_environment() -> Settings:
    values: dict[str, Any] = {}
    decoder = os.environ.get("VTG_DECODER", "").strip()
    if decoder:
        if decoder not in DECODERS:
            raise UnknownNameError("decoder (VTG_DECODER)", decoder, list(DECODERS))
        values["decoder"] = decoder
    precision = os.environ.get("VTG_PRECISION", "").strip().lower()
    if precision:
        values["precision"] = _checked_precision(precision, "VTG_PRECISION")
    for name in ("max_frames", "max_pixels", "max_held_bytes", "ask_above_bytes"):
        if (number := env_value(VARIABLES[name])) is not None:
            values[name] = int(number)
    for name in ("max_model_gb", "max_download_gb", "llm_timeout", "download_deadline", "assume_yes", "max_file_gb"):
        if (value := env_value(VARIABLES[name])) is not None:
            values[name] = value
    if os.environ.get("VTG_CACHE_DIR"):
        values["cache_dir"] = Path(os.environ["VTG_CACHE_DIR"]).expanduser()
    offline = [v for v in _OFFLINE_VARIABLES if os.environ.get(v, "").strip().lower() in _TRUE]
    origins = {name: VARIABLES[name] for name in values}
    if offline:
        values["offline"] = True
        origins["offline"] = offline[0]
    return Settings(**values, origins=tuple(sorted(origins.items())))


#: The settings of the session active in this thread / asyncio task (None: the environment's).
#: A context variable, not a global: each thread and task sees only what its session set.
_ACTIVE: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("vtg_settings", default=None)


def current_settings() -> Settings:
    """The active session's settings, else the environment's (read now)."""
    active = _ACTIVE.get()
    return active if active is not None else _from_environment()


@contextlib.contextmanager
def using(settings: Settings) -> Iterator[Settings]:
    """``settings`` are the current ones for the block, in this thread/task only."""
    with bound(_ACTIVE, settings):
        yield settings


@contextlib.contextmanager
def changed(**changes: Any) -> Iterator[Settings]:
    """The current settings with ``changes`` (checked as flags) for the block, in this thread/task."""
    with using(current_settings().replace(**changes)) as settings:
        yield settings


def activate(settings: Settings) -> contextvars.Token:
    """Make ``settings`` current until :func:`deactivate` (for a caller that cannot use a
    ``with`` block: the CLI's root callback, which ends when click closes its context)."""
    return _ACTIVE.set(settings)


def deactivate(token: contextvars.Token) -> None:
    _ACTIVE.reset(token)


__all__ = ["DECODERS", "DEFAULT_MAX_DOWNLOAD_GB", "DEFAULT_MAX_FRAMES", "DEFAULT_MAX_PIXELS", "PRECISIONS",
           "Settings", "activate", "changed", "current_settings", "deactivate", "using"]

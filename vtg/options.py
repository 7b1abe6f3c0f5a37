"""The option schema: every method option, CLI number and environment value has a type and a range.

A threshold of ``nan``, an IoU of 5 or a timeout of 1e308 is not an option anyone means: computed
with, it gives garbage silently (NumPy casts ``nan`` to an integer) or fails deep inside a thread.
So the allowed values are *declared* once, next to the option, and checked in one place, before
any model loads, with one line naming the option, the value and the range.

How a method declares them: a ``Config`` field's annotation carries its check, e.g.
``nms_iou: IoU = 0.3`` or ``k: Annotated[int, Range(1, 100)] = 5``
(:class:`Range` for numbers, :class:`Choice` for words, :class:`Device` for ``--device``).
:func:`apply_options` coerces ``-O key=value`` strings to the field's type and checks every
field, defaults included, so a method constructed any way (CLI, batch line, server request,
Python) holds only values in range. CLI flags use the same ranges through
:func:`check_value`, and :mod:`vtg.envvars` the same for environment variables.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any

from vtg.errors import UsageError

#: Frame rates above this are no video's (high-speed cameras aside) and only multiply work.
MAX_FPS = 1000.0
#: Longest duration an option may name (about 115 days): far past any video, finite for timers.
MAX_SECONDS = 1e7
#: Longest wait on a remote service (one day); Python's timers overflow somewhere past 1e9 s.
MAX_TIMEOUT = 86400.0
#: Most moments/candidates a query may ask for.
MAX_TOP = 1000
#: Most frames any option may ask a method to sample or show.
MAX_COUNT_FRAMES = 1_000_000


@dataclass(frozen=True)
class Range:
    """Numbers from ``low`` to ``high``; ``low_open`` / ``high_open`` exclude that end."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    unit: str = ""

    def allows(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False  # (an int of any size compares exactly; math.isfinite would overflow on it)
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self, kind: type = float) -> str:
        """``a number in (0, 1000]`` / ``an integer in [1, 1000000] frames``."""
        noun = "an integer" if kind is int else "a number"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        unit = f" {self.unit}" if self.unit else ""
        return f"{noun} in {left}{_number(self.low)}, {_number(self.high)}{right}{unit}"


@dataclass(frozen=True)
class Choice:
    """One of a few words (case-insensitive on input, stored lower-case)."""

    values: tuple[str, ...]

    def allows(self, value: str) -> bool:
        return value in self.values

    def describe(self, kind: type = str) -> str:
        return f"one of {', '.join(self.values)}"


@dataclass(frozen=True)
class Device:
    """A compute device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""

    def allows(self, value: str) -> bool:
        return re.fullmatch(r"auto|cpu|cuda(:\d{1,3})?", value) is not None

    def describe(self, kind: type = str) -> str:
        return "one of auto, cpu, cuda, cuda:N"


Check = Range | Choice | Device


@dataclass(frozen=True)
class Scoring:
    """Marks an option that tunes how moments are scored and ranked (thresholds, window presets,
    suppression) rather than which model, device, file or endpoint is used or how many frames are
    read: ``Annotated[IoU, SCORING]``. ``vtg serve`` lets each request set exactly the options so
    marked that a batch line may also set (:func:`vtg.method.request_options`), so its allow-list
    is derived from the declarations instead of kept by hand."""


SCORING = Scoring()

# Common option types (annotations a Config field uses; mypy sees the plain type).
IoU = Annotated[float, Range(0.0, 1.0)]
Fraction = Annotated[float, Range(0.0, 1.0)]
Fps = Annotated[float, Range(0.0, MAX_FPS, low_open=True, unit="frames per second")]
Seconds = Annotated[float, Range(0.0, MAX_SECONDS, unit="seconds")]
PositiveSeconds = Annotated[float, Range(0.0, MAX_SECONDS, low_open=True, unit="seconds")]
Timeout = Annotated[float, Range(0.0, MAX_TIMEOUT, low_open=True, unit="seconds")]
TopK = Annotated[int, Range(1, MAX_TOP)]
FrameCount = Annotated[int, Range(1, MAX_COUNT_FRAMES, unit="frames")]
#: Pixels of one frame given to a model (up to 36 MP, the decoder's default ceiling).
FramePixels = Annotated[int, Range(1, 36_000_000, unit="pixels")]
DeviceName = Annotated[str, Device()]


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e18 else f"{x:g}"


def shown(value: Any) -> str:
    """The value as the user wrote it (a string keeps its quotes; a float prints short)."""
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- one option -------------------------------------------------------------------------------
def check_value(name: str, value: Any, kind: type, check: Check | None, *, optional: bool = False) -> Any:
    """``value`` converted to ``kind`` and checked against ``check``; UsageError otherwise.

    ``name`` is how the user set it (``--fps``, ``tfvtg option nms_iou``, ``VTG_LLM_TIMEOUT``);
    the error reads ``<name> must be <range>, got <value>`` on one line. Strings (``-O k=v``,
    environment) are converted here; None passes where the option is optional.
    """
    if value is None and optional:
        return None
    typed = _typed(name, value, kind, check, optional)
    if check is not None and not check.allows(typed):
        raise UsageError(f"{name} must be {check.describe(kind)}, got {shown(value)}")
    return typed


def _typed(name: str, value: Any, kind: type, check: Check | None, optional: bool) -> Any:
    """``value`` as a ``kind`` (from a string or a JSON number), or a UsageError saying what it must be."""
    want = check.describe(kind) if check is not None else describe_kind(kind)
    given = value
    none_ok = " or none" if optional else ""
    if isinstance(value, str) and optional and value.strip().lower() in ("none", "null", ""):
        return None
    if isinstance(value, str) and kind is not str:
        value = _parse_text(value.strip().lower(), kind)
    elif isinstance(value, str):
        return value.strip().lower() if isinstance(check, (Choice, Device)) else value
    ok = _converted(value, kind)
    if ok is _BAD:
        raise UsageError(f"{name} must be {want}{none_ok}, got {shown(given)}")
    return ok


_BAD = object()


def _parse_text(text: str, kind: type) -> Any:
    if kind is bool:
        return {"1": True, "true": True, "yes": True, "on": True,
                "0": False, "false": False, "no": False, "off": False}.get(text, _BAD)
    try:
        return float(text) if kind in (int, float) else _BAD
    except ValueError:
        return _BAD


def _converted(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` when it already is one (ints are floats; integral floats ints), else _BAD."""
    if value is _BAD or (isinstance(value, bool) and kind is not bool):
        return _BAD
    if kind is bool:
        return value if isinstance(value, bool) else _BAD
    if kind is float and isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer of 400 digits from a JSON line
            return math.inf if value > 0 else -math.inf
    if kind is int and isinstance(value, int):
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return _BAD


def describe_kind(kind: type) -> str:
    """What a value of ``kind`` without a range may be, in words."""
    return {int: "an integer", float: "a number", bool: "one of 1, true, yes, on, 0, false, no, off",
            str: "a string"}.get(kind, getattr(kind, "__name__", str(kind)))


# -- a method's Config ------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldSpec:
    """What one Config field accepts: its plain type, whether None is allowed, and its check;
    ``scoring``: marked :data:`SCORING` (a per-request scoring parameter)."""

    kind: Any
    optional: bool
    check: Check | None
    scoring: bool = False

    def describe(self) -> str:
        text = self.check.describe(self.kind) if self.check is not None else describe_kind(self.kind)
        return text + (" or none" if self.optional else "")


@functools.lru_cache(maxsize=None)
def field_specs(config_cls: type) -> dict[str, FieldSpec]:
    """Each field of ``config_cls`` -> its :class:`FieldSpec`, read from the annotations."""
    hints = typing.get_type_hints(config_cls, include_extras=True)
    return {f.name: spec_of(hints.get(f.name, Any)) for f in dataclasses.fields(config_cls)}


def spec_of(annotation: Any) -> FieldSpec:
    """``Annotated[float, Range(..)] | None`` -> FieldSpec(float, optional=True, Range(..))."""
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else Any
    check = None
    scoring = False
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        check = next((e for e in extras if isinstance(e, (Range, Choice, Device))), None)
        scoring = any(isinstance(e, Scoring) for e in extras)
        annotation = base
    return FieldSpec(annotation, optional, check, scoring)


def check_of(annotation: Any) -> Check | None:
    """The check an option type carries: ``check_of(Fps)`` -> ``Range(0, 1000, low_open=True, ...)``."""
    return spec_of(annotation).check


def option_problem(config_cls: type, options: dict[str, Any], owner: str) -> str | None:
    """Why ``options`` are out of ``config_cls``'s ranges (the first one), or None."""
    try:
        coerce_options(config_cls, options, owner)
    except UsageError as exc:
        return str(exc)
    return None


def coerce_options(config_cls: type, options: dict[str, Any], owner: str) -> dict[str, Any]:
    """``options`` typed and checked against ``config_cls``'s fields (unknown names are an error)."""
    specs = field_specs(config_cls)
    unknown = [k for k in options if k not in specs]
    if unknown:
        raise UsageError(f"{owner} has no option {', '.join(map(repr, unknown))}; its options: {', '.join(specs)}")
    return {k: coerce_field(specs[k], v, f"{owner} option {k}") for k, v in options.items()}


def coerce_field(spec: FieldSpec, value: Any, name: str) -> Any:
    """One field's value typed and checked; fields of other types (tuples, ...) are only converted."""
    if spec.kind in (int, float, bool, str):
        return check_value(name, value, spec.kind, spec.check, optional=spec.optional)
    return coerce_value(value, spec.kind if not spec.optional else spec.kind | None, name)


def check_config(config: Any, owner: str) -> Any:
    """``config`` with every field typed and in range (defaults too): a Config built by hand in
    Python gets the same checks as ``-O key=value``."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    checked = coerce_options(type(config), values, owner)
    changed = {k: v for k, v in checked.items() if v is not values[k] or type(v) is not type(values[k])}
    return dataclasses.replace(config, **changed) if changed else config


def apply_options(config: Any, options: dict[str, Any], *, owner: str = "method") -> Any:
    """Return ``config`` with ``options`` replaced (strings from ``-O key=value`` converted), every
    field checked against its declared type and range.

    Unknown keys are an error that lists the valid ones, so a typo never passes silently.
    """
    if options:
        config = dataclasses.replace(config, **coerce_options(type(config), options, owner))
    return check_config(config, owner)


def coerce_value(value: Any, annotation: Any, key: str) -> Any:
    """Turn a CLI string into a type without a declared range (int, float, bool, str, optional,
    tuple); ranged fields go through :func:`check_value`."""
    if not isinstance(value, str):
        return value
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        if value.lower() in ("none", "null", ""):
            return None
        annotation = args[0] if len(args) == 1 else str
        origin = typing.get_origin(annotation)
    if origin is Annotated:
        annotation = typing.get_args(annotation)[0]
        origin = typing.get_origin(annotation)
    try:
        if annotation is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if annotation in (int, float, str):
            return annotation(value)
        if origin is tuple:
            inner = typing.get_args(annotation)[0]
            return tuple(inner(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"option {key}={value!r} is not a valid {getattr(annotation, '__name__', annotation)}") from None
    return value


def describe_options(config_cls: type) -> dict[str, str]:
    """Each option of ``config_cls`` -> what it accepts, for ``vtg methods -v`` and the docs."""
    return {name: spec.describe() for name, spec in field_specs(config_cls).items()}


# -- devices, without importing torch ---------------------------------------------------------
#: Files present where a GPU driver is installed (NVIDIA, ROCm, WSL's GPU paravirtualisation).
GPU_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def gpu_driver_present() -> bool:
    """Whether a GPU driver may be here, from its device files (:data:`GPU_DRIVER_FILES`):
    importing torch to ask takes seconds, this takes microseconds. True only says "maybe"
    (torch then decides)."""
    return any(os.path.exists(p) for p in GPU_DRIVER_FILES)


def check_device(spec: str | None, name: str = "--device") -> str | None:
    """``spec`` checked as a device name, and a CUDA device refused at once where no GPU driver
    exists (before torch is imported), with the remedy."""
    if spec is None:
        return None
    value = check_value(name, spec, str, Device())
    if value.startswith("cuda") and not gpu_driver_present():
        raise UsageError(f"{name} {value} was asked for but this machine has no GPU driver "
                         "(no /dev/nvidia* or /proc/driver/nvidia); use --device cpu or auto")
    return value

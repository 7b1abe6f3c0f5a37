"""Numbers read from the environment (``VTG_MAX_FRAMES``, ``VTG_LLM_TIMEOUT``, ...), checked once.

A ceiling or deadline set to ``nan``, ``0`` or ``soon`` must not silently switch a bound off, so a
malformed value is a :class:`~vtg.errors.UsageError` naming the variable, not a fallback.
"""

from __future__ import annotations

import math
import os

from vtg.errors import UsageError


def positive_number(name: str, default: float, *, minimum: float = 0.0) -> float:
    """``$name`` as a finite number above ``minimum`` (at least it, when ``minimum`` > 0), or
    ``default`` when unset or blank."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value >= minimum if minimum > 0 else value > 0)):
        raise UsageError(f"{name}={text!r} must be a positive number")
    return value

"""UniVTG (Lin et al., ICCV 2023): unified foreground / boundary / saliency grounding heads.

Importing this package is cheap; torch loads when a model is built or run. The method class loads
on first access, so the CLI can mount UniVTG's commands (:mod:`.cli`) without importing it.
"""

from __future__ import annotations

__all__ = ["UniVTG", "UniVTGConfig"]


def __getattr__(name: str):
    if name in __all__:
        from . import method

        return getattr(method, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

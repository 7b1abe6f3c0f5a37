"""The video backend registry: name -> module implementing ``probe`` and ``decode``.

A backend module provides ``probe(path) -> VideoInfo`` and ``decode(path, info, targets,
out_size, workers=1) -> Iterator[(time, rgb)]`` (see :mod:`vtg.video.pyav_backend`); the shared reader does
target planning, batching and progress. Modules are imported on first use, so a missing optional
dependency (decord) only disables its backend, with a DependencyError saying what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

from vtg.errors import UnknownNameError

BACKENDS: dict[str, str] = {
    "pyav": "vtg.video.pyav_backend",
    "decord": "vtg.video.decord_backend",
    "torchcodec": "vtg.video.torchcodec_backend",
    "nvdec": "vtg.video.nvdec_backend",
}
#: The Python package each backend imports (nvdec is PyAV's FFmpeg with CUDA decoding).
LIBRARIES = {"pyav": "av", "nvdec": "av"}


#: The decoder of feature extraction (indexing) set for this process: ``vtg --decoder`` / :func:`set_decoder`.
_chosen: dict[str, str | None] = {"decoder": None}


def set_decoder(name: str | None) -> None:
    """Decode for indexing with backend ``name`` in this process (None: back to ``$VTG_DECODER``,
    else pyav). UnknownNameError for a name that is no backend."""
    if name is not None and name not in BACKENDS:
        raise UnknownNameError("decoder", str(name), list(BACKENDS))
    _chosen["decoder"] = name


def chosen_decoder() -> str | None:
    """What :func:`set_decoder` set in this process (None: nothing), for workers in other processes."""
    return _chosen["decoder"]


def indexing_decoder() -> str:
    """The backend that decodes for feature extraction: :func:`set_decoder`, else
    ``$VTG_DECODER``, else ``pyav``. Frames from any backend are the same (tests check it), so
    the feature cache does not depend on the choice."""
    name = _chosen["decoder"] or os.environ.get("VTG_DECODER", "").strip() or "pyav"
    if name not in BACKENDS:
        raise UnknownNameError("decoder (VTG_DECODER)", name, list(BACKENDS))
    return name


def get_backend(name: str) -> ModuleType:
    """The backend module for ``name``; UnknownNameError lists the known names."""
    if name not in BACKENDS:
        raise UnknownNameError("video backend", str(name), list(BACKENDS))
    return importlib.import_module(BACKENDS[name])


def available_backends() -> dict[str, bool]:
    """Each backend name and whether its library is importable here."""
    found = {}
    for name in BACKENDS:
        library = LIBRARIES.get(name, name)
        found[name] = importlib.util.find_spec(library) is not None
    return found

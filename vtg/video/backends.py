"""The video backend registry: name -> module implementing ``probe`` and ``decode``.

A backend module provides ``probe(path) -> VideoInfo`` and ``decode(path, info, targets,
out_size, workers=1) -> Iterator[(time, rgb)]`` (see :mod:`vtg.video.pyav_backend`); the shared reader does
target planning, batching and progress. Modules are imported on first use, so a missing optional
dependency (decord) only disables its backend, with a DependencyError saying what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from vtg.errors import UnknownNameError
from vtg.settings import current_settings

BACKENDS: dict[str, str] = {
    "pyav": "vtg.video.pyav_backend",
    "decord": "vtg.video.decord_backend",
    "torchcodec": "vtg.video.torchcodec_backend",
    "nvdec": "vtg.video.nvdec_backend",
}
#: The Python package each backend imports (nvdec is PyAV's FFmpeg with CUDA decoding).
LIBRARIES = {"pyav": "av", "nvdec": "av"}


def indexing_decoder() -> str:
    """The backend that decodes for feature extraction: the current session's ``--decoder``, else
    ``$VTG_DECODER``, else ``pyav`` (:func:`vtg.settings.current_settings`). Frames from any
    backend are the same (tests check it), so the feature cache does not depend on the choice."""
    return current_settings().decoder


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

"""vtg: video temporal grounding — find when a sentence happens in a video.

>>> import vtg
>>> result = vtg.ground("video.mp4", "person opens the door", method="tfvtg")
>>> result.moments[0].start, result.moments[0].end
"""

from typing import TYPE_CHECKING, Any

from vtg.api import ground
from vtg.errors import VtgError
from vtg.types import Grounding, Moment, Saliency

if TYPE_CHECKING:
    from vtg.session import Session
    from vtg.settings import Settings

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``vtg.Session`` and ``vtg.Settings``, imported on first use so ``import vtg`` (and every
    command's start) does not pay for the feature cache and the registry it does not touch."""
    if name == "Session":
        from vtg.session import Session

        return Session
    if name == "Settings":
        from vtg.settings import Settings

        return Settings
    raise AttributeError(f"module 'vtg' has no attribute {name!r}")


def list_methods():
    """The registered grounding method classes (name, summary, options)."""
    from vtg.registry import list_methods as _list

    return _list()


__all__ = ["ground", "Session", "Settings", "Grounding", "Moment", "Saliency", "VtgError", "list_methods", "__version__"]

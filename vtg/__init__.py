"""vtg: video temporal grounding — find when a sentence happens in a video.

>>> import vtg
>>> result = vtg.ground("video.mp4", "person opens the door", method="tfvtg")
>>> result.moments[0].start, result.moments[0].end
"""

from vtg.api import ground
from vtg.errors import VtgError
from vtg.types import Grounding, Moment, Saliency

__version__ = "0.1.0"


def list_methods():
    """The registered grounding method classes (name, summary, options)."""
    from vtg.registry import list_methods as _list

    return _list()


__all__ = ["ground", "Grounding", "Moment", "Saliency", "VtgError", "list_methods", "__version__"]

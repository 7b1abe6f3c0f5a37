"""TFVTG: training-free video temporal grounding (Zheng et al., ECCV 2024).

``localize(scores, duration, preset=...)`` is the public localiser for researchers who bring
their own per-frame similarity; :class:`TFVTG` is the full method behind ``vtg ground``.
Importing this package is light: torch and the encoders load only when a video is grounded.
"""

from vtg.methods.tfvtg.calibration import calibrate
from vtg.methods.tfvtg.fusion import fuse, select_proposal
from vtg.methods.tfvtg.localizer import Proposals, localize, propose
from vtg.methods.tfvtg.method import TFVTG
from vtg.methods.tfvtg.presets import PRESETS, Preset, get_preset

__all__ = ["TFVTG", "localize", "propose", "Proposals", "calibrate", "fuse", "select_proposal",
           "PRESETS", "Preset", "get_preset"]

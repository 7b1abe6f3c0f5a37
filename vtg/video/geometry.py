"""Frame geometry: display size after rotation/aspect ratio, resize targets, applying rotation.

Rotation is applied after scaling: the scaler works on the coded picture (cheaper, and it is what
PyAV's ``reformat`` and decord's ``width/height`` accept), then ``np.rot90`` turns the small RGB
array upright. So the coded-size target is the display-size target with axes swapped for 90/270.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def clockwise_rotation(ccw_degrees: float | int | None) -> int:
    """FFmpeg's display-matrix angle (counter-clockwise, -180..180) as clockwise 0/90/180/270."""
    if not ccw_degrees:
        return 0
    return int(round(-float(ccw_degrees) / 90.0)) % 4 * 90


def display_size(coded_w: int, coded_h: int, rotation: int, sar: Fraction | None = None) -> tuple[int, int]:
    """Width and height on screen: non-square pixels stretched, then rotated."""
    w, h = coded_w, coded_h
    if sar and sar > 0 and sar != 1:
        w = max(1, int(round(w * sar)))
    return (h, w) if rotation in (90, 270) else (w, h)


def resized(width: int, height: int, size: int | None) -> tuple[int, int]:
    """Scale so the shorter side is ``size`` (aspect kept); unchanged when ``size`` is None."""
    if size is None:
        return width, height
    if width <= height:
        return size, max(1, int(round(height * size / width)))
    return max(1, int(round(width * size / height))), size


def coded_target(out_w: int, out_h: int, rotation: int) -> tuple[int, int]:
    """The size to scale the coded picture to, so that after rotation it is ``out_w x out_h``."""
    return (out_h, out_w) if rotation in (90, 270) else (out_w, out_h)


def rotate(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a coded-orientation HxWx3 array clockwise by ``rotation`` degrees (a contiguous copy)."""
    if rotation == 0:
        return frame
    return np.ascontiguousarray(np.rot90(frame, k=-(rotation // 90)))

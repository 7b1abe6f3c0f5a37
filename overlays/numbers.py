"""NumPro frame numbers: the sampled frame's index drawn in red in the bottom-right corner.

Wu et al., "Number it: Temporal Grounding Videos like Flipping Manga" (CVPR 2025), Sec. 3 and the
paper's study of the number's font size, colour and position: red, bold sans-serif, font size 40
on a 336x336 frame, bottom-right corner. Frames of other sizes get a font scaled by ``sqrt(h * w) / 336`` so the digits keep
the same share of the frame's area. No outline (the paper's look); the OCR measure in
:mod:`vtg.overlays.legibility` checks that the numbers stay readable on real footage.

Placement follows the authors' released NumPro setup: no margin, the text flush with the right
edge and lifted by a third of its height from the bottom edge, measured from the text's bounding
box at the drawing origin (its top bearing included) - which leaves the digits' ink a couple of
pixels from the right and bottom edges (``number_box``).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np

#: The paper's configuration: font size 40 on 336x336 frames, red, bottom-right.
REFERENCE_SIDE = 336
REFERENCE_FONT_SIZE = 40
COLOR = (255, 0, 0)
#: The text sits flush right, lifted from the bottom edge by this share of its height (no margin).
LIFT_RATIO = 1 / 3

FONT_DIR = Path(__file__).resolve().parent / "fonts"


def font_size_for(height: int, width: int) -> int:
    """Font size that gives the digits the paper's share of a ``height`` x ``width`` frame."""
    scale = math.sqrt(float(height) * float(width)) / REFERENCE_SIDE
    return max(8, int(round(REFERENCE_FONT_SIZE * scale)))


def font_path() -> Path | None:
    """A bold sans-serif TrueType font: ``$VTG_OVERLAY_FONT``, one shipped in overlays/fonts/, or
    matplotlib's bundled DejaVu Sans Bold (matplotlib is a core dependency, so this is reliable)."""
    env = os.environ.get("VTG_OVERLAY_FONT")
    candidates = [Path(env)] if env else []
    candidates += sorted(FONT_DIR.glob("*.ttf")) if FONT_DIR.is_dir() else []
    try:
        import matplotlib

        candidates.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf")
    except ImportError:  # pragma: no cover - matplotlib is a core dependency
        pass
    candidates.append(Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))
    return next((p for p in candidates if p.is_file()), None)


@functools.lru_cache(maxsize=64)
def load_font(size: int):
    """The overlay font at ``size`` px; Pillow's built-in font when no TrueType font is found."""
    from PIL import ImageFont

    path = font_path()
    if path is not None:
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def number_box(height: int, width: int, text: str, font_size: int | None = None,
               inset: float = 0.0) -> tuple[int, int, int, int]:
    """Pixel box ``(left, top, right, bottom)`` the digits of ``text`` occupy on such a frame.

    ``inset`` 0 is the released layout; ``inset`` > 0 instead keeps the box that share of the font
    size away from the right and bottom edges (an earlier look of ours, kept for the legibility
    study: 0.25 is 10 px at 336x336).
    """
    from PIL import Image, ImageDraw

    size = font_size or font_size_for(height, width)
    font = load_font(size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    # integers for a FreeType font at an integer origin (Pillow's annotation says float)
    l, t, r, b = (int(v) for v in probe.textbbox((0, 0), text, font=font))
    if inset > 0:
        margin = int(round(inset * size))
        x, y = width - margin - (r - l), height - margin - (b - t)
        return x, y, x + (r - l), y + (b - t)
    # Drawing origin: flush with the right edge, a third of the text height above the bottom
    # edge; the ink box is the text box at that origin (the font's top bearing shifts it down).
    x0 = width - (r - l)
    y0 = height - (b - t) - int(round(LIFT_RATIO * (b - t)))
    return x0 + l, y0 + t, x0 + r, y0 + b


def draw_number(frame: np.ndarray, number: int | str, *, font_size: int | None = None,
                color: tuple[int, int, int] = COLOR, outline: int = 0, inset: float = 0.0) -> np.ndarray:
    """A copy of ``frame`` (uint8 [H, W, 3] RGB) with ``number`` drawn in the bottom-right corner.

    ``outline`` (px, default 0 as in the paper) adds a black stroke; it is there for the legibility
    study, not the default look, and so is ``inset`` (see :func:`number_box`).
    """
    from PIL import Image, ImageDraw

    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an RGB frame [H, W, 3], got shape {frame.shape}")
    h, w = frame.shape[:2]
    text = str(number)
    size = font_size or font_size_for(h, w)
    font = load_font(size)
    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    left, top, _, _ = number_box(h, w, text, size, inset)
    l0, t0, _, _ = draw.textbbox((0, 0), text, font=font)
    draw.text((left - l0, top - t0), text, fill=tuple(color), font=font,
              stroke_width=outline, stroke_fill=(0, 0, 0) if outline else None)
    return np.asarray(img)


def number_frames(frames: np.ndarray, start: int = 0, **kwargs) -> np.ndarray:
    """Number every frame of ``frames`` [N, H, W, 3]: frame ``i`` gets ``start + i`` (NumPro counts
    the sampled frames from 0)."""
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"expected frames [N, H, W, 3], got shape {frames.shape}")
    out = np.empty_like(frames, dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i] = draw_number(frame, start + i, **kwargs)
    return out

"""Loading a still image (the query-by-example input) as an RGB array, with clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from vtg.errors import UsageError, VideoNotFoundError
from vtg.video.limits import check_pixels


def load_image(path) -> np.ndarray:
    """Read an image file as uint8 [H, W, 3] RGB, upright (EXIF orientation applied).

    Alpha is dropped by compositing over white, palette and greyscale images are expanded, and the
    first frame of an animated image is used. Raises VideoNotFoundError for a missing path,
    UsageError for a file Pillow cannot read as an image, and VideoTooLargeError for an image whose
    header declares more pixels than the ceiling (checked before decoding, see vtg.video.limits).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path).expanduser()
    if not p.exists():
        raise VideoNotFoundError(f"image not found: {p}")
    if not p.is_file():
        raise VideoNotFoundError(f"not a file: {p}")
    try:
        with warnings.catch_warnings():  # Pillow's own bomb warning: our ceiling decides (one line)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(p)
        with opened as img:
            width, height = img.size
            check_pixels(width, height, p, "the image declares")
            img.seek(0)
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, rgba)
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except UnidentifiedImageError as err:
        raise UsageError(f"{p} is not an image file Pillow can read (PNG, JPEG, WebP, ...)") from err
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise UsageError(f"{p}: cannot read the image ({err})") from err

"""Batched image preprocessing: uint8 frame batches -> model pixels in a few tensor ops.

The reference preprocessing of every family works image by image (open_clip's torchvision
``Compose`` on a PIL image; transformers' image processors). Indexing an hour of video calls it
thousands of times, so here the same steps run on a whole batch at once, on the encoder's device:

* resize (bicubic with antialiasing on uint8, rounded back to uint8 as PIL does), centre crop,
  then scale to [0, 1] and normalise with the model's mean and std — for open_clip the parameters
  are read from the model's own ``Compose`` (``Resize``, ``CenterCrop``, ``Normalize``);
* for transformers models whose processor is the torchvision backend (the default in
  transformers 5), the processor itself is called on the uint8 batch tensor: it already works on
  batches, so the result is the reference's own.

:meth:`BatchTransform.decode_size` tells the decoder the frame size that this resize produces, so
frames are shrunk inside FFmpeg's colour conversion (libswscale) instead of being converted to
full-size RGB first; the resize here then has nothing left to do. Agreement with the reference:
on frames of the same size, pixels agree within 2/255 before normalisation (interpolation
rounding), see tests/test_preprocess.py; shrinking in the decoder adds the difference between
libswscale's and PIL's bicubic filters (on real footage at 224 px: mean 1.1/255, 99th
percentile 6/255; features' cosine similarity above 0.97 with the tests' tiny random models).

A transform this module does not know (open_clip's ``ResizeKeepRatio``, a PIL-backend processor
with padding, ...) makes :func:`for_open_clip` / :func:`for_hf_processor` return None, and the
encoder keeps its per-image reference path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class BatchTransform:
    """Resize (``shortest`` side to ``size``, or ``squash`` to ``size`` x ``size2``), centre crop
    to ``crop`` (height, width) or not, normalise with ``mean``/``std``; ``interpolation`` is a
    torchvision mode name (``bicubic``, ``bilinear``). With ``processor`` (a transformers
    torchvision-backend image processor) the steps are the processor's own, run on the batch."""

    mode: str
    size: tuple[int, int] | int
    crop: tuple[int, int] | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    processor: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def resized_shape(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after the resize step, with the reference's rounding (floor)."""
        if isinstance(self.size, tuple):  # "squash": (height, width)
            return self.size
        short, long = (height, width) if height <= width else (width, height)
        new_short, new_long = int(self.size), int(int(self.size) * long / short)
        return (new_short, new_long) if height <= width else (new_long, new_short)

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        """Display (width, height) to decode frames at: the resize's output, never larger than the
        video (enlarging is left to the tensor resize, which interpolates like the reference)."""
        h, w = self.resized_shape(height, width)
        if h > height or w > width:
            return width, height
        return w, h

    def __call__(self, frames, device: str = "cpu", dtype=None):
        """uint8 [N, H, W, 3] (numpy or torch, any device) -> float [N, 3, h, w] on ``device``."""
        import torch
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        x = torch.as_tensor(frames)
        x = x.to(device, non_blocking=True).permute(0, 3, 1, 2)
        if self.processor is not None:
            pixels = self.processor(images=x, return_tensors="pt", device=x.device)["pixel_values"]
            return pixels if dtype is None else pixels.to(dtype)
        target = self.resized_shape(x.shape[2], x.shape[3])
        if tuple(x.shape[2:]) != target:
            x = TF.resize(x.contiguous(), list(target), interpolation=InterpolationMode(self.interpolation),
                          antialias=True)
        if self.crop is not None:
            x = _center_crop(x, self.crop)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1) * 255.0
        x = (x.float() - mean) / std
        return x if dtype is None else x.to(dtype)


def _center_crop(x, crop: tuple[int, int]):
    """torchvision's CenterCrop rule (offsets rounded) with zero padding when the image is smaller."""
    from torchvision.transforms import functional as TF

    return TF.center_crop(x, list(crop))


_NEUTRAL = {"MaybeConvertMode", "MaybeToTensor", "ToTensor", "_convert_to_rgb", "ConvertImageDtype"}


def for_open_clip(compose) -> BatchTransform | None:
    """The batch equivalent of an open_clip validation ``Compose``; None if it holds anything else
    (or there is none: a text-only model, which must not import torchvision)."""
    if not getattr(compose, "transforms", None):
        return None
    # from the submodule: it may be loaded without torchvision's package (vtg.encoders.open_clip_import)
    from torchvision.transforms import CenterCrop, Normalize, Resize

    resize = crop = norm = None
    for step in getattr(compose, "transforms", []):
        name = getattr(step, "__name__", type(step).__name__)
        if isinstance(step, Resize) and resize is None and step.max_size is None and step.antialias in (True, None):
            resize = step
        elif isinstance(step, CenterCrop) and crop is None:
            crop = step
        elif isinstance(step, Normalize) and norm is None:
            norm = step
        elif name not in _NEUTRAL:
            return None
    if resize is None or norm is None or resize.interpolation.value not in ("bicubic", "bilinear"):
        return None
    size = resize.size
    if isinstance(size, int) or len(size) == 1:
        mode, size = "shortest", int(size if isinstance(size, int) else size[0])
    else:
        mode, size = "squash", (int(size[0]), int(size[1]))
    crop_hw = None if crop is None else (int(crop.size[0]), int(crop.size[1]))
    return BatchTransform(mode, size, crop_hw, _triple(norm.mean), _triple(norm.std), resize.interpolation.value)


def for_hf_processor(processor) -> BatchTransform | None:
    """The batch path for a transformers image processor: itself, when it is the torchvision backend
    with the plain resize / crop / rescale / normalise steps; None otherwise."""
    if processor is None:  # a text-only model
        return None
    try:
        from transformers.image_processing_backends import TorchvisionBackend
    except ImportError:
        return None
    if not isinstance(processor, TorchvisionBackend) or getattr(processor, "do_pad", None):
        return None
    # transformers sets these from the checkpoint's config at runtime; its classes declare none of them
    settings: Any = processor
    size = settings.size
    dims: tuple[int, int] | int
    if settings.do_resize and getattr(size, "shortest_edge", None) and not getattr(size, "longest_edge", None):
        mode, dims = "shortest", int(size.shortest_edge)
    elif settings.do_resize and getattr(size, "height", None) and getattr(size, "width", None):
        mode, dims = "squash", (int(size.height), int(size.width))
    else:
        return None
    crop = settings.crop_size if settings.do_center_crop else None
    crop_hw = None if crop is None else (int(crop.height), int(crop.width))
    return BatchTransform(mode, dims, crop_hw, _triple(settings.image_mean), _triple(settings.image_std),
                          processor=processor)


def _triple(values) -> tuple[float, float, float]:
    v = [float(x) for x in np.broadcast_to(np.asarray(values, np.float64), (3,))]
    return v[0], v[1], v[2]

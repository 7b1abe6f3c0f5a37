"""The interface every frame/text encoder implements, and the batching shared by all families.

An encoder turns RGB frames and sentences into L2-normalised float32 vectors in one embedding
space, so grounding methods can score frames against a query with a dot product. Subclasses only
implement the per-batch forward passes (``_encode_image_batch``, ``_encode_text_batch``); this
base class does the chunking, the numpy conversion and the similarity, so every family batches and
returns arrays the same way.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import ClassVar

import numpy as np

from vtg.determinism import fixed_threads
from vtg.encoders.preprocess import BatchTransform
from vtg.errors import UsageError


class Encoder:
    """A loaded vision-language model with its own preprocessing.

    Attributes: ``spec`` (canonical string, part of feature-cache keys), ``family``
    (``open_clip`` | ``hf-clip`` | ``hf-siglip`` | ``blip2``), ``device`` (torch device string),
    ``dim`` (embedding width D), ``dtype`` (torch dtype of the weights), ``batch_size`` (frames per
    forward pass), ``fingerprint`` (identifies the weight files, so a cache entry computed with
    other weights under the same local path is not reused), ``text_only`` (only the text side was
    built: a query on cached frame features needs nothing else), ``text_cache`` (a
    :class:`vtg.engine.TextEmbeddingCache` shared by the model manager, or None).
    """

    family: ClassVar[str] = ""
    #: Whether ``encode_images`` returns several vectors per frame ([N, Q, D], BLIP-2's queries).
    multi_vector: ClassVar[bool] = False

    def __init__(self, spec: str, device: str, dtype, dim: int, *, batch_size: int | None = None,
                 fingerprint: str = ""):
        self.spec = spec
        self.device = device
        self.dtype = dtype
        self.dim = int(dim)
        self.batch_size = batch_size or (64 if device.startswith("cuda") else 16)
        self.fingerprint = fingerprint
        self.text_only = False
        self.text_cache = None
        #: Batched preprocessing (:mod:`vtg.encoders.preprocess`), or None: per-image reference path.
        self.image_transform: BatchTransform | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self.spec!r}, device={self.device!r}, dim={self.dim})"

    # --- public API -----------------------------------------------------------------------
    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB frames [N, H, W, 3] (or one [H, W, 3]) -> float32 L2-normalised [N, D].

        BLIP-2 returns [N, 32, D]: one vector per Q-Former query token.
        """
        self._check_image_side()
        frames = _as_frames(frames)
        if len(frames) == 0:
            return np.zeros((0, *self._image_feature_shape()), np.float32)
        chunks = [self._run(self._encode_image_batch, frames[i:i + self.batch_size])
                  for i in range(0, len(frames), self.batch_size)]
        return np.concatenate(chunks, axis=0)

    def _check_image_side(self) -> None:
        if self.text_only:
            raise UsageError(f"encoder {self.spec!r} was loaded text-only; load it with text_only=False to encode frames")

    # --- the image path in stages (used by the indexing pipeline, vtg.pipeline) -------------
    @property
    def supports_pixels(self) -> bool:
        """Whether the image path splits into :meth:`prepare_images` and :meth:`encode_pixels`."""
        return type(self)._forward is not Encoder._forward

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) to decode a width x height video at: the size the model's resize
        produces (frames shrink inside the decoder's colour conversion), else unchanged."""
        if self.image_transform is None:
            return width, height
        return self.image_transform.decode_size(width, height)

    def prepare_images(self, frames):
        """uint8 RGB frames [N, H, W, 3] (numpy or torch) -> the model's pixel tensor on its device.

        Batched tensor work when the model's preprocessing is understood (``image_transform``),
        else the model's own per-image preprocessing."""
        import torch

        self._check_image_side()
        with torch.inference_mode():
            if self.image_transform is not None:
                return self.image_transform(frames, self.device, self._pixel_dtype())
            return self._reference_pixels(np.asarray(frames))

    def encode_pixels(self, pixels):
        """Pixel tensor from :meth:`prepare_images` -> normalised features (a tensor on the device)."""
        import torch

        with torch.inference_mode(), fixed_threads(self.device):
            return self._forward(pixels)

    def encode_texts(self, texts: list[str] | str) -> np.ndarray:
        """Sentences -> float32 L2-normalised [M, D] (repeated sentences come from ``text_cache``)."""
        texts = _as_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.text_cache is not None:
            return self.text_cache.encode(self, texts, self._encode_texts_uncached)
        return self._encode_texts_uncached(texts)

    def _encode_texts_uncached(self, texts: list[str]) -> np.ndarray:
        chunks = [self._run(self._encode_text_batch, texts[i:i + 256]) for i in range(0, len(texts), 256)]
        return np.concatenate(chunks, axis=0)

    def similarity(self, image_feats: np.ndarray, text_feats: np.ndarray) -> np.ndarray:
        """Cosine similarity [N, M] between features from ``encode_images`` and ``encode_texts``.

        Multi-vector image features ([N, Q, D], BLIP-2) score the best-matching query token,
        as BLIP-2's image-text contrastive score does (Li et al. 2023, Sec. 3.2, ITC).
        """
        img = np.asarray(image_feats, np.float32)
        txt = np.asarray(text_feats, np.float32)
        if txt.ndim == 1:
            txt = txt[None]
        if img.ndim == 3:
            return np.einsum("nqd,md->nqm", img, txt).max(axis=1).astype(np.float32)
        if img.ndim == 1:
            img = img[None]
        return (img @ txt.T).astype(np.float32)

    def encode_text_tokens(self, texts: list[str] | str) -> list[np.ndarray]:
        """Per-token last hidden states [L_i, W] (after the final layer norm, unprojected).

        Only CLIP-family encoders have them; UniVTG consumes them as its query tokens.
        """
        raise UsageError(f"encoder {self.spec!r} ({self.family}) has no per-token text features; "
                         "use a CLIP-family encoder (open_clip:..., hf-clip:..., hf-siglip:...)")

    # --- for subclasses -------------------------------------------------------------------
    def _encode_image_batch(self, frames: np.ndarray):
        """One batch of uint8 frames -> torch tensor of normalised features."""
        if not self.supports_pixels:
            raise NotImplementedError
        return self._forward(self.prepare_images(frames))

    def _reference_pixels(self, frames: np.ndarray):
        """The model's own per-image preprocessing: uint8 frames -> pixel tensor on the device."""
        raise NotImplementedError

    def _forward(self, pixels):
        """Pixel tensor -> torch tensor of normalised features (subclasses with a pixel path)."""
        raise NotImplementedError

    def _pixel_dtype(self):
        return self.dtype

    def _encode_text_batch(self, texts: list[str]):
        """One batch of sentences -> torch tensor of normalised features."""
        raise NotImplementedError

    def _image_feature_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def _run(self, fn, batch) -> np.ndarray:
        import torch

        with torch.inference_mode(), fixed_threads(self.device):
            out = fn(batch)
        return out.float().cpu().numpy().astype(np.float32, copy=False)


#: torch.nn.init functions that fill a tensor in place (random or constant initialisation).
_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                   "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                   "sparse_")
_INIT_LOCK = threading.Lock()


@contextmanager
def skipped_weight_init():
    """Build modules without running their initialisers, for weights that a strict checkpoint load
    overwrites right after (the idea of transformers' ``no_init_weights``): filling a ViT-B/32 with
    random numbers costs more than reading its weights. Also keeps modules built on the ``meta``
    device from running torch's reference initialisers (which import the compiler stack).

    The initialisers are swapped process-wide while the block runs (loads are serialised by a
    lock), so use it only around construction whose every parameter is then loaded strictly.
    """
    import torch.nn.init as init

    with _INIT_LOCK:
        saved = {name: getattr(init, name) for name in _INIT_FUNCTIONS if hasattr(init, name)}
        try:
            for name in saved:
                setattr(init, name, _unchanged)
            yield
        finally:
            for name, fn in saved.items():
                setattr(init, name, fn)


def _unchanged(tensor, *args, **kwargs):
    return tensor


def l2_normalize(x):
    """Normalise the last axis of a torch tensor in float32, whatever the model's dtype."""
    import torch.nn.functional as F

    return F.normalize(x.float(), dim=-1)


def pooled(output):
    """transformers v5 ``get_*_features`` return a model output whose ``pooler_output`` holds the
    projected embedding; v4 returned the tensor itself. Accept both."""
    return output if hasattr(output, "dim") else output.pooler_output


def _as_frames(frames) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise UsageError(f"frames must be uint8 RGB [N, H, W, 3]; got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise UsageError(f"frames must be uint8 RGB; got dtype {arr.dtype}")
    return arr


def _as_texts(texts) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise UsageError("texts must be strings")
    return texts

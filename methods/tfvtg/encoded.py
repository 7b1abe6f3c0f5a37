"""A query TFVTG encoded once, to be localised on stored frame features (library search).

The columns are the query's sentences as :func:`vtg.methods.tfvtg.method.plan_texts` orders them
(the query and its rewrites, then each sub-event's descriptions), or one encoded example image.
``relevance`` is what library search ranks videos by: the mean raw similarity over the query and
its rewrites, on the encoder's own scale (calibration is per video, so it cannot rank across them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vtg.library.scan import dot_scores


@dataclass
class TFVTGQuery:
    """``columns`` [m, ...] text (or image) features, the decomposition and how to score them."""

    label: str
    columns: np.ndarray
    plan: Any | None        # the decomposition (vtg.llm); None for an image query
    calibration: str
    #: ``similarity(frames, columns) -> [rows, m]``: the encoder's text-frame similarity.
    similarity: Callable[[np.ndarray, np.ndarray], np.ndarray]
    image: bool

    def frame_scores(self, block: np.ndarray) -> np.ndarray:
        """Raw similarity of every frame of a (float16) block to every column: float32 [rows, m].
        Single-vector features take one dot product per column (:func:`vtg.library.scan.dot_scores`,
        no float32 copy of the block); token features (BLIP-2) the encoder's own similarity."""
        from vtg.methods.tfvtg.method import similarity_to_image

        if block.ndim == 2:
            return np.stack([dot_scores(block, col) for col in self.columns], axis=1)
        feats = np.asarray(block, np.float32)
        if self.image:
            return similarity_to_image(feats, self.columns[0])[:, None].astype(np.float32)
        return np.asarray(self.similarity(feats, self.columns), np.float32)

    def relevance(self, block: np.ndarray) -> np.ndarray:
        """The whole query's raw per-frame similarity (mean over the query and its rewrites). For
        single-vector features the mean of dot products is the dot product with the mean vector,
        so the scan needs one matrix-vector product."""
        if block.ndim == 2:
            return dot_scores(block, self.mean_vector())
        return self.query_curve(self.frame_scores(block))

    def direction(self) -> np.ndarray:
        """The vector whose dot product with a (single-vector) frame is :meth:`relevance`."""
        return self.mean_vector()

    def mean_vector(self) -> np.ndarray:
        return np.asarray(self.columns[:self.width], np.float32).mean(axis=0)

    def query_curve(self, sims: np.ndarray) -> np.ndarray:
        """The whole-query columns of ``frame_scores`` averaged: float32 [rows]."""
        return sims[:, :self.width].mean(axis=1, dtype=np.float32)

    @property
    def width(self) -> int:
        """How many leading columns are the whole query (the query and its rewrites)."""
        return 1 if self.plan is None else len(self.plan.descriptions)

"""TFVTG's localiser on library features: what ``vtg ground --method tfvtg`` does, minus decoding.

The query goes through the method's own steps (LLM decomposition, calibration for the encoder,
window scoring, sub-event fusion: :func:`vtg.methods.tfvtg.method.ground_similarities`) on the
similarities computed from the library's shards, so a library hit and ``vtg ground`` on the same
video agree up to the float16 rounding of the stored features. Preset and window lengths follow
each video's stored duration and frame count as ``ground`` does (the ``long`` preset beyond
``long_after`` seconds, unless ``fps`` or ``stride`` is fixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vtg.library.scan import dot_scores
from vtg.types import Query
from vtg.types import Moment


@dataclass
class PreparedQuery:
    """A query encoded once: ``columns`` [m, ...] text (or image) features, and how to use them."""

    label: str
    columns: np.ndarray
    plan: object | None        # the decomposition (None for an image query)
    calibration: str
    #: ``similarity(frames, columns) -> [rows, m]``: the encoder's text-frame similarity.
    similarity: object
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
        """The whole query's raw per-frame similarity (mean over the query and its rewrites): what
        the scan ranks videos by, on one scale for every video of the library. For single-vector
        features the mean of dot products is the dot product with the mean vector, so the scan
        needs one matrix-vector product (:func:`vtg.library.scan.dot_scores`)."""
        if block.ndim == 2:
            return dot_scores(block, self.direction())
        return self.query_curve(self.frame_scores(block))

    def direction(self) -> np.ndarray:
        """The vector whose dot product with a frame is :meth:`relevance` (2-D features)."""
        width = 1 if self.plan is None else len(self.plan.descriptions)
        return np.asarray(self.columns[:width], np.float32).mean(axis=0)

    def query_curve(self, sims: np.ndarray) -> np.ndarray:
        """The whole-query columns of ``frame_scores`` averaged: float32 [rows]."""
        width = 1 if self.plan is None else len(self.plan.descriptions)
        return sims[:, :width].mean(axis=1, dtype=np.float32)


class TFVTGSearch:
    """Search-side half of :class:`vtg.methods.tfvtg.method.TFVTG`."""

    name = "tfvtg"

    def __init__(self, **options) -> None:
        from vtg.registry import load_method

        self.method = load_method("tfvtg", **options)
        self.config = self.method.config

    def prepare(self, encoder, query: Query) -> PreparedQuery:
        """Decompose (text) and encode the query once for the whole library."""
        from vtg.methods.tfvtg import calibration
        from vtg.methods.tfvtg.method import plan_texts

        self.method.check_query(query)
        cfg = self.config
        calibration.check(cfg.calibration)
        calib = calibration.resolve(cfg.calibration, encoder.family, query.image is not None)
        if query.image is not None:
            from vtg.video import load_image

            ref = encoder.encode_images(load_image(query.image)[None])
            return PreparedQuery(query.label, ref, None, calib, encoder.similarity, True)
        plan = self.method.decompose(query.text, None)  # one plan for every video: no video id
        return PreparedQuery(query.label, encoder.encode_texts(plan_texts(plan)), plan, calib, encoder.similarity, False)

    def localise(self, prepared: PreparedQuery, features: np.ndarray,
                 duration: float) -> tuple[list[Moment], np.ndarray, np.ndarray, dict]:
        """Moments (TFVTG confidences, best = 1), saliency curve, the raw whole-query curve (for
        ranking across videos) and meta of one video."""
        from vtg.methods.tfvtg import calibration
        from vtg.methods.tfvtg.method import ground_similarities

        cfg = self.config
        preset = self.method.preset_for(duration)
        stride, _, localise = self.method.localiser(len(features), duration, preset)
        sims = prepared.frame_scores(features)
        if prepared.image:
            curve = calibration.calibrate(sims[:, 0], prepared.calibration)
            moments, saliency = localise(curve), curve
        else:
            moments, saliency = ground_similarities(sims, prepared.plan, prepared.calibration, localise, cfg.gamma)
        meta = {"preset": preset.name, "stride_frames": stride, "calibration": prepared.calibration,
                "query_by": "image" if prepared.image else "text"}
        if prepared.plan is not None and not prepared.plan.trivial:
            meta["decomposition"] = prepared.plan.to_dict()
        return list(moments[:cfg.top_k]), np.asarray(saliency, np.float64), prepared.query_curve(sims), meta

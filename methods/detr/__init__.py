"""The DETR family of moment retrieval + highlight detection models: Moment-DETR (Lei et al.,
NeurIPS 2021) QD-DETR (Moon et al., CVPR 2023) and CG-DETR (Moon et al., arXiv:2311.08835), with the shared parts (transformer blocks, span decoding, conversion of the
released checkpoints) that QD-DETR and CG-DETR build on.

Importing this package is cheap; torch loads when a model is built or run.
"""

from __future__ import annotations

__all__ = ["MomentDETR", "QDDETR", "CGDETR"]


def __getattr__(name: str):
    if name in __all__:
        from . import method

        return getattr(method, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

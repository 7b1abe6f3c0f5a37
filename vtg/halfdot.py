"""Scores of a float16 block of frame features against one vector, without a float32 copy.

The feature cache and library shards store frame features as float16 (:mod:`vtg.feature_store`);
a query's relevance to each frame of 2-D features (CLIP, SigLIP) is one dot product per frame.
When torch is already loaded (a search has loaded the text encoder), its float16 matrix-vector
product, which accumulates in float32, reads the (often memory-mapped) block as it is, several
times faster than widening the block to float32 first: the widening, not the arithmetic,
dominates a numpy product. Without torch the block is widened once. Used by the library's exact
scan and approximate index and by methods scoring stored features (TFVTG's encoded query), so it
sits in core, below all of them.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

#: Blocks at least this large (elements) use torch's float16 product when torch is loaded.
TORCH_MIN_ELEMENTS = 1 << 22


def dot_scores(block: np.ndarray, vector: np.ndarray, *, use_torch: bool | None = None) -> np.ndarray:
    """``block @ vector`` as float32 for a float16 block [rows, D] (see the module docstring).
    ``use_torch``: None = when torch is already imported and the block is large, True/False to
    force a path. Small blocks stay in numpy: torch's product runs on its thread pool, and waking
    the pool costs more than widening a small block (tens of ms on a loaded machine)."""
    if use_torch is None:
        use_torch = "torch" in sys.modules and block.size >= TORCH_MIN_ELEMENTS
    if use_torch:
        import torch

        with warnings.catch_warnings():  # a read-only memory map: torch only reads it here
            warnings.simplefilter("ignore", UserWarning)
            mat = torch.from_numpy(np.ascontiguousarray(block))
        vec = torch.from_numpy(np.ascontiguousarray(vector, dtype=np.float16))
        return (mat @ vec).float().numpy()
    return np.asarray(block, np.float32) @ np.asarray(vector, np.float32)

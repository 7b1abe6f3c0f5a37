"""VTG-LLM's trainable modules: sequence-time embedding and slot-based token compression.

Guo et al., VTG-LLM (AAAI 2025), Sec. 3. Both are plain ``torch.nn.Module`` s meant for
fine-tuning a Video-LLM's visual path; the training-free method in :mod:`vtg.methods.vtgllm.method`
does not need them (an off-the-shelf model has not learnt them).

- :class:`SequenceTimeEmbedding` adds, to every visual token of frame ``i`` shown at ``t`` s, a
  frame-index embedding ``E_idx[i]`` plus an absolute-time embedding ``E_time[round(t)]``: a table
  with one row per whole second, looked up at the frame's time rounded to the second, as in the
  authors' released model (96 frame rows, 8192 time rows there). Both tables start at zero, so
  inserting the module leaves a pretrained model unchanged until it is trained.
- :class:`SlotCompression` turns a variable number of visual tokens into ``K`` (256): ``K``
  learnable slot vectors score every token by a dot product, a softmax over the tokens (not over
  the slots) gives each slot a weighting, and the slot is the weighted sum of the tokens. The
  parameters have the released model's shapes (slots ``[D, K]``, time table ``[8192, D]``, frame
  table ``[96, D]``), so its trained weights copy into these modules (after renaming the keys).
"""

from __future__ import annotations

import torch
from torch import nn


class SequenceTimeEmbedding(nn.Module):
    """Frame-index embedding + absolute-time embedding, added to each frame's visual tokens."""

    def __init__(self, dim: int, max_frames: int = 96, max_time: int = 8192, zero_init: bool = True):
        super().__init__()
        self.max_frames = max_frames
        self.max_time = max_time
        self.frame_index = nn.Embedding(max_frames, dim)
        self.time_index = nn.Embedding(max_time, dim)
        for table in (self.frame_index, self.time_index):
            if zero_init:
                nn.init.zeros_(table.weight)
            else:
                nn.init.normal_(table.weight, std=0.02)

    def time_ids(self, times: torch.Tensor) -> torch.Tensor:
        """Row of the time table for each time: whole seconds, clamped into the table."""
        return times.detach().round().long().clamp(0, self.max_time - 1)

    def forward(self, tokens: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """``tokens`` [B, T, N, D] visual tokens of T frames; ``times`` [B, T] seconds."""
        if tokens.dim() != 4 or times.shape != tokens.shape[:2]:
            raise ValueError(f"expected tokens [B, T, N, D] and times [B, T], got {tuple(tokens.shape)} and {tuple(times.shape)}")
        b, t = times.shape
        if t > self.max_frames:
            raise ValueError(f"{t} frames exceed max_frames={self.max_frames}")
        index = torch.arange(t, device=tokens.device).expand(b, t)
        extra = self.frame_index(index) + self.time_index(self.time_ids(times))
        return tokens + extra.unsqueeze(2).to(tokens.dtype)


class SlotCompression(nn.Module):
    """Compress L visual tokens to K slots with learnable slot vectors and a softmax over the tokens."""

    def __init__(self, dim: int, num_slots: int = 256):
        super().__init__()
        self.num_slots = num_slots
        self.slots = nn.Parameter(torch.randn(dim, num_slots))

    def weights(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """[B, L, K] token weights of every slot (each column sums to 1 over the tokens)."""
        logits = tokens @ self.slots.to(tokens.dtype)  # [B, L, K], no temperature (as released)
        if mask is not None:
            logits = logits.masked_fill(~mask.bool().unsqueeze(-1), float("-inf"))
        return logits.softmax(dim=1)  # over the tokens

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``tokens`` [B, L, D] (``mask`` [B, L], True = real token) -> [B, K, D]."""
        if tokens.dim() != 3:
            raise ValueError(f"expected tokens [B, L, D], got {tuple(tokens.shape)}")
        return self.weights(tokens, mask).transpose(1, 2) @ tokens

"""VTG-LLM's trainable modules: sequence-time embedding and slot-based token compression.

Guo et al., VTG-LLM (AAAI 2025), Sec. 3. Both are plain ``torch.nn.Module`` s meant for
fine-tuning a Video-LLM's visual path; the training-free method in :mod:`vtg.methods.vtgllm.method`
does not need them (an off-the-shelf model has not learnt them).

- :class:`SequenceTimeEmbedding` adds, to every visual token of frame ``i`` shown at ``t`` s, a
  frame-index embedding ``E_idx[i]`` plus an absolute-time embedding of ``t``. The absolute-time
  embedding reads ``t`` in the time-token format (``0025.0``) and sums one learnt embedding per
  (character position, character), so time is represented the way the time tokens spell it.
  Both tables start at zero, so inserting the module leaves a pretrained model unchanged until
  it is trained.
- :class:`SlotCompression` turns a variable number of visual tokens into ``K`` (256 by default):
  ``K`` learnable slot queries score every token, a softmax over the tokens gives each slot a
  weighting, and the slot is the weighted sum of the tokens.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vtg.methods.vtgllm.timetokens import CHARS, time_string

TIME_CHARS = 6  # "0025.0"


def time_char_ids(times: torch.Tensor) -> torch.Tensor:
    """Character ids [..., 6] of ``times`` (seconds) written as ``0025.0``."""
    flat = times.detach().reshape(-1).double().cpu().tolist()
    ids = [[CHARS.index(c) for c in time_string(t)] for t in flat]
    return torch.tensor(ids, dtype=torch.long, device=times.device).reshape(*times.shape, TIME_CHARS)


class SequenceTimeEmbedding(nn.Module):
    """Frame-index embedding + absolute-time embedding, added to each frame's visual tokens."""

    def __init__(self, dim: int, max_frames: int = 256, zero_init: bool = True):
        super().__init__()
        self.max_frames = max_frames
        self.frame_index = nn.Embedding(max_frames, dim)
        self.time_chars = nn.Embedding(TIME_CHARS * len(CHARS), dim)
        for table in (self.frame_index, self.time_chars):
            if zero_init:
                nn.init.zeros_(table.weight)
            else:
                nn.init.normal_(table.weight, std=0.02)

    def time_embedding(self, times: torch.Tensor) -> torch.Tensor:
        """[..., D] embedding of absolute times in seconds."""
        ids = time_char_ids(times) + torch.arange(TIME_CHARS, device=times.device) * len(CHARS)
        return self.time_chars(ids).sum(dim=-2)

    def forward(self, tokens: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """``tokens`` [B, T, N, D] visual tokens of T frames; ``times`` [B, T] seconds."""
        if tokens.dim() != 4 or times.shape != tokens.shape[:2]:
            raise ValueError(f"expected tokens [B, T, N, D] and times [B, T], got {tuple(tokens.shape)} and {tuple(times.shape)}")
        b, t = times.shape
        if t > self.max_frames:
            raise ValueError(f"{t} frames exceed max_frames={self.max_frames}")
        index = torch.arange(t, device=tokens.device).expand(b, t)
        extra = self.frame_index(index) + self.time_embedding(times)
        return tokens + extra.unsqueeze(2).to(tokens.dtype)


class SlotCompression(nn.Module):
    """Compress L visual tokens to K slots with learnable queries and a softmax over the tokens."""

    def __init__(self, dim: int, num_slots: int = 256):
        super().__init__()
        self.num_slots = num_slots
        self.slots = nn.Parameter(torch.randn(num_slots, dim) / math.sqrt(dim))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``tokens`` [B, L, D] (``mask`` [B, L], True = real token) -> [B, K, D]."""
        if tokens.dim() != 3:
            raise ValueError(f"expected tokens [B, L, D], got {tuple(tokens.shape)}")
        logits = tokens @ self.slots.to(tokens.dtype).t() / math.sqrt(tokens.shape[-1])  # [B, L, K]
        if mask is not None:
            logits = logits.masked_fill(~mask.bool().unsqueeze(-1), float("-inf"))
        weights = logits.softmax(dim=1)  # over the tokens
        return weights.transpose(1, 2) @ tokens

    def weights(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, L, K] token weights of every slot (each column sums to 1), for inspection."""
        logits = tokens @ self.slots.to(tokens.dtype).t() / math.sqrt(tokens.shape[-1])
        return logits.softmax(dim=1)

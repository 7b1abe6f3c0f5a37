"""The torch module behind :mod:`vtg.encoders.clip_text`: CLIP's text transformer (Radford et al.
2021, Sec. 2.4), with open_clip's parameter names so its checkpoints load unchanged.

Pre-LayerNorm residual blocks (multi-head self-attention under a causal mask, then a 4x MLP with
GELU or QuickGELU), a final LayerNorm, the state at the highest token id ([EOT]) and a linear
projection into the joint embedding space. Half precision follows open_clip's ``fp16``: linear and
attention weights and the projection in half, embeddings and LayerNorms in float32, LayerNorm
computed in float32 and cast back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 when the activations are half (open_clip's ``LayerNormFp32``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        if dtype in (torch.float16, torch.bfloat16):
            return F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps).to(dtype)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).to(dtype)


class _QuickGELU(nn.Module):
    """x * sigmoid(1.702 x), the activation OpenAI's CLIP weights were trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _Block(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float, quick_gelu: bool):
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.ln_1 = _LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = _LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, hidden))
        self.mlp.add_module("gelu", _QuickGELU() if quick_gelu else nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        h = self.ln_1(x)
        mask = attn_mask.to(h.dtype) if attn_mask is not None else None
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class _Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float, quick_gelu: bool):
        super().__init__()
        self.resblocks = nn.ModuleList([_Block(width, heads, mlp_ratio, quick_gelu) for _ in range(layers)])

    def get_cast_dtype(self) -> torch.dtype:
        first_linear = self.resblocks[0].get_submodule("mlp.c_fc")
        assert isinstance(first_linear, nn.Linear)
        return first_linear.weight.dtype

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x


class ClipTextTower(nn.Module):
    """``encode_text(tokens) -> [N, embed_dim]`` (unnormalised), as ``open_clip.CLIP.encode_text``."""

    text_pool_type = "argmax"

    def __init__(self, context_length: int, vocab_size: int, width: int, heads: int, layers: int,
                 mlp_ratio: float, embed_dim: int, quick_gelu: bool):
        super().__init__()
        self.context_length = int(context_length)
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.transformer = _Transformer(width, layers, heads, mlp_ratio, quick_gelu)
        self.ln_final = _LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim))
        self.attn_mask: torch.Tensor | None = None  # built by finish(), on the final device

    def finish(self, device: str, dtype: torch.dtype) -> None:
        """Move to ``device``, cast like open_clip's precision setting, and build the causal mask
        (after the weights were assigned: the module was built on the meta device)."""
        self.to(device)
        if dtype in (torch.float16, torch.bfloat16):
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    module.to(dtype)
                if isinstance(module, nn.MultiheadAttention):
                    module.in_proj_weight.data = module.in_proj_weight.data.to(dtype)
                    module.in_proj_bias.data = module.in_proj_bias.data.to(dtype)
            self.text_projection.data = self.text_projection.data.to(dtype)
        n = self.context_length
        self.attn_mask = torch.full((n, n), float("-inf"), device=device).triu_(1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Pooled, projected text features. Only the first ``n`` positions run, ``n`` being the
        batch's last [EOT] position + 1: under the causal mask no position attends to a later
        one, so the padding after [EOT] cannot change the pooled state, and a short query costs
        a few positions instead of the full context (77 for CLIP). open_clip runs every position;
        the results agree to float rounding (tests: 1e-5)."""
        assert self.attn_mask is not None, "finish() builds the causal mask before the first encode_text()"
        dtype = self.transformer.get_cast_dtype()
        eot = tokens.argmax(dim=-1)
        n = int(eot.max()) + 1
        x = self.token_embedding(tokens[:, :n]).to(dtype) + self.positional_embedding[:n].to(dtype)
        x = self.ln_final(self.transformer(x, attn_mask=self.attn_mask[:n, :n]))
        x = x[torch.arange(x.shape[0], device=x.device), eot]
        return x @ self.text_projection

"""PySlowFast's SlowFast 8x8 ResNet-50 (``SLOWFAST_8x8_R50``), re-typed for feature extraction.

Two pathways over the same 2-s clip: *slow* sees 8 frames with wide channels, *fast* 32 frames with
1/8 of the channels; after the stem and each of the first three residual stages, a strided
temporal convolution carries fast into slow (``alpha`` = 4 frames per slow frame, twice the fast
channels). The feature is each pathway's global average after stage 5, concatenated:
2048 + 256 = 2304 (the classifier head is dropped, as the extractors do). Parameter names are
PySlowFast's, so its converted checkpoints load as they are; ``width`` and ``depths`` exist so
tests can build a tiny network of the same shape of code.
"""

from __future__ import annotations

import torch
from torch import nn

ALPHA = 4            # fast frames per slow frame
BETA_INV = 8         # slow channels / fast channels
FUSION_RATIO = 2     # fast-to-slow fusion output channels / fast channels
FUSION_KERNEL = 7
#: temporal kernel of (slow, fast) for the stem and stages 2-5
TEMPORAL = ((1, 5), (1, 3), (1, 3), (3, 3), (3, 3))
R50_DEPTHS = (3, 4, 6, 3)
EPS = 1e-5


def _conv_bn(c_in: int, c_out: int, kernel, stride, padding) -> tuple[nn.Conv3d, nn.BatchNorm3d]:
    return nn.Conv3d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False), nn.BatchNorm3d(c_out, eps=EPS)


class Stem(nn.Module):
    """Conv (t x 7 x 7, spatial stride 2), BN, ReLU, 3 x 3 spatial max-pool (stride 2)."""

    def __init__(self, c_out: int, t_kernel: int):
        super().__init__()
        self.conv, self.bn = _conv_bn(3, c_out, (t_kernel, 7, 7), (1, 2, 2), (t_kernel // 2, 3, 3))
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.bn(self.conv(x))))


class Bottleneck(nn.Module):
    """t x 1 x 1 -> 1 x 3 x 3 (carries the spatial stride) -> 1 x 1 x 1, each with BN."""

    def __init__(self, c_in: int, c_out: int, c_inner: int, t_kernel: int, stride: int):
        super().__init__()
        self.a, self.a_bn = _conv_bn(c_in, c_inner, (t_kernel, 1, 1), 1, (t_kernel // 2, 0, 0))
        self.b, self.b_bn = _conv_bn(c_inner, c_inner, (1, 3, 3), (1, stride, stride), (0, 1, 1))
        self.c, self.c_bn = _conv_bn(c_inner, c_out, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.a_bn(self.a(x)))
        x = torch.relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class Block(nn.Module):
    """Residual block; a projection shortcut (``branch1``) where the shape changes."""

    def __init__(self, c_in: int, c_out: int, c_inner: int, t_kernel: int, stride: int):
        super().__init__()
        self.projects = c_in != c_out or stride != 1
        if self.projects:
            self.branch1, self.branch1_bn = _conv_bn(c_in, c_out, 1, (1, stride, stride), 0)
        self.branch2 = Bottleneck(c_in, c_out, c_inner, t_kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.branch1_bn(self.branch1(x)) if self.projects else x
        return torch.relu(shortcut + self.branch2(x))


class FastToSlow(nn.Module):
    """Strided temporal conv of the fast pathway, concatenated to the slow one."""

    def __init__(self, c_fast: int):
        super().__init__()
        self.conv_f2s, self.bn = _conv_bn(c_fast, c_fast * FUSION_RATIO, (FUSION_KERNEL, 1, 1), (ALPHA, 1, 1),
                                          (FUSION_KERNEL // 2, 0, 0))

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        return torch.cat([slow, torch.relu(self.bn(self.conv_f2s(fast)))], dim=1)


def _global_average(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C): average pooling over the whole extent, as the head's pooling
    (kernel T x 7 x 7 on the 224-pixel input) computes it, so the sums run in the same order."""
    return torch.nn.functional.avg_pool3d(x, tuple(x.shape[2:])).flatten(1)


class StemPair(nn.Module):
    """The two pathways' stems (``pathway0_stem``: slow, ``pathway1_stem``: fast)."""

    def __init__(self, slow: Stem, fast: Stem):
        super().__init__()
        self.pathway0_stem, self.pathway1_stem = slow, fast

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pathway0_stem(slow), self.pathway1_stem(fast)


class Stage(nn.Module):
    """A residual stage of both pathways (``pathway0_res0`` ... ``pathway1_res{depth-1}``)."""

    def __init__(self, slow: list[Block], fast: list[Block]):
        super().__init__()
        self.depth = len(slow)
        for i, (s, f) in enumerate(zip(slow, fast)):
            self.add_module(f"pathway0_res{i}", s)
            self.add_module(f"pathway1_res{i}", f)

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for i in range(self.depth):
            slow = getattr(self, f"pathway0_res{i}")(slow)
            fast = getattr(self, f"pathway1_res{i}")(fast)
        return slow, fast


class SlowFastR50(nn.Module):
    """``forward(slow (B,3,8,H,W), fast (B,3,32,H,W)) -> (B, 2304)`` for the released sizes."""

    def __init__(self, width: int = 64, depths: tuple[int, ...] = R50_DEPTHS):
        super().__init__()
        self.depths = tuple(depths)
        f = width // BETA_INV
        self.s1 = StemPair(Stem(width, TEMPORAL[0][0]), Stem(f, TEMPORAL[0][1]))
        self.s1_fuse = FastToSlow(f)
        slow_in, fast_in = width + f * FUSION_RATIO, f
        self.stages = len(self.depths)
        for k, depth in enumerate(self.depths):
            stride = 1 if k == 0 else 2
            slow_out, inner = width * 4 * 2 ** k, width * 2 ** k
            fast_out = slow_out // BETA_INV
            slow_blocks = [Block(slow_in if i == 0 else slow_out, slow_out, inner, TEMPORAL[k + 1][0],
                                 stride if i == 0 else 1) for i in range(depth)]
            fast_blocks = [Block(fast_in if i == 0 else fast_out, fast_out, inner // BETA_INV, TEMPORAL[k + 1][1],
                                 stride if i == 0 else 1) for i in range(depth)]
            self.add_module(f"s{k + 2}", Stage(slow_blocks, fast_blocks))
            fused = k < 3
            if fused:
                self.add_module(f"s{k + 2}_fuse", FastToSlow(fast_out))
            slow_in, fast_in = slow_out + (fast_out * FUSION_RATIO if fused else 0), fast_out

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        slow, fast = self.s1(slow, fast)
        slow = self.s1_fuse(slow, fast)
        for k in range(self.stages):
            slow, fast = getattr(self, f"s{k + 2}")(slow, fast)
            if k < 3:
                slow = getattr(self, f"s{k + 2}_fuse")(slow, fast)
        return torch.cat([_global_average(slow), _global_average(fast)], dim=1)

"""PySlowFast's SlowFast (as Lighthouse vendors it: lighthouse/feature_extractor/vision_encoders/
slowfast_model/models/{stem_helper,resnet_helper,video_model_builder,head_helper}.py) and the
HERO / Lighthouse SlowFast preprocessing (frame_loaders/slowfast_loader.py,
vision_encoders/slowfast.py), re-typed for parity tests; ``width`` / ``depths`` make it tiny."""

from __future__ import annotations

import math

import torch
from torch import nn

TEMP = [[[1], [5]], [[1], [3]], [[1], [3]], [[3], [3]], [[3], [3]]]


class RefBasicStem(nn.Module):
    def __init__(self, dim_in, dim_out, kernel, stride, padding):
        super().__init__()
        self.conv = nn.Conv3d(dim_in, dim_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm3d(dim_out, eps=1e-5, momentum=0.1)
        self.relu = nn.ReLU(True)
        self.pool_layer = nn.MaxPool3d(kernel_size=[1, 3, 3], stride=[1, 2, 2], padding=[0, 1, 1])

    def forward(self, x):
        return self.pool_layer(self.relu(self.bn(self.conv(x))))


class RefVideoModelStem(nn.Module):
    def __init__(self, dim_in, dim_out, kernel, stride, padding):
        super().__init__()
        for p in range(len(dim_in)):
            self.add_module(f"pathway{p}_stem", RefBasicStem(dim_in[p], dim_out[p], kernel[p], stride[p], padding[p]))
        self.num_pathways = len(dim_in)

    def forward(self, x):
        for p in range(len(x)):
            x[p] = getattr(self, f"pathway{p}_stem")(x[p])
        return x


class RefBottleneck(nn.Module):
    def __init__(self, dim_in, dim_out, temp_kernel_size, stride, dim_inner):
        super().__init__()
        self.a = nn.Conv3d(dim_in, dim_inner, kernel_size=[temp_kernel_size, 1, 1], stride=[1, 1, 1],
                           padding=[int(temp_kernel_size // 2), 0, 0], bias=False)
        self.a_bn = nn.BatchNorm3d(dim_inner, eps=1e-5, momentum=0.1)
        self.a_relu = nn.ReLU(inplace=True)
        self.b = nn.Conv3d(dim_inner, dim_inner, [1, 3, 3], stride=[1, stride, stride], padding=[0, 1, 1],
                           groups=1, bias=False, dilation=[1, 1, 1])
        self.b_bn = nn.BatchNorm3d(dim_inner, eps=1e-5, momentum=0.1)
        self.b_relu = nn.ReLU(inplace=True)
        self.c = nn.Conv3d(dim_inner, dim_out, kernel_size=[1, 1, 1], stride=[1, 1, 1], padding=[0, 0, 0], bias=False)
        self.c_bn = nn.BatchNorm3d(dim_out, eps=1e-5, momentum=0.1)

    def forward(self, x):
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class RefResBlock(nn.Module):
    def __init__(self, dim_in, dim_out, temp_kernel_size, stride, dim_inner):
        super().__init__()
        if (dim_in != dim_out) or (stride != 1):
            self.branch1 = nn.Conv3d(dim_in, dim_out, kernel_size=1, stride=[1, stride, stride], padding=0, bias=False)
            self.branch1_bn = nn.BatchNorm3d(dim_out, eps=1e-5, momentum=0.1)
        self.branch2 = RefBottleneck(dim_in, dim_out, temp_kernel_size, stride, dim_inner)
        self.relu = nn.ReLU(True)

    def forward(self, x):
        if hasattr(self, "branch1"):
            x = self.branch1_bn(self.branch1(x)) + self.branch2(x)
        else:
            x = x + self.branch2(x)
        return self.relu(x)


class RefResStage(nn.Module):
    def __init__(self, dim_in, dim_out, stride, temp_kernel_sizes, num_blocks, dim_inner, num_block_temp_kernel):
        super().__init__()
        self.num_blocks = num_blocks
        self.temp_kernel_sizes = [(temp_kernel_sizes[i] * num_blocks[i])[: num_block_temp_kernel[i]]
                                  + [1] * (num_blocks[i] - num_block_temp_kernel[i]) for i in range(len(temp_kernel_sizes))]
        for p in range(len(num_blocks)):
            for i in range(num_blocks[p]):
                self.add_module(f"pathway{p}_res{i}", RefResBlock(
                    dim_in[p] if i == 0 else dim_out[p], dim_out[p], self.temp_kernel_sizes[p][i],
                    stride[p] if i == 0 else 1, dim_inner[p]))

    def forward(self, inputs):
        output = []
        for p in range(len(self.num_blocks)):
            x = inputs[p]
            for i in range(self.num_blocks[p]):
                x = getattr(self, f"pathway{p}_res{i}")(x)
            output.append(x)
        return output


class RefFuseFastToSlow(nn.Module):
    def __init__(self, dim_in, fusion_conv_channel_ratio, fusion_kernel, alpha):
        super().__init__()
        self.conv_f2s = nn.Conv3d(dim_in, dim_in * fusion_conv_channel_ratio, kernel_size=[fusion_kernel, 1, 1],
                                  stride=[alpha, 1, 1], padding=[fusion_kernel // 2, 0, 0], bias=False)
        self.bn = nn.BatchNorm3d(dim_in * fusion_conv_channel_ratio, eps=1e-5, momentum=0.1)
        self.relu = nn.ReLU(True)

    def forward(self, x):
        x_s, x_f = x[0], x[1]
        fuse = self.relu(self.bn(self.conv_f2s(x_f)))
        return [torch.cat([x_s, fuse], 1), x_f]


class RefSlowFast(nn.Module):
    """SlowFastModel(last_fc=True): returns the head's pooled features, flattened."""

    def __init__(self, width_per_group=64, depths=(3, 4, 6, 3)):
        super().__init__()
        d2, d3, d4, d5 = depths
        w, dim_inner, out_dim_ratio = width_per_group, width_per_group, 8 // 2
        self.s1 = RefVideoModelStem([3, 3], [w, w // 8], [TEMP[0][0] + [7, 7], TEMP[0][1] + [7, 7]], [[1, 2, 2]] * 2,
                                    [[TEMP[0][0][0] // 2, 3, 3], [TEMP[0][1][0] // 2, 3, 3]])
        self.s1_fuse = RefFuseFastToSlow(w // 8, 2, 7, 4)
        self.s2 = RefResStage([w + w // out_dim_ratio, w // 8], [w * 4, w * 4 // 8], [1, 1], TEMP[1], [d2] * 2,
                              [dim_inner, dim_inner // 8], [d2, d2])
        self.s2_fuse = RefFuseFastToSlow(w * 4 // 8, 2, 7, 4)
        for p in range(2):
            self.add_module(f"pathway{p}_pool", nn.MaxPool3d(kernel_size=[1, 1, 1], stride=[1, 1, 1], padding=[0, 0, 0]))
        self.s3 = RefResStage([w * 4 + w * 4 // out_dim_ratio, w * 4 // 8], [w * 8, w * 8 // 8], [2, 2], TEMP[2],
                              [d3] * 2, [dim_inner * 2, dim_inner * 2 // 8], [d3, d3])
        self.s3_fuse = RefFuseFastToSlow(w * 8 // 8, 2, 7, 4)
        self.s4 = RefResStage([w * 8 + w * 8 // out_dim_ratio, w * 8 // 8], [w * 16, w * 16 // 8], [2, 2], TEMP[3],
                              [d4] * 2, [dim_inner * 4, dim_inner * 4 // 8], [d4, d4])
        self.s4_fuse = RefFuseFastToSlow(w * 16 // 8, 2, 7, 4)
        self.s5 = RefResStage([w * 16 + w * 16 // out_dim_ratio, w * 16 // 8], [w * 32, w * 32 // 8], [2, 2], TEMP[4],
                              [d5] * 2, [dim_inner * 8, dim_inner * 8 // 8], [d5, d5])
        # ResNetBasicHead(pool_size=[[32 // 4, 224 // 32, 224 // 32], [32, 224 // 32, 224 // 32]], last_fc=True)
        self.pathway0_avgpool = nn.AvgPool3d([32 // 4, 224 // 32, 224 // 32], stride=1)
        self.pathway1_avgpool = nn.AvgPool3d([32, 224 // 32, 224 // 32], stride=1)

    def forward(self, x):
        x = self.s1(x)
        x = self.s1_fuse(x)
        x = self.s2(x)
        x = self.s2_fuse(x)
        for p in range(2):
            x[p] = getattr(self, f"pathway{p}_pool")(x[p])
        x = self.s3(x)
        x = self.s3_fuse(x)
        x = self.s4(x)
        x = self.s4_fuse(x)
        x = self.s5(x)
        pooled = torch.cat([self.pathway0_avgpool(x[0]), self.pathway1_avgpool(x[1])], 1)
        pooled = pooled.permute((0, 2, 3, 4, 1))
        return pooled.view(pooled.shape[0], -1)


def ref_preprocess(frames: torch.Tensor, duration: float, source_fps: float) -> torch.Tensor:
    """slowfast_loader.Preprocessing('3d', target_fps=30, size=224, clip_len=2, padding_mode='tile')
    on (N, 224, 224, 3) uint8 frames at 30/s -> (clips, 32, 224, 224, 3)."""
    target_fps, size, clip_len = 30, 224, 2.0
    n = target_fps - len(frames) % target_fps
    if n != target_fps:
        frames = torch.cat((frames, torch.cat(int(n) * [frames[-1:, :, :, :]])), 0)
    tensor = frames.view(-1, target_fps, size, size, 3)
    n = clip_len - len(tensor) % clip_len
    if n != clip_len:
        tensor = torch.cat((tensor, torch.cat(int(n) * [tensor[-1:, :, :, :, :]])), 0)
    clips = tensor.view(-1, int(clip_len * target_fps), size, size, 3)
    if duration > 0:
        clips = clips[:int(math.ceil(duration / clip_len))]
    fps = math.floor(source_fps)
    clip_size = 32 * 2 * fps / target_fps
    delta = max(clips.shape[1] - clip_size, 0)
    start_idx = int(delta * 0 / 1)
    end_idx = int(start_idx + clip_size - 1)
    index = torch.clamp(torch.linspace(start_idx, end_idx, 32), 0, clips.shape[1] - 1).long()
    return torch.index_select(clips, 1, index)


def ref_features(net: RefSlowFast, clips: torch.Tensor) -> torch.Tensor:
    """vision_encoders/slowfast.py SlowFast.__call__ (without the fp16 storage)."""
    fast_clip = clips.float().permute(0, 4, 1, 2, 3) / 255.
    mean = torch.FloatTensor([0.45] * 3).view(1, 3, 1, 1, 1)
    std = torch.FloatTensor([0.225] * 3).view(1, 3, 1, 1, 1)
    fast_clip = (fast_clip - mean) / (std + 1e-8)
    slow = torch.index_select(fast_clip, 2, torch.linspace(0, fast_clip.shape[2] - 1, fast_clip.shape[2] // 4).long())
    with torch.no_grad():
        return net([slow, fast_clip])

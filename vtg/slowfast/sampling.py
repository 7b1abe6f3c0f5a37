"""Which frames SlowFast sees, as the HERO / Moment-DETR extractor chooses them (re-packaged by
Lighthouse, ``frame_loaders/slowfast_loader.py``; the released SlowFast+CLIP checkpoints were
trained on its output):

1. frames at 30 per second, the shorter side scaled to 224 and the centre 224 x 224 cropped;
2. the frame count padded to whole seconds, then the seconds padded to whole 2-s clips, by
   repeating the last frame (resp. the last second); ``ceil(duration / 2)`` clips are kept;
3. from each clip's 60 frames, 32 at ``linspace(0, end, 32)`` (truncated to integers, clamped to
   59), where ``end = int(64 * floor(source fps) / 30 - 1)``: the window is that of 64 frames *at
   the source's rate*, so a 30-fps video gives every other frame of the 2 s and a 10-fps video the
   first 21 resampled frames (0.7 s). That is the released behaviour, kept so features match;
4. values / 255, normalised with mean 0.45 and std 0.225 (plus 1e-8); the slow pathway takes 8 of
   the 32 frames at ``linspace(0, 31, 8)``.

vtg decodes and resizes with its own decoder (:func:`vtg.video.iter_frames`) instead of an
``ffmpeg`` pipe, so a frame may differ from ffmpeg's by a resampling filter and a pixel of crop.
"""

from __future__ import annotations

import math

import numpy as np

TARGET_FPS = 30
CLIP_SECONDS = 2
CLIP_FRAMES = TARGET_FPS * CLIP_SECONDS
SAMPLES = 32
SAMPLING_RATE = 2
SIZE = 224
MEAN, STD = 0.45, 0.225


def clip_count(duration: float) -> int:
    return max(1, int(math.ceil(duration / CLIP_SECONDS)))


def sample_indices(source_fps: float) -> np.ndarray:
    """The 32 frame indices (into a clip's 60) the extractor keeps, for a video of ``source_fps``."""
    import torch

    window = SAMPLES * SAMPLING_RATE * math.floor(source_fps) / TARGET_FPS
    end = int(window - 1)  # the first (and only) window starts at frame 0
    index = torch.linspace(0, end, SAMPLES).clamp(0, CLIP_FRAMES - 1).long()
    return index.numpy()


def slow_indices() -> np.ndarray:
    import torch

    return torch.linspace(0, SAMPLES - 1, SAMPLES // 4).long().numpy()


def centre_crop(frames: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(N, H, W, 3) with the shorter side ``size`` -> the centre ``size`` x ``size``."""
    h, w = frames.shape[1:3]
    y, x = int((h - size) / 2.0), int((w - size) / 2.0)
    return frames[:, y:y + size, x:x + size]


def padded_clips(frames: np.ndarray, duration: float) -> np.ndarray:
    """(N, S, S, 3) frames at 30/s -> (clips, 60, S, S, 3): padded to whole seconds, then to whole
    clips, by repeating the last frame / second; ``ceil(duration / 2)`` clips kept."""
    short = -len(frames) % TARGET_FPS
    if short:
        frames = np.concatenate([frames, np.repeat(frames[-1:], short, axis=0)])
    seconds = frames.reshape(-1, TARGET_FPS, *frames.shape[1:])
    short = -len(seconds) % CLIP_SECONDS
    if short:
        seconds = np.concatenate([seconds, np.repeat(seconds[-1:], short, axis=0)])
    clips = seconds.reshape(-1, CLIP_FRAMES, *frames.shape[1:])
    return clips[: clip_count(duration)] if duration > 0 else clips


def network_inputs(clips: np.ndarray, source_fps: float):
    """(B, 60, S, S, 3) uint8 clips -> (slow (B,3,8,S,S), fast (B,3,32,S,S)) float tensors."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(clips[:, sample_indices(source_fps)]))
    x = x.permute(0, 4, 1, 2, 3).float() / 255.0
    fast = (x - MEAN) / (STD + 1e-8)
    slow = fast[:, :, torch.from_numpy(slow_indices())]
    return slow, fast

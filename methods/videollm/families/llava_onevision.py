"""LLaVA-OneVision / LLaVA-Video (Li et al., 2024; Zhang et al., 2024): SigLIP at 384x384, 729
tokens a frame pooled 2x2 to 196 for video; images are tiled "anyres" (thousands of tokens), so an
interleaved frame goes in as a one-frame video. LLaVA-Video was trained with up to 64 frames.

Frame times: LLaVA-Video's time instruction before the video (its released inference code): "The
video lasts for D seconds, and N frames are uniformly sampled from it. These frames are located at
t1s, t2s, .... Please answer the following questions related to this video." with the frames'
true times.
"""

from __future__ import annotations

import numpy as np

from vtg.methods.videollm.families.base import Family

TIME_INSTRUCTION = ("The video lasts for {duration:.2f} seconds, and {n} frames are uniformly sampled from it. "
                    "These frames are located at {times}.Please answer the following questions related to this video.")


class LlavaOneVision(Family):
    name = "llava-onevision"
    label = "LLaVA-OneVision / LLaVA-Video"
    model_types = ("llava_onevision",)
    max_frames = 64
    frames_as_videos = True
    time_convention = "LLaVA-Video's time instruction (duration, frame count, each frame's time) before the video"

    def time_text(self, video):
        times = np.asarray(video.times, np.float64)
        if times.size != len(video.frames) or times.size == 0:
            return None
        step = float(np.median(np.diff(times))) if times.size > 1 else 0.0
        return TIME_INSTRUCTION.format(duration=float(times[-1]) + step, n=times.size,
                                       times=",".join(f"{t:.2f}s" for t in times)) + "\n"

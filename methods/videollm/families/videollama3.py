"""VideoLLaMA3 (Zhang et al., 2025): dynamic resolution, 14 px patches; video frames merged 2x2
(one token per 28x28 pixels), images not merged (one token per 14x14).

Frame times: the processor writes ``Time t s:`` before each frame's tokens, fed the frames' true
times. Its own differential frame pruning (DiffFP, Sec. 3.3) stays on: the video processor drops
patches that barely differ from the same patch of the previous frame (``use_token_compression``),
and the ``Time`` text counts only the kept tokens.
"""

from __future__ import annotations

from vtg.methods.videollm.families.base import Family


class VideoLlama3(Family):
    name = "videollama3"
    label = "VideoLLaMA3"
    model_types = ("video_llama_3",)
    token_side = 28
    #: The released video processor's ``max_frames``.
    max_frames = 180
    time_convention = "'Time t s:' before each frame, from the frames' true times; DiffFP token pruning on"

    def pixels_for_tokens(self, tokens: int) -> int:
        # Interleaved frames go in as images, one token per 14x14 pixels.
        return int(tokens) * 14 * 14

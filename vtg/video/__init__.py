"""Video input: probing and frame sampling with true timestamps.

>>> from vtg.video import probe, iter_frames
>>> info = probe("clip.mp4")                      # duration, fps, display size, rotation, ...
>>> for batch in iter_frames("clip.mp4", fps=1):  # streams FrameBatch(times, frames)
...     batch.times, batch.frames.shape           # seconds from the first frame, [N, H, W, 3] RGB

Backends: ``"pyav"`` (default, sequential FFmpeg decoding) and ``"decord"`` (optional; refuses
MP4 edit lists it would misread). See docs/video.md.
"""

from vtg.video.backends import BACKENDS, available_backends
from vtg.video.image import load_image
from vtg.video.info import VideoInfo, probe
from vtg.video.reader import FrameBatch, iter_frames, read_frames
from vtg.video.source import VideoSource

__all__ = ["probe", "VideoInfo", "FrameBatch", "iter_frames", "read_frames", "load_image", "VideoSource",
           "BACKENDS", "available_backends"]

"""What a video is: :class:`VideoInfo` and :func:`probe`.

``probe`` answers the questions every caller asks before sampling (how long, how many frames per
second, what size on screen) without decoding the whole file: it reads the container header, a
few hundred packet timestamps (to tell constant from variable frame rate) and the first frame
(for the rotation and to prove the stream decodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vtg.video.source import VideoSource


@dataclass(frozen=True)
class VideoInfo:
    """Facts about a video file, in the units users think in.

    ``width``/``height`` are the display size: after the rotation from the stream's display matrix
    (so a portrait phone clip reports width < height) and after a non-square sample aspect ratio.
    ``rotation`` is the clockwise angle in degrees (0, 90, 180, 270) applied to the coded pictures
    to display them, the convention of the legacy ``rotate`` tag phones write. ``duration`` is the
    video stream's presentation length in seconds, measured from its first frame; ``start_time`` is
    the stream's first timestamp in the container (frame times returned by :func:`iter_frames` are
    measured from it, so the first frame is at ~0.0). ``fps`` is the average frame rate;
    ``num_frames`` counts displayed frames (``None`` when the container does not say).
    """

    path: Path
    duration: float
    fps: float
    width: int
    height: int
    rotation: int
    num_frames: int | None
    codec: str
    has_audio: bool
    variable_frame_rate: bool
    start_time: float


def probe(path, backend: str = "pyav") -> VideoInfo:
    """Read a video's duration, frame rate, display size, rotation and streams.

    ``backend`` names the reader that will decode the file later: probing with ``"decord"`` also
    checks that decord can read this file correctly (it refuses MP4 edit lists, see
    :mod:`vtg.video.decord_backend`), so an unsuitable file fails here rather than mid-batch.

    ``path`` may be a :class:`vtg.video.source.VideoSource`: its memoised probe is returned.

    Raises VideoNotFoundError, NotAVideoError (empty, text, image, audio-only), CorruptVideoError,
    UnsupportedVideoError, or UnknownNameError for an unknown backend.
    """
    if isinstance(path, VideoSource):  # checked once already; probed once per backend
        return path.info(backend)
    from vtg.video.backends import get_backend
    from vtg.video.files import check_path

    return get_backend(backend).probe(check_path(path))

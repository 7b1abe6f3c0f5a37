"""UniVTG inputs from raw videos and sentences, through vtg's encoders and feature cache.

As in the authors' feature extractor, a video is cut into 2-second clips and each clip is represented
by the CLIP ViT-B/32 image feature of one frame: the frame shown at the clip's *centre* (ffmpeg's
``fps=0.5`` filter, which the released extractor uses, emits the last frame before ``2k + 1`` s for
clip ``k``, and ``round(duration / 2)`` clips). vtg decodes two frames per clip through the shared
feature cache (``fps = 2 / clip_len``) and keeps the odd ones, the clip centres;
a sentence by CLIP ViT-B/32's per-token last hidden states (after the final layer norm, before the
projection). Both are L2-normalised per row, as the released data loader does. SlowFast+CLIP
checkpoints additionally need 2304-d SlowFast R50 features per clip: computed by :mod:`vtg.slowfast`
from the video with the SlowFast weights (``-O slowfast_weights=PATH``), or passed precomputed
(``-O slowfast=FILE``: ``.npy``, or ``.npz`` with a ``features`` array).
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vtg.errors import DataError
from .config import SLOWFAST_DIM
from .data import Sample, check_sample, curve_from_record, l2_normalise

CLIP_ENCODER = "ViT-B-32/openai"
_DAMAGE = (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile, zlib.error)


@dataclass(frozen=True)
class VideoInput:
    clips: np.ndarray   # (L, D) L2-normalised per feature family, concatenated, no TEF
    duration: float
    times: np.ndarray   # (L,) sampled frame times


def load_array(path: str | Path, key: str = "features") -> np.ndarray:
    """A 2-D float array from ``.npy`` or ``.npz`` (array ``key``, or the only array); never pickles."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"feature file not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except _DAMAGE as exc:
        raise DataError(f"cannot read feature file {path}: {exc}") from None
    try:
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                names = list(data.files)
                if key in names:
                    arr = data[key]
                elif len(names) == 1:
                    arr = data[names[0]]
                else:
                    raise DataError(f"{path} holds arrays {names}; expected one named {key!r}")
        else:
            arr = data
        arr = np.asarray(arr, dtype=np.float32)
    except _DAMAGE as exc:  # object arrays (would need pickle), damaged or truncated archives
        raise DataError(f"cannot read feature file {path}: {exc}") from None
    if arr.ndim != 2 or not len(arr):
        raise DataError(f"{path}: expected a non-empty 2-D array (clips x dims), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise DataError(f"{path}: the features hold NaN or infinite values")
    return arr


def combine_clip_features(parts: list[np.ndarray]) -> np.ndarray:
    """L2-normalise each feature family and concatenate them, trimmed to the shortest (as released)."""
    n = min(len(p) for p in parts)
    return np.concatenate([l2_normalise(p[:n]) for p in parts], axis=1)


def clip_sample_rate(clip_len: float = 2.0) -> float:
    """Decoding rate giving frames at ``j * clip_len / 2``: the odd ones are the clip centres."""
    return 2.0 / clip_len


def clip_count(duration: float, clip_len: float = 2.0) -> int:
    """Clips in a video: ``duration / clip_len`` rounded half up (what ffmpeg's fps filter emits), at least 1."""
    return max(1, int(math.floor(duration / clip_len + 0.5 + 1e-9)))


def centre_frame_indices(num_samples: int, duration: float, clip_len: float = 2.0) -> np.ndarray:
    """Indices, into frames sampled at :func:`clip_sample_rate`, of each clip's centre frame.

    Clip ``k`` takes sample ``2k + 1`` (time ``(k + 0.5) * clip_len``); a last clip whose centre lies
    past the final sample takes the final sample, as ffmpeg repeats the last frame.
    """
    n = clip_count(duration, clip_len)
    return np.minimum(2 * np.arange(n) + 1, max(0, num_samples - 1))


def clip_frame_features(video: "str | os.PathLike[str]", enc, clip_len: float = 2.0, progress: bool = False, device: str = "auto"):
    """(features (L, D), frame times (L,), duration) of each clip's centre frame, via the feature cache.
    ``enc`` is an Encoder or a spec (then the model loads only when the cache misses)."""
    from vtg.features import video_features

    feats = video_features(video, enc, fps=clip_sample_rate(clip_len), progress=progress, device=device)
    frames = np.asarray(feats.features, dtype=np.float32).reshape(len(feats.times), -1)
    idx = centre_frame_indices(len(frames), float(feats.duration), clip_len)
    return frames[idx], np.asarray(feats.times, np.float64)[idx], float(feats.duration)


def video_input(video: "str | os.PathLike[str]", *, encoder: str = CLIP_ENCODER, device: str = "auto",
                clip_len: float = 2.0, slowfast: str | Path | np.ndarray | None = None,
                progress: bool = False) -> VideoInput:
    """CLIP clip features of ``video`` (cached: the encoder loads only on a miss), preceded by
    SlowFast features if any (a file the user gave, or an array vtg computed: :mod:`vtg.slowfast`)."""
    clip, times, duration = clip_frame_features(video, encoder, clip_len, progress, device=device)
    parts = [clip]
    if slowfast is not None:
        computed = isinstance(slowfast, np.ndarray)  # by vtg.slowfast: its network's width
        sf = slowfast.astype(np.float32) if isinstance(slowfast, np.ndarray) else load_array(slowfast)
        if not computed and sf.shape[1] != SLOWFAST_DIM:
            raise DataError(f"SlowFast features must be {SLOWFAST_DIM}-d per clip, {slowfast} has {sf.shape[1]}")
        if abs(len(sf) - len(clip)) > 2:
            raise DataError(f"{'the SlowFast features' if computed else slowfast} have {len(sf)} clips but the video has {len(clip)} 2-second clips")
        parts = [sf, clip]
    combined = combine_clip_features(parts)
    return VideoInput(combined, duration, times[:len(combined)])


def text_tokens(text: str, *, encoder: str = CLIP_ENCODER, device: str = "auto") -> np.ndarray:
    """(L_tokens, W) L2-normalised CLIP token features of ``text`` (W = 512 for ViT-B/32)."""
    from vtg.encoders import load_encoder

    enc = load_encoder(encoder, device=device, text_only=True)  # the full model if already loaded
    if not hasattr(enc, "encode_text_tokens"):
        raise DataError(f"encoder {encoder!r} gives no per-token text features; UniVTG needs a CLIP encoder")
    tokens = np.asarray(enc.encode_text_tokens([text])[0], dtype=np.float32)
    return l2_normalise(tokens)


class FeatureSource:
    """Where training features come from: precomputed files, or videos through the cache.

    ``video_dirs``: one or more folders of ``<vid>.npz`` / ``<vid>.npy`` per-clip features
    (several are concatenated in the given order, e.g. SlowFast then CLIP, as released);
    ``text_dir``: ``<qid>.npz`` with ``last_hidden_state`` (the official layout) or ``.npy``;
    ``videos``: a folder of video files named ``<vid>.<ext>``, encoded with CLIP ViT-B/32.
    Text features are computed with the CLIP encoder when no ``text_dir`` is given.
    """

    VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")

    def __init__(self, video_dirs=(), text_dir=None, videos=None, encoder: str = CLIP_ENCODER,
                 device: str = "auto", clip_len: float = 2.0):
        self.video_dirs = [Path(d) for d in video_dirs]
        self.text_dir = Path(text_dir) if text_dir else None
        self.videos = Path(videos) if videos else None
        self.encoder, self.device, self.clip_len = encoder, device, clip_len
        if not self.video_dirs and self.videos is None:
            raise DataError("give precomputed video features (--features) or a folder of videos (--videos)")
        self._text_cache: dict[str, np.ndarray] = {}

    def video(self, vid: str) -> tuple[np.ndarray, float | None]:
        if self.video_dirs:
            parts = [load_array(self._find(d, vid, (".npz", ".npy"))) for d in self.video_dirs]
            return combine_clip_features(parts), None
        assert self.videos is not None  # __init__ refuses a source with neither features nor videos
        path = self._find(self.videos, vid, self.VIDEO_EXTS)
        vi = video_input(path, encoder=self.encoder, device=self.device, clip_len=self.clip_len)
        return vi.clips, vi.duration

    def text(self, qid, query: str) -> np.ndarray:
        if self.text_dir is not None:
            path = self._find(self.text_dir, str(qid), (".npz", ".npy"))
            return l2_normalise(load_array(path, key="last_hidden_state"))
        if query not in self._text_cache:
            self._text_cache[query] = text_tokens(query, encoder=self.encoder, device=self.device)
        return self._text_cache[query]

    @staticmethod
    def _find(folder: Path, stem: str, exts) -> Path:
        for ext in exts:
            p = folder / f"{stem}{ext}"
            if p.is_file():
                return p
        raise DataError(f"no file for {stem!r} in {folder} (looked for {', '.join(exts)})")


def build_samples(records, source: FeatureSource, progress: bool = False):
    """Annotation records -> :class:`Sample` list, loading each video's features once."""
    videos: dict[str, tuple[np.ndarray, float | None]] = {}
    samples: list[Sample] = []
    items = records
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(records, desc="features", leave=False)
    for rec in items:
        vid = str(rec["vid"])
        if vid not in videos:
            videos[vid] = source.video(vid)
        clips, duration = videos[vid]
        duration = float(rec.get("duration") or duration or len(clips) * source.clip_len)
        samples.append(Sample(qid=rec.get("qid", len(samples)), query=str(rec["query"]), vid=vid, duration=duration,
                              video=clips, text=source.text(rec.get("qid"), str(rec["query"])),
                              windows=[list(map(float, w)) for w in rec["relevant_windows"]],
                              saliency=curve_from_record(rec, len(clips)),
                              label_type=str(rec.get("label_type", "interval"))))
        check_sample(samples[-1])
    return samples

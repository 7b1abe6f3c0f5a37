"""The optional torchcodec backend: a clear error without it; on CUDA the barcode fixtures decide.

The GPU tests run only where CUDA and torchcodec are present (``gpu`` marker); they check frame for
frame against the pyav backend, with B-frames, variable frame rate and rotation, and that a
hiding MP4 edit list is refused rather than misread.
"""

from __future__ import annotations

import numpy as np
import pytest
from video_helpers import index_frame, read_index, stream_copy_cut, write_timed

from conftest import write_video
from vtg.errors import DependencyError, UnsupportedVideoError
from vtg.video import available_backends, read_frames


def indices(batch) -> list[int]:
    frames = batch.frames
    if not isinstance(frames, np.ndarray):
        frames = frames.cpu().numpy()
    return [read_index(f) for f in frames]


def test_listed_and_missing_library_is_a_dependency_error(tmp_path, monkeypatch):
    import sys

    assert "torchcodec" in available_backends()
    path = write_video(tmp_path / "v.mp4", (index_frame(i) for i in range(10)), 10)
    monkeypatch.setitem(sys.modules, "torchcodec", None)
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)
    with pytest.raises(DependencyError, match=r"vtg\[torchcodec\]"):
        read_frames(path, fps=1, backend="torchcodec")


@pytest.mark.gpu
def test_gpu_frames_match_pyav(tmp_path):
    pytest.importorskip("torchcodec")
    plain = write_video(tmp_path / "plain.mp4", (index_frame(i) for i in range(100)), 10)
    bframes = write_timed(tmp_path / "b.mp4", [100 * i for i in range(60)], bframes=3)
    rng = np.random.default_rng(1)
    vfr = write_timed(tmp_path / "vfr.mp4", np.cumsum(rng.integers(20, 400, size=60)).tolist(), bframes=2)
    rotated = write_video(tmp_path / "rot.mp4", (index_frame(i) for i in range(30)), 10, rotation=90)
    for path in (plain, bframes, vfr, rotated):
        for fps in (None, 1.0, 3.3):
            ours, theirs = read_frames(path, fps), read_frames(path, fps, backend="torchcodec")
            assert indices(theirs) == indices(ours)
            np.testing.assert_allclose(theirs.times, ours.times, atol=1e-3)
            assert tuple(theirs.frames.shape) == ours.frames.shape
    small = read_frames(plain, 2.0, size=60, backend="torchcodec")
    assert tuple(small.frames.shape) == (20, 60, 80, 3) and indices(small) == list(range(0, 100, 5))


@pytest.mark.gpu
def test_gpu_refuses_hiding_edit_list(tmp_path):
    pytest.importorskip("torchcodec")
    src = write_video(tmp_path / "src.mp4", (index_frame(i) for i in range(100)), 10)
    cut = stream_copy_cut(src, tmp_path / "cut.mp4", 3.5)
    with pytest.raises(UnsupportedVideoError, match="torchcodec"):
        read_frames(cut, fps=1, backend="torchcodec")


@pytest.mark.gpu
def test_gpu_indexing_with_torchcodec_matches_pyav(tmp_path, three_scene_video):
    pytest.importorskip("torchcodec")
    from vtg.encoders import load_encoder
    from vtg.encoders.testing import random_open_clip
    from vtg.features import compute_features

    enc = load_encoder(str(random_open_clip(tmp_path / "tiny")), device="cuda")
    cpu_decoded = compute_features(three_scene_video, enc, 2.0)
    gpu_decoded = compute_features(three_scene_video, enc, 2.0, backend="torchcodec")
    np.testing.assert_allclose(gpu_decoded.times, cpu_decoded.times, atol=1e-3)
    assert (gpu_decoded.features * cpu_decoded.features).sum(-1).min() > 0.98

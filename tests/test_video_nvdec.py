"""The nvdec backend (PyAV's FFmpeg decoding on the GPU's video engine) and the indexing decoder choice.

Without CUDA (CI) the backend must say clearly that it cannot run, never fall back to the CPU
behind the user's back. On CUDA (``gpu`` marker) the barcode fixtures decide: every sampled
frame is the one pyav's software decoder returns, with B-frames, variable frame rate, rotation,
an MP4 edit list and parallel segments.
"""

from __future__ import annotations

import numpy as np
import pytest
from video_helpers import index_frame, read_index, stream_copy_cut, write_timed

from conftest import write_video
from test_cli_errors import assert_one_line_error, run_cli
from vtg.errors import DependencyError, UnknownNameError
from vtg.settings import Settings, changed, current_settings
from vtg.video import available_backends, read_frames
from vtg.video import backends


def cuda_present() -> bool:
    torch = pytest.importorskip("torch")
    return torch.cuda.is_available()


def test_listed_with_pyav_as_its_library():
    assert available_backends()["nvdec"] is True  # PyAV is a core dependency


def test_without_a_gpu_it_refuses_instead_of_decoding_on_the_cpu(tmp_path):
    if cuda_present():
        pytest.skip("a CUDA device is present")
    path = write_video(tmp_path / "v.mp4", (index_frame(i) for i in range(20)), 10)
    with pytest.raises(DependencyError, match=r"NVDEC.*--decoder pyav"):
        read_frames(path, fps=1, backend="nvdec")


def test_decoder_choice_comes_from_the_flag_then_the_environment(monkeypatch):
    monkeypatch.delenv("VTG_DECODER", raising=False)
    assert backends.indexing_decoder() == "pyav"
    monkeypatch.setenv("VTG_DECODER", "nvdec")
    assert backends.indexing_decoder() == "nvdec"
    with changed(decoder="pyav"):  # vtg --decoder pyav
        assert backends.indexing_decoder() == "pyav"
    assert backends.indexing_decoder() == "nvdec"
    monkeypatch.setenv("VTG_DECODER", "ffmpeg-gpu")
    with pytest.raises(UnknownNameError, match="VTG_DECODER"):
        backends.indexing_decoder()
    monkeypatch.delenv("VTG_DECODER")
    with pytest.raises(UnknownNameError, match="known: decord, nvdec, pyav, torchcodec"):
        Settings.from_environment(decoder="cuda")


def test_batch_workers_in_other_processes_get_the_drivers_decoder(monkeypatch):
    import pickle

    from vtg.batch.ray_engine import GroundActor

    monkeypatch.delenv("VTG_DECODER", raising=False)
    with changed(decoder="nvdec"):
        shipped = pickle.loads(pickle.dumps(current_settings()))  # what a Ray actor receives
    actor = GroundActor(settings=shipped)
    assert actor.session.run(backends.indexing_decoder) == "nvdec"
    assert backends.indexing_decoder() == "pyav"  # the driver's thread is untouched


def test_indexing_uses_the_chosen_decoder(tmp_path, monkeypatch):
    from vtg.encoders import load_encoder
    from vtg.encoders.testing import random_open_clip
    from vtg.features import compute_features
    from vtg.video import decoding, pyav_backend

    path = write_video(tmp_path / "v.mp4", (index_frame(i) for i in range(30)), 10)
    enc = load_encoder(str(random_open_clip(tmp_path / "tiny")), device="cpu")
    from vtg.video import nvdec_backend

    checked, opened = [], []
    real_open = pyav_backend.open_container

    def open_counting(p, hwaccel=None):
        opened.append(hwaccel)
        return real_open(p)  # no GPU here: the software decoder stands in for the engine

    monkeypatch.setattr(nvdec_backend, "check", checked.append)
    monkeypatch.setattr(nvdec_backend, "accel", lambda: "nvdec-settings")
    monkeypatch.setattr(pyav_backend, "open_container", open_counting)  # the probe's
    monkeypatch.setattr(decoding, "open_container", open_counting)  # the decoder's
    monkeypatch.setenv("VTG_DECODER", "nvdec")
    ours = compute_features(path, enc, 2.0)
    assert len(checked) == 1 and opened.count("nvdec-settings") == 1  # nvdec's probe, and its decoder
    opened.clear()
    plain = compute_features(path, enc, 2.0, backend="pyav")
    assert opened and "nvdec-settings" not in opened
    np.testing.assert_array_equal(ours.times, plain.times)
    np.testing.assert_allclose(ours.features, plain.features, atol=1e-6)


def test_cli_nvdec_without_a_gpu_is_one_line(capsys, tmp_path):
    if cuda_present():
        pytest.skip("a CUDA device is present")
    from vtg.encoders.testing import random_open_clip

    path = write_video(tmp_path / "v.mp4", (index_frame(i) for i in range(20)), 10)
    model = random_open_clip(tmp_path / "tiny")
    code, _, err = run_cli(capsys, "--decoder", "nvdec", "index", path, "--encoder", model)
    assert_one_line_error(code, err, "NVDEC", "--decoder pyav")
    assert "internal error" not in err


def test_cli_unknown_decoder_is_a_usage_error(capsys, tmp_path, monkeypatch):
    code, _, err = run_cli(capsys, "--decoder", "cuvid", "ground", tmp_path / "v.mp4", "a door")
    assert_one_line_error(code, err, "unknown decoder 'cuvid'")
    monkeypatch.setenv("VTG_DECODER", "cuvid")
    code, _, err = run_cli(capsys, "ground", tmp_path / "v.mp4", "a door")
    assert_one_line_error(code, err, "VTG_DECODER")


def indices(batch) -> list[int]:
    return [read_index(f) for f in batch.frames]


@pytest.mark.gpu
def test_gpu_frames_match_pyav(tmp_path):
    plain = write_video(tmp_path / "plain.mp4", (index_frame(i) for i in range(100)), 10)
    bframes = write_timed(tmp_path / "b.mp4", [100 * i for i in range(60)], bframes=3)
    rng = np.random.default_rng(1)
    vfr = write_timed(tmp_path / "vfr.mp4", np.cumsum(rng.integers(20, 400, size=60)).tolist(), bframes=2)
    rotated = write_video(tmp_path / "rot.mp4", (index_frame(i) for i in range(30)), 10, rotation=90)
    paths = [plain, bframes, vfr, rotated]
    try:  # an edit list hiding frames before a key frame (needs imageio-ffmpeg's binary)
        paths.append(stream_copy_cut(plain, tmp_path / "cut.mp4", 3.5))
    except ImportError:
        pass
    for path in paths:
        for fps in (None, 1.0, 3.3):
            ours, theirs = read_frames(path, fps), read_frames(path, fps, backend="nvdec")
            assert indices(theirs) == indices(ours), (path.name, fps)
            np.testing.assert_array_equal(theirs.times, ours.times)
            assert theirs.frames.shape == ours.frames.shape
            assert np.abs(theirs.frames.astype(int) - ours.frames.astype(int)).mean() < 1.0


@pytest.mark.gpu
def test_gpu_parallel_segments_match_one_decoder(tmp_path, monkeypatch):
    from vtg.video import segments

    monkeypatch.setattr(segments, "MIN_SEGMENT_SECONDS", 1.0)  # a 10 s clip splits into several
    started = []
    real = segments._decode_segment

    def spy(path, info, targets, out_size, seek, threads, accel=None):
        started.append(accel)
        return real(path, info, targets, out_size, seek, threads, accel)

    monkeypatch.setattr(segments, "_decode_segment", spy)
    path = write_video(tmp_path / "plain.mp4", (index_frame(i) for i in range(100)), 10)  # key frame every 1 s
    for fps in (1.0, 3.0, 7.3):
        one = read_frames(path, fps, workers=1)
        started.clear()
        three = read_frames(path, fps, workers=3, backend="nvdec")
        assert len(started) > 1 and all(a is not None for a in started)  # segments, each on NVDEC
        assert indices(three) == indices(one)
        np.testing.assert_array_equal(three.times, one.times)


@pytest.mark.gpu
def test_gpu_indexing_with_nvdec_matches_pyav(tmp_path, three_scene_video):
    from vtg.encoders import load_encoder
    from vtg.encoders.testing import random_open_clip
    from vtg.features import compute_features

    enc = load_encoder(str(random_open_clip(tmp_path / "tiny")), device="cuda")
    cpu_decoded = compute_features(three_scene_video, enc, 2.0, backend="pyav")
    gpu_decoded = compute_features(three_scene_video, enc, 2.0, backend="nvdec")
    np.testing.assert_array_equal(gpu_decoded.times, cpu_decoded.times)
    assert (gpu_decoded.features * cpu_decoded.features).sum(-1).min() > 0.99

"""Parallel segment decoding returns exactly the frames and times of sequential decoding.

Barcode videos (each frame shows its index) decide: plain key frames, B-frames, variable frame
rate, MP4 edit lists, rotation, MPEG-TS (not seekable: sequential), truncation. Segments are
made short here (``MIN_SEGMENT_SECONDS`` patched) so a 10-second clip splits into several.
"""

from __future__ import annotations

import numpy as np
import pytest
from video_helpers import index_frame, read_index, stream_copy_cut, write_timed

from conftest import write_video
from vtg.errors import CorruptVideoError
from vtg.video import iter_frames, probe, read_frames
from vtg.video import segments


@pytest.fixture(autouse=True)
def short_segments(monkeypatch):
    monkeypatch.setattr(segments, "MIN_SEGMENT_SECONDS", 1.0)


@pytest.fixture
def seeks(monkeypatch):
    """Counts segments decoded after a seek and later segments decoded from the file's start."""
    calls = {"seek": 0, "start": 0}
    real = segments._decode_segment

    def spy(path, info, targets, out_size, seek, threads, accel=None):
        if seek or targets[0] > 0:
            calls["seek" if seek else "start"] += 1
        return real(path, info, targets, out_size, seek, threads, accel)

    monkeypatch.setattr(segments, "_decode_segment", spy)
    return calls


def indices(batch) -> list[int]:
    return [read_index(f) for f in batch.frames]


def same_as_sequential(path, fps, **kw):
    serial = read_frames(path, fps, workers=1, **kw)
    parallel = read_frames(path, fps, workers=3, **kw)
    assert indices(parallel) == indices(serial)
    assert parallel.times.tolist() == serial.times.tolist()
    assert parallel.frames.shape == serial.frames.shape
    return serial


def test_plain_key_frames(tmp_path, seeks):
    path = write_video(tmp_path / "plain.mp4", (index_frame(i) for i in range(100)), 10)  # key frame every 1 s
    for fps in (1.0, 3.0, 7.3, 25.0):
        out = same_as_sequential(path, fps)
    assert indices(out) == [min(99, int(np.floor(k / 25 * 10 + 1e-6))) for k in range(250)]
    assert seeks["seek"] > 0 and seeks["start"] == 0  # the segments really started mid-file


def test_b_frames(tmp_path, seeks):
    path = write_timed(tmp_path / "b.mp4", [100 * i for i in range(120)], bframes=3)
    for fps in (1.0, 2.5, 10.0):
        same_as_sequential(path, fps)
    assert seeks["seek"] > 0 and seeks["start"] == 0


def test_variable_frame_rate(tmp_path, seeks):
    rng = np.random.default_rng(1)
    times_ms = np.cumsum(rng.integers(20, 400, size=80)).tolist()
    path = write_timed(tmp_path / "vfr.mp4", times_ms, bframes=2)
    assert probe(path).variable_frame_rate
    for fps in (1.0, 4.0, 9.0):
        out = same_as_sequential(path, fps)
    np.testing.assert_allclose(out.times, (np.array(times_ms) - times_ms[0])[indices(out)] / 1000)
    assert seeks["seek"] > 0 and seeks["start"] == 0


def test_edit_list_cut(tmp_path, seeks):
    src = write_video(tmp_path / "src.mp4", (index_frame(i) for i in range(150)), 10)
    cut = stream_copy_cut(src, tmp_path / "cut.mp4", 3.5)  # hides 0.5 s of key-frame lead-in
    out = same_as_sequential(cut, 2.0)
    assert indices(out)[:3] == [35, 40, 45]
    assert seeks["seek"] > 0 and seeks["start"] == 0


def test_rotation_and_resize(tmp_path):
    path = write_video(tmp_path / "rot.mp4", (index_frame(i) for i in range(60)), 10, rotation=90)
    out = same_as_sequential(path, 3.0)
    assert out.frames.shape[1:] == (160, 120, 3)
    small = read_frames(path, 3.0, size=60, workers=3)
    assert small.frames.shape[1:] == (80, 60, 3)


def test_not_seekable_container_stays_sequential(tmp_path, seeks):
    from video_helpers import ffmpeg

    src = write_video(tmp_path / "src.mp4", (index_frame(i) for i in range(80)), 10)
    ts = tmp_path / "src.ts"
    ffmpeg("-i", str(src), "-c", "copy", str(ts))
    same_as_sequential(ts, 2.0)
    assert seeks == {"seek": 0, "start": 0}


def test_truncated_file_keeps_earlier_frames_then_raises(tmp_path):
    from video_helpers import ffmpeg

    src = write_video(tmp_path / "src.mp4", (index_frame(i) for i in range(200)), 10)
    fast = tmp_path / "fast.mp4"
    ffmpeg("-i", str(src), "-c", "copy", "-movflags", "+faststart", str(fast))
    half = tmp_path / "half.mp4"
    half.write_bytes(fast.read_bytes()[: len(fast.read_bytes()) // 2])
    got = []
    with pytest.raises(CorruptVideoError):
        for batch in iter_frames(half, fps=2, batch_size=4, workers=3):
            got.extend(indices(batch))
    assert got and got == list(range(0, 5 * len(got), 5))


def test_plan_bounds_memory_and_skips_short_videos(tmp_path):
    from vtg.video.info import VideoInfo

    def info(seconds, suffix=".mp4"):
        return VideoInfo(tmp_path / f"v{suffix}", seconds, 30.0, 640, 360, 0, None, "h264", False, False, 0.0)

    targets = np.arange(3600, dtype=float)
    assert segments.plan(info(3600), targets, (398, 224), 1) == [(0, 3600)]
    assert segments.plan(info(1.5), targets[:2], (398, 224), 4) == [(0, 2)]
    assert segments.plan(info(3600, ".ts"), targets, (398, 224), 4) == [(0, 3600)]
    ranges = segments.plan(info(3600), targets, (1920, 1080), 2)
    assert ranges[0][0] == 0 and ranges[-1][1] == 3600
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert max(hi - lo for lo, hi in ranges) * 1920 * 1080 * 3 <= segments.SEGMENT_BYTES


def test_segments_start_at_key_frames_so_no_picture_is_decoded_twice(tmp_path, monkeypatch):
    import threading

    from vtg.video import decoding

    count, lock = {"pictures": 0}, threading.Lock()
    real = decoding.decoded_frames

    def counting(container, stream, targets):
        for frame in real(container, stream, targets):
            with lock:
                count["pictures"] += 1
            yield frame

    monkeypatch.setattr(decoding, "decoded_frames", counting)
    path = write_timed(tmp_path / "g.mp4", [100 * i for i in range(300)])  # key frame every 10 pictures

    def decoded(workers):
        count["pictures"] = 0
        batch = read_frames(path, 2.3, workers=workers)
        return count["pictures"], batch

    sequential, serial = decoded(1)
    aligned, ours = decoded(3)
    with monkeypatch.context() as m:
        m.setattr(segments, "at_key_frames", lambda info, targets, starts: starts)
        unaligned, theirs = decoded(3)
    assert indices(ours) == indices(serial) == indices(theirs)
    assert ours.times.tolist() == serial.times.tolist()
    assert unaligned > aligned  # the lead-ins before each segment's first target are gone
    assert aligned <= sequential + 2 * len(segments.plan(probe(path), np.arange(69) / 2.3, (160, 120), 3))


def test_key_frame_times_are_read_from_packets(tmp_path):
    path = write_timed(tmp_path / "g.mp4", [100 * i for i in range(100)])  # key frames at 0, 1, 2... s
    assert segments.key_frame_times(path, [0.0, 2.5, 3.0, 9.95]) == [0.0, 2.0, 3.0, 9.0]


def test_one_decoder_per_usable_core_whatever_the_load(monkeypatch):
    """The scheduler shares cores among runnable threads: fewer decoders under load only get less."""
    from vtg.video import segments

    for cores, expected in ((1, 1), (2, 2), (8, 8), (64, segments.MAX_WORKERS)):
        monkeypatch.setattr(segments, "usable_cores", lambda cores=cores: cores)
        assert segments.default_workers() == expected

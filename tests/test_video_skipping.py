"""Pictures no target shows are left undecoded, and the frames sampled stay exactly the same.

Barcode videos (each frame shows its index) decide: with B-frames, variable frame rate and an
MP4 edit list, every sampled frame and time must equal those of decoding every picture, while
fewer pictures are decoded. The decision itself is checked on made-up packet orders, including
reordering deeper than the look-ahead window, where it must err towards decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from video_helpers import read_index, stream_copy_cut, write_timed

from vtg.video import read_frames
from vtg.video import decoding, skipping
from vtg.video.sampling import select_indices


@pytest.fixture
def decoded(monkeypatch):
    """Counts the pictures the decoder hands back (skipped ones never come out)."""
    count = {"frames": 0}
    real = skipping.decoded_frames

    def counting(container, stream, targets):
        for frame in real(container, stream, targets):
            count["frames"] += 1
            yield frame

    monkeypatch.setattr(decoding, "decoded_frames", counting)
    return count


def without_skipping(monkeypatch, path, fps, **kw):
    with monkeypatch.context() as m:
        m.setattr(skipping, "PER_PACKET_CODECS", set())
        return read_frames(path, fps, **kw)


def indices(batch) -> list[int]:
    return [read_index(f) for f in batch.frames]


def check_same(monkeypatch, path, fps, counter=None, **kw):
    """Sampled frames with skipping equal those without; returns them (``counter`` then holds the
    pictures decoded with skipping)."""
    every = without_skipping(monkeypatch, path, fps, **kw)
    if counter is not None:
        counter["frames"] = 0
    ours = read_frames(path, fps, **kw)
    assert indices(ours) == indices(every), (path.name, fps)
    assert ours.times.tolist() == every.times.tolist()
    return ours


def test_bframes_fewer_pictures_same_frames(tmp_path, monkeypatch, decoded):
    times = [100 * i for i in range(300)]  # 30 s at 10 fps, 3 B-frames
    path = write_timed(tmp_path / "b.mp4", times, bframes=3)
    for fps in (0.5, 1.0, 3.3, 7.0, 9.9, 10.0, 25.0):
        ours = check_same(monkeypatch, path, fps, decoded, workers=1)
        truth = select_indices(np.asarray(times) / 1000, np.arange(len(ours)) / fps)
        assert indices(ours) == truth.tolist()
        if fps <= 1.0:
            assert decoded["frames"] < 0.8 * len(times)  # non-reference B-frames were dropped


def test_variable_frame_rate(tmp_path, monkeypatch, decoded):
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.integers(15, 400, size=200)).tolist()
    path = write_timed(tmp_path / "vfr.mp4", times, bframes=3)
    for fps in (0.7, 2.0, 5.5, 13.0):
        ours = check_same(monkeypatch, path, fps, workers=1)
        truth = select_indices((np.asarray(times) - times[0]) / 1000, np.arange(len(ours)) / fps)
        assert indices(ours) == truth.tolist()


def test_parallel_segments_and_edit_list(tmp_path, monkeypatch):
    from vtg.video import segments

    monkeypatch.setattr(segments, "MIN_SEGMENT_SECONDS", 1.0)
    path = write_timed(tmp_path / "b.mp4", [100 * i for i in range(400)], bframes=3)
    for fps in (0.5, 1.0, 4.0):
        check_same(monkeypatch, path, fps, workers=3)
    cut = stream_copy_cut(path, tmp_path / "cut.mp4", 7.35)  # edit list: frames before the cut hidden
    for fps in (1.0, 3.0, 10.0):
        check_same(monkeypatch, cut, fps, workers=1)
        check_same(monkeypatch, cut, fps, workers=3)


def test_every_frame_requested_decodes_every_picture(tmp_path, decoded):
    path = write_timed(tmp_path / "b.mp4", [40 * i for i in range(100)], bframes=3)
    assert indices(read_frames(path, None)) == list(range(100))
    assert decoded["frames"] == 100


def test_other_codecs_decode_as_before(tmp_path, monkeypatch, decoded):
    path = write_timed(tmp_path / "b.mp4", [100 * i for i in range(100)], bframes=3)
    check_same(monkeypatch, path, 1.0, decoded, workers=1)
    with_h264 = decoded["frames"]
    monkeypatch.setattr(skipping, "PER_PACKET_CODECS", {"hevc"})  # as if this were a codec without
    check_same(monkeypatch, path, 1.0, decoded, workers=1)
    assert decoded["frames"] > with_h264  # every picture up to the last target decoded


@dataclass
class FakePacket:
    pts: int | None
    size: int = 100


def decode_order(pts: list[int], depth: int) -> list[int]:
    """A decode order where each group of ``depth`` pictures is sent anchor first, the rest after."""
    order = []
    for lo in range(0, len(pts), depth):
        group = pts[lo:lo + depth]
        order += [group[-1]] + group[:-1]
    return order


@pytest.mark.parametrize("depth", [1, 4, 17, 2 * skipping.WINDOW + 5])
def test_decision_never_drops_a_shown_picture(depth):
    rng = np.random.default_rng(depth)
    pts = np.cumsum(rng.integers(1, 5, size=400)).tolist()  # irregular, in 1/10 s
    packets = [FakePacket(p) for p in decode_order(pts, depth)] + [FakePacket(None, 0)]
    targets = np.arange(0, pts[-1] / 10 + 2, 0.7)
    needed = {pk.pts for pk, keep in skipping.needed_packets(packets, targets, pts[0], Fraction(1, 10)) if keep}
    shown = {pts[i] for i in select_indices((np.asarray(pts) - pts[0]) / 10, targets)}
    assert shown <= needed
    if depth <= skipping.WINDOW:
        assert len(needed) < 0.75 * len(pts)  # the window saw the neighbours: most are droppable


def test_decision_keeps_first_pictures_and_untimed_packets():
    packets = [FakePacket(10), FakePacket(None), FakePacket(30), FakePacket(20), FakePacket(None, 0)]
    kept = [keep for _pk, keep in skipping.needed_packets(packets, np.array([5.0]), 0, Fraction(1, 1))]
    # pts 10 is the first picture (shown for targets before it); None-timed and the flush always
    assert kept == [True, True, False, False, True]


def test_hevc_fewer_pictures_same_frames(tmp_path, monkeypatch, decoded):
    import av

    from video_helpers import index_frame

    if "libx265" not in av.codecs_available:
        pytest.skip("this PyAV build has no x265 encoder")
    path = tmp_path / "hevc.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx265", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"preset": "ultrafast", "x265-params": "bframes=3:keyint=20:b-pyramid=1:log-level=none"}
        for i in range(200):
            frame = av.VideoFrame.from_ndarray(index_frame(i), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    for fps in (1.0, 2.5, 7.0):
        ours = check_same(monkeypatch, path, fps, decoded, workers=1)
        assert indices(ours) == select_indices(np.arange(200) / 10, np.arange(len(ours)) / fps).tolist()
        if fps == 1.0:
            assert decoded["frames"] < 0.7 * 200


def test_containers_without_presentation_times_decode_every_picture(tmp_path, monkeypatch, decoded):
    """An AVI's packet times are decode times, so they cannot say which picture is shown when
    (skipping by them was seen to return frame 70 where 68 is shown): every picture is decoded."""
    from video_helpers import ffmpeg

    mp4 = write_timed(tmp_path / "b.mp4", [100 * i for i in range(100)], bframes=3)
    avi = tmp_path / "b.avi"
    try:
        ffmpeg("-i", str(mp4), "-c", "copy", str(avi))
    except ImportError:
        pytest.skip("needs imageio-ffmpeg's binary")
    check_same(monkeypatch, avi, 1.0, decoded, workers=1)
    in_avi = decoded["frames"]
    decoded["frames"] = 0
    with monkeypatch.context() as m:
        m.setattr(skipping, "PER_PACKET_CODECS", set())
        read_frames(avi, 1.0, workers=1)
    assert in_avi == decoded["frames"]  # as many pictures as with skipping turned off
    decoded["frames"] = 0
    read_frames(mp4, 1.0, workers=1)
    assert decoded["frames"] < in_avi  # the same stream in an MP4 skips


@pytest.mark.parametrize("suffix", [".ts", ".mkv", ".mov"])
def test_other_containers_with_presentation_times(tmp_path, monkeypatch, decoded, suffix):
    from video_helpers import ffmpeg

    mp4 = write_timed(tmp_path / "b.mp4", [100 * i for i in range(300)], bframes=3)
    other = tmp_path / f"b{suffix}"
    try:
        ffmpeg("-i", str(mp4), "-c", "copy", str(other))
    except ImportError:
        pytest.skip("needs imageio-ffmpeg's binary")
    for fps in (0.5, 1.0, 3.3):
        check_same(monkeypatch, other, fps, decoded, workers=1)
        check_same(monkeypatch, other, fps, workers=3)
    check_same(monkeypatch, other, 1.0, decoded, workers=1)
    assert decoded["frames"] < 0.8 * 300

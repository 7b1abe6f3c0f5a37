"""MP4 edit lists: the box parser, PyAV on stream-copied clips, and the decord backend's refusal."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from video_helpers import index_frame, read_index, stream_copy_cut, write_timed

from conftest import write_video
from vtg.errors import DependencyError, UnsupportedVideoError
from vtg.video import probe, read_frames
from vtg.video.editlist import track_edit_lists, video_edit_list


@pytest.fixture
def indexed(tmp_path):
    """10 s at 10 fps, frame i shows index i, a key frame every second (no B-frames)."""
    return write_video(tmp_path / "indexed.mp4", (index_frame(i) for i in range(100)), 10)


@pytest.fixture
def cut(indexed, tmp_path):
    """Stream copy from 3.5 s: the file starts at the key frame at 3.0 s, its edit list hides 0.5 s."""
    return stream_copy_cut(indexed, tmp_path / "cut.mp4", 3.5)


def indices(batch) -> list[int]:
    return [read_index(f) for f in batch.frames]


def test_parser_identity_edit_on_plain_file(indexed):
    edits = video_edit_list(indexed)
    assert edits is not None and edits.handler == "vide"
    assert edits.is_identity and edits.hidden_samples == 0 and not edits.shifts_or_cuts


def test_parser_finds_hidden_frames_of_stream_copy(cut):
    edits = video_edit_list(cut)
    assert len(edits.edits) == 1
    assert edits.edits[0].media_time / edits.media_timescale == pytest.approx(0.5)
    assert edits.hidden_samples == 5 and edits.shifts_or_cuts
    assert "media from 0.500s" in edits.describe()


def test_parser_accepts_bframe_delay_edit(tmp_path):
    path = write_timed(tmp_path / "b.mp4", [100 * i for i in range(40)], bframes=3)
    edits = video_edit_list(path)
    assert edits.edits[0].media_time > 0  # ffmpeg hides the composition delay with an edit ...
    assert edits.hidden_samples == 0 and not edits.shifts_or_cuts  # ... which hides no frame


def _box(kind: bytes, payload: bytes, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_parser_handcrafted_boxes(tmp_path):
    """Version-1 elst, 64-bit box size, two edits (an empty one first): unknowable -> shifts_or_cuts."""
    mvhd = _box(b"mvhd", b"\x00" * 4 + b"\x00" * 8 + struct.pack(">I", 1000) + b"\x00" * 80)
    elst = _box(b"elst", b"\x01\x00\x00\x00" + struct.pack(">I", 2)
                + struct.pack(">QqhH", 500, -1, 1, 0) + struct.pack(">QqhH", 4000, 0, 1, 0))
    mdhd = _box(b"mdhd", b"\x00" * 4 + b"\x00" * 8 + struct.pack(">I", 90000) + b"\x00" * 8)
    hdlr = _box(b"hdlr", b"\x00" * 8 + b"vide" + b"\x00" * 12)
    trak = _box(b"trak", _box(b"edts", elst) + _box(b"mdia", mdhd + hdlr), large=True)
    path = tmp_path / "hand.mp4"
    path.write_bytes(_box(b"ftyp", b"isom\x00\x00\x02\x00") + _box(b"moov", mvhd + trak))
    (track,) = track_edit_lists(path)
    assert (track.handler, track.movie_timescale, track.media_timescale) == ("vide", 1000, 90000)
    assert [(e.duration, e.media_time, e.rate) for e in track.edits] == [(500, -1, 1.0), (4000, 0, 1.0)]
    assert track.hidden_samples is None and track.shifts_or_cuts
    assert track.describe().startswith("empty 0.500s")


def test_parser_tolerates_garbage(tmp_path, indexed):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x10ftypisom\xff\xff\xff\xffmoov" + b"\x00" * 10)
    assert track_edit_lists(junk) == []
    half = tmp_path / "half.mp4"
    data = indexed.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    assert track_edit_lists(half) == []  # moov is at the end: nothing to read, no crash


def test_pyav_returns_right_frames_on_stream_copy(cut):
    info = probe(cut)
    assert info.duration == pytest.approx(6.5) and info.num_frames == 65
    every = read_frames(cut)
    assert indices(every) == list(range(35, 100))  # the hidden lead-in 30-34 never shows
    np.testing.assert_allclose(every.times, np.arange(65) / 10, atol=1e-9)
    sampled = read_frames(cut, fps=1)
    assert indices(sampled) == [35, 45, 55, 65, 75, 85, 95]
    np.testing.assert_allclose(sampled.times, np.arange(7), atol=1e-9)


def test_decord_refuses_stream_copy(cut):
    pytest.importorskip("decord")
    with pytest.raises(UnsupportedVideoError, match="edit list.*backend='pyav'"):
        read_frames(cut, fps=1, backend="decord")
    with pytest.raises(UnsupportedVideoError):
        probe(cut, backend="decord")


def test_decord_agrees_with_pyav_where_it_reads_correctly(indexed, tmp_path):
    pytest.importorskip("decord")
    bframes = write_timed(tmp_path / "b.mp4", [100 * i for i in range(40)], bframes=3)
    for path in (indexed, bframes):
        for fps in (None, 3.0):
            ours = read_frames(path, fps, backend="pyav")
            theirs = read_frames(path, fps, backend="decord")
            assert indices(theirs) == indices(ours)
            np.testing.assert_allclose(theirs.times, ours.times, atol=1e-4)
    resized = read_frames(indexed, 2, size=60, backend="decord")
    assert resized.frames.shape == (20, 60, 80, 3) and indices(resized) == list(range(0, 100, 5))


def test_decord_rotation_matches_pyav(tmp_path):
    pytest.importorskip("decord")
    path = write_video(tmp_path / "rot.mp4", (index_frame(i) for i in range(10)), 10, rotation=90)
    ours, theirs = read_frames(path, 5), read_frames(path, 5, backend="decord")
    assert theirs.frames.shape == ours.frames.shape == (5, 160, 120, 3)
    assert np.abs(theirs.frames.astype(int) - ours.frames).mean() < 2
    small = read_frames(path, 5, size=60, backend="decord")
    assert small.frames.shape == (5, 80, 60, 3)
    assert np.abs(small.frames.astype(int) - read_frames(path, 5, size=60).frames).mean() < 4


def test_missing_decord_is_a_dependency_error(indexed, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "decord", None)  # makes "import decord" fail
    with pytest.raises(DependencyError, match=r"vtg\[decord\]"):
        read_frames(indexed, fps=1, backend="decord")


def test_seek_reference_matches_sequential(indexed, tmp_path):
    """The per-target seeking path measured by benchmarks/bench_decode.py returns the same frames."""
    from vtg.video import pyav_backend
    from vtg.video.sampling import target_times

    bframes = write_timed(tmp_path / "b.mp4", [100 * i for i in range(60)], bframes=3)
    for path in (indexed, bframes):
        info = probe(path)
        targets = target_times(info.duration, 1.5)
        seq = list(pyav_backend.decode(path, info, targets, None))
        seek = list(pyav_backend.seek_decode(path, info, targets, None))
        assert [t for t, _ in seek] == [t for t, _ in seq]
        assert [read_index(f) for _, f in seek] == [read_index(f) for _, f in seq]

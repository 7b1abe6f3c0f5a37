"""vtg.video: probe, sampling with true timestamps, rotation, VFR, batching and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from video_helpers import ffmpeg, index_frame, read_index, write_timed

from conftest import write_video
from vtg.errors import (CorruptVideoError, NotAVideoError, UnknownNameError, UsageError, VideoNotFoundError,
                        VtgError)
from vtg.video import FrameBatch, VideoInfo, iter_frames, load_image, probe, read_frames


@pytest.fixture
def indexed(tmp_path):
    """5 s at 10 fps, 160x120, frame i shows index i; key frame every second."""
    return write_video(tmp_path / "indexed.mp4", (index_frame(i) for i in range(50)), 10)


def indices(batch: FrameBatch) -> list[int]:
    return [read_index(f) for f in batch.frames]


# ---------------------------------------------------------------- probe


def test_probe_synthetic(three_scene_video):
    info = probe(three_scene_video)
    assert isinstance(info, VideoInfo)
    assert info.duration == pytest.approx(12.0)
    assert info.fps == pytest.approx(10.0)
    assert (info.width, info.height, info.rotation) == (160, 120, 0)
    assert info.num_frames == 120
    assert info.codec == "h264"
    assert not info.has_audio and not info.variable_frame_rate
    assert info.start_time == 0.0


def test_probe_reports_audio(make_video):
    info = probe(make_video("a.mp4", [((9, 9, 9), 1.0, 0)], audio_seconds=1.0))
    assert info.has_audio and info.num_frames == 10


def test_probe_real_clips(shared_data):
    info = probe(shared_data / "videos" / "charades_example.mp4")
    assert info.duration == pytest.approx(30.7, abs=0.05)
    assert (info.width, info.height) == (480, 270)
    assert info.fps == pytest.approx(14.985, abs=1e-3)
    assert info.has_audio and not info.variable_frame_rate and info.num_frames == 460
    portrait = probe(shared_data / "videos" / "vtimellm_demo.mp4")
    assert (portrait.width, portrait.height, portrait.rotation) == (406, 720, 0)
    assert portrait.duration == pytest.approx(15.0, abs=0.05)


def test_real_clip_one_fps(shared_data):
    batch = read_frames(shared_data / "videos" / "charades_example.mp4", fps=1, size=112)
    assert batch.frames.shape == (31, 112, 199, 3)
    assert batch.times[0] == 0.0 and np.all(np.diff(batch.times) > 0)
    # each time is a real frame time (multiple of 1001/15000 s) at or just before k seconds
    k = np.arange(31)
    assert np.all(batch.times <= k + 1e-6) and np.all(batch.times > k - 1001 / 15000)
    np.testing.assert_allclose(batch.times * 15000 / 1001, np.round(batch.times * 15000 / 1001), atol=1e-6)


# ---------------------------------------------------------------- sampling


def test_every_frame_in_order_with_true_times(indexed):
    batch = read_frames(indexed)
    assert batch.frames.dtype == np.uint8 and batch.frames.shape == (50, 120, 160, 3)
    assert batch.times.dtype == np.float64
    assert indices(batch) == list(range(50))
    np.testing.assert_allclose(batch.times, np.arange(50) / 10)


def test_fps_picks_frame_displayed_at_each_target(indexed):
    batch = read_frames(indexed, fps=3)
    targets = np.arange(15) / 3  # k/3 while < 5 s
    expected = np.floor(targets * 10 + 1e-6).astype(int)
    assert indices(batch) == expected.tolist()
    np.testing.assert_allclose(batch.times, expected / 10)


def test_fps_above_native_rate_repeats_frames(indexed):
    batch = read_frames(indexed, fps=20)
    assert len(batch) == 100
    assert indices(batch)[:6] == [0, 0, 1, 1, 2, 2]
    np.testing.assert_allclose(batch.times[:4], [0.0, 0.0, 0.1, 0.1])


def test_max_frames_lowers_rate_evenly(indexed):
    batch = read_frames(indexed, fps=5, max_frames=5)
    assert indices(batch) == [0, 10, 20, 30, 40]
    every = read_frames(indexed, max_frames=4)  # fps None: evenly over the duration too
    assert indices(every) == [0, 12, 25, 37]
    assert len(read_frames(indexed, fps=1, max_frames=100)) == 5  # a cap, not a target


def test_iter_frames_streams_fixed_size_batches(indexed):
    batches = list(iter_frames(indexed, fps=10, batch_size=16))
    assert [len(b) for b in batches] == [16, 16, 16, 2]
    joined = np.concatenate([b.frames for b in batches])
    np.testing.assert_array_equal(joined, read_frames(indexed, fps=10).frames)


def test_iter_frames_is_lazy(indexed, monkeypatch):
    """The first batch arrives after decoding only about a batch of frames: memory stays bounded."""
    from vtg.video import decoding

    decoded = []
    real = decoding.timed_frames

    def counting(*args):
        for item in real(*args):
            decoded.append(item[0])
            yield item

    monkeypatch.setattr(decoding, "timed_frames", counting)
    first = next(iter_frames(indexed, fps=10, batch_size=4))
    assert len(first) == 4 and len(decoded) <= 6


def test_size_resizes_shorter_side(indexed):
    batch = read_frames(indexed, fps=2, size=60)
    assert batch.frames.shape == (10, 60, 80, 3)
    assert indices(batch) == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]


def test_progress_bar_on_stderr(indexed, capsys):
    list(iter_frames(indexed, fps=2, progress=True))
    err = capsys.readouterr().err
    assert "decoding indexed.mp4" in err and "/10" in err


def test_nonzero_start_time_is_removed(indexed, tmp_path):
    ts = tmp_path / "indexed.ts"  # MPEG-TS streams start at ~1.4 s
    ffmpeg("-i", str(indexed), "-c", "copy", str(ts))
    info = probe(ts)
    assert info.start_time > 0.5
    batch = read_frames(ts, fps=2)
    assert batch.times[0] == pytest.approx(0.0, abs=1e-6)
    assert indices(batch) == list(range(0, 50, 5))


# ---------------------------------------------------------------- VFR and rotation


def test_variable_frame_rate_uses_real_timestamps(tmp_path):
    times_ms = [200 * i for i in range(10)] + [2000 + 50 * i for i in range(20)]  # 5 fps then 20 fps
    path = write_timed(tmp_path / "vfr.mp4", times_ms)
    info = probe(path)
    assert info.variable_frame_rate and info.num_frames == 30 and info.duration == pytest.approx(3.0, abs=0.05)
    every = read_frames(path)
    np.testing.assert_allclose(every.times, np.array(times_ms) / 1000)
    batch = read_frames(path, fps=4)  # targets 0, .25, .5, ... 2.75
    assert indices(batch) == [0, 1, 2, 3, 5, 6, 7, 8, 10, 15, 20, 25]
    np.testing.assert_allclose(batch.times, np.array(times_ms)[indices(batch)] / 1000)


def test_constant_rate_is_not_flagged_variable(tmp_path):
    path = write_timed(tmp_path / "cfr_b.mp4", [40 * i for i in range(60)], bframes=3)
    assert not probe(path).variable_frame_rate


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_applied_and_display_size_reported(tmp_path, rotation):
    path = write_video(tmp_path / f"rot{rotation}.mp4", (index_frame(i) for i in range(10)), 10,
                       rotation=rotation)
    info = probe(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == ((120, 160) if rotation in (90, 270) else (160, 120))
    batch = read_frames(path, fps=5)
    coded = index_frame(0)
    expected = np.rot90(coded, k=-rotation // 90)  # clockwise
    assert batch.frames.shape[1:3] == expected.shape[:2]
    assert np.abs(batch.frames[0].astype(int) - expected).mean() < 8
    small = read_frames(path, fps=5, size=60)
    assert small.frames.shape[1:3] == ((80, 60) if rotation in (90, 270) else (60, 80))


# ---------------------------------------------------------------- errors


def test_missing_and_directory(tmp_path):
    with pytest.raises(VideoNotFoundError, match="not found"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(VideoNotFoundError):
        iter_frames(tmp_path / "nope.mp4")  # raised at the call, not at the first next()
    with pytest.raises(VideoNotFoundError, match="not a file"):
        read_frames(tmp_path)


def test_empty_text_and_image_files_are_not_videos(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file renamed to .mp4\n" * 20)
    from PIL import Image

    image = tmp_path / "still.mp4"
    Image.new("RGB", (32, 24), (10, 20, 30)).save(image, format="PNG")
    for path, words in ((empty, "empty"), (text, "not a video"), (image, "still image")):
        with pytest.raises(NotAVideoError, match=words):
            probe(path)
        with pytest.raises(NotAVideoError):
            read_frames(path, fps=1)


def test_audio_only_is_not_a_video(tmp_path):
    path = tmp_path / "sound.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(path))
    with pytest.raises(NotAVideoError, match="audio only"):
        probe(path)
    from PIL import Image

    cover = tmp_path / "cover.png"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(cover)
    song = tmp_path / "song.mp3"  # cover art is a "video" stream with the attached_pic disposition
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-i", str(cover), "-map", "0", "-map", "1", "-c:a", "libmp3lame",
           "-c:v", "png", "-disposition:v", "attached_pic", str(song))
    with pytest.raises(NotAVideoError, match="audio only"):
        read_frames(song, fps=1)


def test_truncated_without_index_is_corrupt(indexed, tmp_path):
    data = indexed.read_bytes()  # moov at the end: half a file has no index
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptVideoError, match="truncated"):
        probe(half)


def test_truncated_faststart_decodes_then_raises(indexed, tmp_path):
    fast = tmp_path / "fast.mp4"
    ffmpeg("-i", str(indexed), "-c", "copy", "-movflags", "+faststart", str(fast))
    data = fast.read_bytes()
    half = tmp_path / "half_fast.mp4"
    half.write_bytes(data[: len(data) // 2])
    assert probe(half).duration == pytest.approx(5.0)  # the header is intact
    got = []
    with pytest.raises(CorruptVideoError, match="truncated or damaged"):
        for batch in iter_frames(half, fps=10, batch_size=4):
            got.extend(indices(batch))
    assert got == list(range(len(got)))  # what came out before the error is right


def test_bad_arguments(indexed):
    for kwargs in ({"fps": 0}, {"fps": -1.0}, {"max_frames": 0}, {"size": 0}, {"batch_size": 0}):
        fps = kwargs.pop("fps", None)
        with pytest.raises(UsageError):
            iter_frames(indexed, fps, **kwargs)
    with pytest.raises(UnknownNameError, match="pyav"):
        probe(indexed, backend="opencv")


def test_errors_are_vtg_errors_never_raw_av(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8)
    with pytest.raises(VtgError):
        read_frames(junk, fps=1)


# ---------------------------------------------------------------- images


def test_load_image(tmp_path):
    from PIL import Image

    rgba = tmp_path / "a.png"
    Image.new("RGBA", (8, 6), (255, 0, 0, 0)).save(rgba)  # fully transparent -> white
    grey = tmp_path / "g.jpg"
    Image.new("L", (8, 6), 100).save(grey)
    a, g = load_image(rgba), load_image(grey)
    assert a.shape == (6, 8, 3) and a.dtype == np.uint8 and a.min() == 255
    assert g.shape == (6, 8, 3) and abs(int(g[0, 0, 0]) - 100) <= 2


def test_load_image_applies_exif_orientation(tmp_path):
    from PIL import Image

    img = Image.new("RGB", (8, 4), (0, 0, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    path = tmp_path / "o.jpg"
    img.save(path, exif=exif)
    assert load_image(path).shape == (8, 4, 3)


def test_load_image_errors(tmp_path):
    with pytest.raises(VideoNotFoundError, match="image not found"):
        load_image(tmp_path / "missing.png")
    text = tmp_path / "t.png"
    text.write_text("not an image")
    with pytest.raises(UsageError, match="not an image"):
        load_image(text)

"""vtg export, checked by decoding the clips: every fixture frame shows its own index as a barcode,
so the first and last frame of a clip prove which source frames it holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import write_video
from vtg.cli.main import main
from vtg.errors import FFmpegError, UsageError, VtgError
from vtg.export import export_clips, load_results
from vtg.export.naming import render_name, sanitize_filename
from vtg.types import Grounding, Moment, Saliency

FPS = 10.0
FRAMES = 80  # 8 s
BITS = 8
W, H = 128, 32


def barcode(i: int) -> np.ndarray:
    """Frame ``i``: BITS vertical bands, white where the bit of i is set."""
    frame = np.zeros((H, W, 3), np.uint8)
    band = W // BITS
    for b in range(BITS):
        if (i >> b) & 1:
            frame[:, b * band:(b + 1) * band] = 255
    return frame


def read_barcode(frame: np.ndarray) -> int:
    band = frame.shape[1] // BITS
    return sum(1 << b for b in range(BITS) if frame[:, b * band + 3:(b + 1) * band - 3].mean() > 128)


def clip_frames(path) -> list[int]:
    import av

    with av.open(str(path)) as c:
        return [read_barcode(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def stream_durations(path) -> dict[str, float]:
    import av

    with av.open(str(path)) as c:
        return {s.type: float(s.duration * s.time_base) for s in c.streams if s.duration}


@pytest.fixture
def numbered(tmp_path) -> Path:
    """8 s at 10 fps, keyframe every second, with an 8 s audio track; frame i shows i."""
    return write_video(tmp_path / "numbered.mp4", (barcode(i) for i in range(FRAMES)), FPS, audio_seconds=8.0)


def result(video: Path, *windows, qid=7) -> Grounding:
    moments = [Moment(s, e, 1.0 - 0.1 * k) for k, (s, e) in enumerate(windows)]
    return Grounding("the numbers", str(video), FRAMES / FPS, moments, Saliency.empty(), "test", qid=qid)


def test_fixture_barcode_round_trips(numbered):
    assert clip_frames(numbered) == list(range(FRAMES))


@pytest.mark.parametrize("start,end,first,last", [
    (2.0, 3.0, 20, 29),     # on frame boundaries: frames 2.0 .. 2.9
    (2.25, 3.04, 22, 30),   # the frame on screen at 2.25 is 22 (shown 2.2-2.3); last shown before 3.04 is 30
    (0.0, 0.05, 0, 0),      # shorter than a frame: the one frame on screen
    (6.71, 8.0, 67, 79),    # through the end of the video
])
def test_exact_cut_has_the_requested_first_and_last_frames(numbered, tmp_path, start, end, first, last):
    [clip] = export_clips([result(numbered, (start, end))], tmp_path / "out", top_k=1)
    frames = clip_frames(clip.path)
    assert frames == list(range(first, last + 1))
    assert (clip.frames, clip.exact) == (last - first + 1, True)
    assert clip.first_frame == pytest.approx(first / FPS) and clip.last_frame == pytest.approx(last / FPS)
    durations = stream_durations(clip.path)
    assert durations["audio"] == pytest.approx(len(frames) / FPS, abs=0.07)  # audio kept, same span


def test_top_k_pad_and_names(numbered, tmp_path):
    clips = export_clips([result(numbered, (3.0, 4.0), (5.5, 6.0), (1.0, 1.5))], tmp_path / "out", top_k=2, pad=0.5)
    assert [Path(c.path).name for c in clips] == ["numbered_7_1_2.5-4.5.mp4", "numbered_7_2_5.0-6.5.mp4"]
    assert clip_frames(clips[0].path) == list(range(25, 45))
    assert clip_frames(clips[1].path) == list(range(50, 65))
    [edge] = export_clips([result(numbered, (0.2, 7.9), qid=8)], tmp_path / "out", pad=1.0)
    assert clip_frames(edge.path) == list(range(FRAMES))  # padding clamps to the video


def test_reel_joins_moments_in_time_order_and_merges_overlaps(numbered, tmp_path):
    [reel] = export_clips([result(numbered, (5.0, 5.5), (1.0, 1.3), (5.3, 6.0))], tmp_path / "out", top_k=3, reel=True)
    assert Path(reel.path).name == "numbered_7_reel.mp4"
    assert clip_frames(reel.path) == list(range(10, 13)) + list(range(50, 60))
    assert stream_durations(reel.path)["audio"] == pytest.approx(1.3, abs=0.1)


def test_copy_is_fast_but_starts_at_the_keyframe(numbered, tmp_path):
    [clip] = export_clips([result(numbered, (2.5, 3.5))], tmp_path / "out", copy=True)
    frames = clip_frames(clip.path)
    assert not clip.exact and frames[0] == 20  # keyframes every 10 frames: starts early, at 2.0 s
    assert frames[-1] == 34 and "audio" in stream_durations(clip.path)  # ends where asked
    [reel] = export_clips([result(numbered, (2.0, 3.0), (5.0, 6.0), qid=9)], tmp_path / "out",
                          top_k=2, copy=True, reel=True)
    assert set(range(20, 30)) | set(range(50, 60)) <= set(clip_frames(reel.path))


def test_video_without_audio(tmp_path):
    silent = write_video(tmp_path / "silent.mp4", (barcode(i) for i in range(30)), FPS)
    [clip] = export_clips([result(silent, (1.0, 2.0))], tmp_path / "out")
    assert clip_frames(clip.path) == list(range(10, 20)) and "audio" not in stream_durations(clip.path)
    [reel] = export_clips([result(silent, (0.0, 0.5), (2.0, 2.5))], tmp_path / "out", top_k=2, reel=True)
    assert clip_frames(reel.path) == [0, 1, 2, 3, 4, 20, 21, 22, 23, 24]


@pytest.mark.parametrize("raw,expected", [
    ("../../etc/passwd", "etc_passwd.mp4"),
    ("-rf --help.mp4", "rf_--help.mp4"),
    (".hidden", "hidden.mp4"),
    ("a\x00b\nc\x1b[31m.mkv", "a_b_c_31m.mkv"),
    ("clip; rm -rf ~ `x` $(y).mp4", "clip_rm_-rf_x_y_.mp4"),
    ("", "clip.mp4"),
    ("..", "clip.mp4"),
    ("x.exe", "x.exe.mp4"),
])
def test_names_are_sanitised(raw, expected):
    assert sanitize_filename(raw) == expected


def test_name_template_is_limited_and_refuses_attribute_access():
    long = render_name("{query}_{qid}.mp4", {"query": "é" * 300, "qid": 1})
    assert len(long.encode()) <= 200 and long.endswith(".mp4") and "/" not in long
    with pytest.raises(UsageError, match="not allowed"):
        render_name("{vid.__class__}.mp4", {"vid": "x"})
    with pytest.raises(UsageError, match="unknown name template field"):
        render_name("{nope}.mp4", {"vid": "x"})


def test_hostile_qid_cannot_escape_the_output_folder(numbered, tmp_path):
    out = tmp_path / "out"
    [clip] = export_clips([result(numbered, (1.0, 2.0), qid="../../../x")], out)
    assert Path(clip.path).parent == out and Path(clip.path).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["numbered.mp4", "out"]


def test_ffmpeg_failure_carries_its_stderr(tmp_path):
    from vtg.export import ffmpeg as ff
    from vtg.export.frames import FrameWindow, SourceInfo

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    src = SourceInfo(bad, 5.0, 64, 48, False)
    with pytest.raises(FFmpegError) as info:
        ff.cut_exact(src, FrameWindow(seek=0.0, first=0.0, last=1.0, frames=10, keyframe=0.0), tmp_path / "o.mp4")
    assert "invalid data" in info.value.stderr.lower() and "bad.mp4" in str(info.value)
    assert not (tmp_path / "o.mp4").exists()
    with pytest.raises(VtgError):  # through the public API too, and nothing half-written is left behind
        export_clips([result(bad, (1.0, 2.0))], tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_bundled_ffmpeg_is_used_without_a_system_one(monkeypatch):
    import imageio_ffmpeg

    from vtg.export import ffmpeg as ff

    ff.ffmpeg_binary.cache_clear()
    monkeypatch.setattr(ff.shutil, "which", lambda name: None)
    try:
        assert ff.ffmpeg_binary() == imageio_ffmpeg.get_ffmpeg_exe()
    finally:
        ff.ffmpeg_binary.cache_clear()


def test_cli_exports_from_batch_output_and_ground_json(numbered, tmp_path, capsys):
    preds = tmp_path / "preds.jsonl"
    ok = result(numbered, (1.0, 2.0), (4.0, 4.5)).to_dict() | {"status": "ok"}
    err = {"qid": "e", "status": "error", "error": "VideoNotFoundError: x"}
    preds.write_text(json.dumps(ok) + "\n" + json.dumps(err) + "\n")
    assert len(load_results(preds)) == 1
    code = main(["export", str(preds), "-d", str(tmp_path / "clips"), "-k", "2", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    written = [json.loads(l) for l in out.splitlines()]
    assert [w["rank"] for w in written] == [1, 2] and all(Path(w["path"]).is_file() for w in written)
    assert clip_frames(written[1]["path"]) == list(range(40, 45))

    single = tmp_path / "one.json"
    single.write_text(json.dumps(result(numbered, (3.0, 3.5), qid=None).to_dict(), indent=2))
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "numbered.mp4").write_bytes(numbered.read_bytes())
    code = main(["export", str(single), "-d", str(tmp_path / "clips2"), "--video-dir", str(moved),
                 "--name", "{vid}-{rank}-{score:.2f}.mkv"])
    out = capsys.readouterr().out.strip()
    assert code == 0 and out.endswith("numbered-1-1.00.mkv") and clip_frames(out) == list(range(30, 35))


def test_cli_missing_video_is_one_line_error(tmp_path, capsys):
    preds = tmp_path / "p.json"
    preds.write_text(json.dumps(result(tmp_path / "gone.mp4", (1.0, 2.0)).to_dict()))
    code = main(["export", str(preds), "-d", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("vtg: error:") and "not found" in err


def test_exact_cut_of_a_real_clip_matches_vtg_video_frames(shared_data, tmp_path):
    """Charades clip (14.985 fps, H.264 + AAC): the clip's first and last frames are the source
    frames vtg.video decodes at those times (closest of the neighbours, after re-encoding)."""
    from vtg.video import read_frames

    src = shared_data / "videos" / "charades_example.mp4"
    start, end = 4.05, 5.0
    [clip] = export_clips([Grounding("q", str(src), 30.7, (Moment(start, end),), Saliency.empty(), "x", qid=1)],
                          tmp_path / "out")
    source = read_frames(src)
    first = int(np.flatnonzero(source.times <= start)[-1])
    last = int(np.flatnonzero(source.times < end)[-1])
    import av

    with av.open(clip.path) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == clip.frames == last - first + 1
    mae = lambda a, b: float(np.abs(a.astype(int) - b.astype(int)).mean())  # noqa: E731
    for got, k in ((frames[0], first), (frames[-1], last)):
        errors = {j: mae(got, source.frames[j]) for j in (k - 1, k, k + 1)}
        assert min(errors, key=errors.get) == k, errors
    assert "audio" in stream_durations(clip.path)

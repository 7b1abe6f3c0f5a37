"""NumPro: answer parsing on realistic model outputs, frame -> seconds mapping, overlay pixels."""

from __future__ import annotations

import numpy as np
import pytest

from vtg.methods.numpro import NumPro, frame_spans, parse_answer
from vtg.overlays.numbers import (REFERENCE_FONT_SIZE, draw_number, font_path, font_size_for, number_box,
                                  number_frames)

TIMES = np.arange(30, dtype=float) + 0.02  # true times of 30 frames sampled at 1 fps
DURATION = 30.5


def spans(moments):
    return [(round(m.start, 2), round(m.end, 2)) for m in moments]


@pytest.mark.parametrize("answer,expected", [
    ("From Frame 3 to Frame 7", [(3.02, 8.02)]),
    ("from frame 3 to frame 7.", [(3.02, 8.02)]),
    ("FROM FRAME 3 TO FRAME 7", [(3.02, 8.02)]),
    ("The event happens from Frame 12 to Frame 20.", [(12.02, 21.02)]),
    ("Frames 3-7", [(3.02, 8.02)]),
    ("frames 3 – 7", [(3.02, 8.02)]),
    ("Between frame 3 and frame 7.", [(3.02, 8.02)]),
    ("From Frame 7 to Frame 3", [(3.02, 8.02)]),  # reversed
    ("From Frame 25 to Frame 45", [(25.02, 30.5)]),  # past the end: clamped to the last frame
    ("From Frame 3 to Frame 5, and from Frame 10 to Frame 12.", [(3.02, 6.02), (10.02, 13.02)]),
    ("Frame 3 to Frame 5 and Frame 10 to Frame 12", [(3.02, 6.02), (10.02, 13.02)]),
    ("It can be seen in frame 5.", [(5.02, 6.02)]),  # a single frame
    ("Start frame: 4, end frame: 9", [(4.02, 10.02)]),
    ("frame 3 through frame 7", [(3.02, 8.02)]),
    ("From Frame 29 to Frame 29", [(29.02, 30.5)]),  # the last frame lasts to the video's end
    ("The person opens the door.", []),
    ("", []),
    ("There is no such event in the video.", []),
])
def test_parse_answer_table(answer, expected):
    assert spans(parse_answer(answer, TIMES, DURATION)) == expected


def test_parse_answer_uses_true_timestamps_not_a_rate():
    uneven = np.array([0.0, 0.9, 2.4, 2.5, 4.1])
    assert spans(parse_answer("From Frame 1 to Frame 2", uneven, 5.0)) == [(0.9, 2.5)]


def test_parse_answer_never_raises():
    for junk in [None, 3, "Frame", "from frame to frame", "1:2:3:4 - ::", "9" * 400 + " to 1"]:
        assert isinstance(parse_answer(junk, TIMES), list)
    assert parse_answer("From Frame 1 to Frame 2", []) == []


def test_frame_spans():
    assert frame_spans(np.array([0.0, 1.0, 2.0]), 2.7).tolist() == [1.0, 2.0, 2.7]
    assert frame_spans(np.array([0.0, 1.0, 2.0]), None).tolist() == [1.0, 2.0, 3.0]


def test_font_is_bold_sans_and_scales_with_the_frame():
    assert font_path() is not None and "Bold" in font_path().name
    assert font_size_for(336, 336) == REFERENCE_FONT_SIZE == 40
    assert font_size_for(672, 672) == 80
    assert font_size_for(252, 448) == 40  # same area as 336x336


def test_overlay_draws_red_digits_bottom_right_only():
    frame = np.full((336, 336, 3), 90, np.uint8)
    out = draw_number(frame, 17)
    changed = np.any(out != frame, axis=2)
    ys, xs = np.nonzero(changed)
    left, top, right, bottom = number_box(336, 336, "17")
    assert ys.min() >= top - 1 and ys.max() <= bottom + 1 and xs.min() >= left - 1 and xs.max() <= right + 1
    assert ys.min() > 336 * 0.7 and xs.min() > 336 * 0.6  # bottom-right corner
    assert 26 <= bottom - top <= 40  # digit height of the paper's 40 px font
    pure = out[changed].astype(int)
    red = (pure[:, 0] > 200) & (pure[:, 1] < 60) & (pure[:, 2] < 60)
    assert red.mean() > 0.6  # mostly solid red; the rest is anti-aliased edge
    assert np.array_equal(frame, np.full((336, 336, 3), 90, np.uint8))  # input untouched


def test_number_frames_counts_from_zero():
    frames = np.zeros((3, 112, 112, 3), np.uint8)
    out = number_frames(frames)
    assert np.array_equal(out[0], draw_number(frames[0], 0))
    assert np.array_equal(out[2], draw_number(frames[2], 2))
    assert not np.array_equal(out[1], out[2])


def test_numpro_defaults_follow_the_paper():
    cfg = NumPro().config
    assert cfg.fps == 1.0 and cfg.frame_pixels == 336 * 336


def test_overlay_sits_flush_in_the_corner_like_the_reference_setup():
    # The released NumPro setup draws at x = W - text_w, y = H - text_h - text_h / 3 (no margin), so
    # the ink ends a couple of pixels from the right and bottom edges (an earlier version kept a
    # 10 px margin).
    from PIL import Image, ImageDraw

    from vtg.overlays.numbers import load_font

    font = load_font(40)
    for text in ("0", "7", "12", "123"):
        l, t, r, b = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text, font=font)
        ref = Image.new("RGB", (336, 336))
        ImageDraw.Draw(ref).text((336 - (r - l), 336 - (b - t) - round((b - t) / 3)), text, font=font, fill=(255, 0, 0))
        ours = draw_number(np.zeros((336, 336, 3), np.uint8), text)
        assert np.array_equal(ours, np.asarray(ref))
        ys, xs = np.nonzero(ours[..., 0])
        assert 336 - 4 <= xs.max() <= 335 and 336 - 4 <= ys.max() <= 335


def test_prompt_is_the_released_training_free_wording():
    from vtg.methods.numpro import INSTRUCTION, QUESTION

    assert INSTRUCTION == "The red numbers on each frame represent the frame number."
    assert QUESTION.format(query="a man opens the door") == (
        "During which frames can we see a man opens the door? Answer in the format: 'From Frame x to Frame y'.")

"""TimeMarker: AnyLength sampling, separators, answer parsing."""

from __future__ import annotations

import pytest

from vtg.methods.timemarker import TimeMarker, anylength_fps, frame_tokens, parse_answer, separator


def spans(moments):
    return [(round(m.start, 2), round(m.end, 2)) for m in moments]


@pytest.mark.parametrize("answer,expected", [
    ("second{4.0} - second{6.0}", [(4.0, 6.0)]),
    ("Second{4.0} - Second{6.0}", [(4.0, 6.0)]),
    ("The event happens from second{12.5} to second{20.0}.", [(12.5, 20.0)]),
    ("From 4 to 6 seconds.", [(4.0, 6.0)]),
    ("between 4.5s and 6s", [(4.5, 6.0)]),
    ("4.5 - 6.0 seconds", [(4.5, 6.0)]),
    ("00:01:05 - 00:01:12", [(65.0, 72.0)]),
    ("from 01:05 to 01:12", [(65.0, 72.0)]),
    ("second{6.0} - second{4.0}", [(4.0, 6.0)]),
    ("second{1.0} - second{3.0}, second{8.0} - second{9.5}", [(1.0, 3.0), (8.0, 9.5)]),
    ("[4.0, 6.0]", [(4.0, 6.0)]),
    ("The moments are [[1.5, 3.0], [8.0, 9.5]].", [(1.5, 3.0), (8.0, 9.5)]),
    ("Start time: 4.0s, end time: 6.0s.", [(4.0, 6.0)]),
    ("from 1 minute 5 seconds to 1 minute 12.5 seconds", [(65.0, 72.5)]),
    ("It happens at 5 seconds.", []),
    ("There are 3, 4 people.", []),
    ("No, nothing like that happens.", []),
])
def test_parse_answer_table(answer, expected):
    assert spans(parse_answer(answer)) == expected


def test_parse_answer_clamps_to_duration():
    assert spans(parse_answer("second{25.0} - second{40.0}", duration=30.0)) == [(25.0, 30.0)]
    assert parse_answer(None) == []


def test_anylength_sampling():
    assert anylength_fps(5.0) == 2.0
    assert anylength_fps(30.0) == 1.0  # ceil(30 / 128) = 1 s
    assert anylength_fps(600.0) == pytest.approx(1 / 5)  # ceil(600 / 128) = 5 s
    assert anylength_fps(600.0, max_frames=64) == pytest.approx(1 / 10)


def test_tokens_per_frame_shrink_with_frame_count():
    assert frame_tokens(8) == 256
    assert frame_tokens(128) == 64
    assert frame_tokens(100000) == 16
    assert frame_tokens(64) > frame_tokens(128)


def test_separator_format_and_defaults():
    assert separator(4) == "Second{4.0}"
    assert TimeMarker().config.max_frames == 128

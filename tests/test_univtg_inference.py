"""UniVTG inference rules on hand-built head outputs: anchors, windows, NMS, top 10, saliency, summaries."""

from __future__ import annotations

import numpy as np
import pytest

from vtg.errors import UsageError
from vtg.methods.univtg.inference import (anchor_seconds, clip_saliency, clip_windows, decode_moments,
                                          summarize, temporal_nms)


def test_official_anchor_is_the_clip_end_for_two_second_clips():
    np.testing.assert_allclose(anchor_seconds(4, 2.0, "official"), [2, 4, 6, 8])
    np.testing.assert_allclose(anchor_seconds(4, 2.0, "center"), [1, 3, 5, 7])
    np.testing.assert_allclose(anchor_seconds(3, 1.0, "official"), [0.5, 1.5, 2.5])  # = centre when clip_len is 1


def test_windows_are_anchor_plus_offsets_scaled_by_video_length():
    spans = np.zeros((5, 2))
    spans[2] = [-0.1, 0.2]  # normalised by 5 clips * 2 s = 10 s -> -1 s, +2 s
    w = clip_windows(spans, 2.0, "official")
    np.testing.assert_allclose(w[2], [6 - 1, 6 + 2])
    np.testing.assert_allclose(clip_windows(spans, 2.0, "center")[2], [5 - 1, 5 + 2])


def test_each_clip_proposes_one_window_scored_by_foreground():
    fg = np.array([0.1, 0.9, 0.2, 0.8])
    spans = np.array([[-0.0, 0.1], [-0.125, 0.125], [-0.05, 0.05], [-0.25, 0.0]])  # scale 8 s
    moments = decode_moments(fg, spans, 8.0, convention="official")
    assert [round(m.score, 3) for m in moments][:2] == [0.9, 0.8]
    assert (moments[0].start, moments[0].end) == (3.0, 5.0)   # anchor 4 -1/+1
    assert (moments[1].start, moments[1].end) == (6.0, 8.0)   # anchor 8 -2/+0


def test_nms_at_07_and_top_10():
    w = np.array([[0, 10], [0, 9.5], [0, 6], [20, 30]], float)
    s = np.array([0.9, 0.8, 0.7, 0.6])
    assert temporal_nms(w, s, 0.7) == [0, 2, 3]   # IoU(0,1) = 0.95 > 0.7 suppressed; IoU(0,2) = 0.6 kept
    n = 30
    fg = np.linspace(0.1, 0.9, n)
    spans = np.tile([-0.001, 0.001], (n, 1))  # tiny, non-overlapping windows
    moments = decode_moments(fg, spans, n * 2.0, convention="center")
    assert len(moments) == 10
    assert [m.score for m in moments] == sorted([m.score for m in moments], reverse=True)
    assert len(decode_moments(fg, spans, n * 2.0, convention="center", max_moments=3)) == 3


def test_windows_are_clamped_to_the_video():
    fg = np.array([0.5, 0.6])
    spans = np.array([[-0.9, 0.1], [-0.1, 0.9]])
    moments = decode_moments(fg, spans, 3.5, convention="center", nms_iou=None)
    assert all(0.0 <= m.start <= m.end <= 3.5 for m in moments)
    assert moments[0].end == 3.5 and moments[1].start == 0.0


def test_saliency_is_cosine_plus_foreground():
    np.testing.assert_allclose(clip_saliency([0.2, -0.1], [0.5, 0.25]), [0.7, 0.15])


def test_summary_picks_top_clips_and_merges_neighbours():
    sal = np.array([0.1, 0.9, 0.8, 0.1, 0.1, 0.7, 0.2, 0.1, 0.1, 0.1])
    s = summarize(sal, duration=19.0, ratio=0.3)
    assert s.clips.tolist() == [1, 2, 5]
    assert [(m.start, m.end) for m in s.moments] == [(2.0, 6.0), (10.0, 12.0)]
    assert s.moments[0].score == pytest.approx(0.85)
    last = summarize(sal[::-1], duration=19.0, ratio=0.1)
    assert [(m.start, m.end) for m in last.moments] == [(16.0, 18.0)]
    tail = summarize(np.array([0.0, 0.0, 1.0]), duration=5.0, ratio=0.2)
    assert (tail.moments[0].start, tail.moments[0].end) == (4.0, 5.0)  # clamped to the duration
    with pytest.raises(UsageError):
        summarize(sal, 19.0, 0.0)

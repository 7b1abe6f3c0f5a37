"""The target grid and the frame-choosing rule shared by all video backends (no decoding)."""

from __future__ import annotations

import numpy as np
import pytest

from vtg.video.geometry import clockwise_rotation, display_size, resized
from vtg.video.sampling import select_indices, select_stream, target_times


def test_grid_counts_targets_below_duration():
    np.testing.assert_allclose(target_times(10.0, 1.0), np.arange(10))
    assert len(target_times(10.5, 1.0)) == 11
    assert len(target_times(30.697, 2.0)) == 62
    assert len(target_times(0.05, 1.0)) == 1  # a very short video still gives its first frame
    assert target_times(10.0, None) is None


def test_max_frames_spreads_evenly():
    np.testing.assert_allclose(target_times(10.0, 2.0, max_frames=4), [0.0, 2.5, 5.0, 7.5])
    np.testing.assert_allclose(target_times(10.0, 1.0, max_frames=50), np.arange(10))
    assert target_times(10.0, None, max_frames=300, num_frames=250) is None
    np.testing.assert_allclose(target_times(10.0, None, max_frames=5, num_frames=250), [0, 2, 4, 6, 8])


def test_rule_picks_frame_displayed_at_target():
    times = np.array([0.0, 0.2, 0.4, 1.0, 1.05, 1.1])
    targets = np.array([-0.1, 0.0, 0.19, 0.2, 0.99, 1.0, 1.07, 5.0])
    assert select_indices(times, targets).tolist() == [0, 0, 0, 1, 2, 3, 4, 5]


def test_stream_rule_matches_vectorised_rule():
    rng = np.random.default_rng(0)
    for _ in range(50):
        times = np.cumsum(rng.uniform(0.01, 0.5, size=rng.integers(1, 40))) + rng.uniform(0, 0.3)
        targets = np.arange(0, times[-1] + 1.0, rng.uniform(0.05, 1.0))
        picked = list(select_stream(((t, i) for i, t in enumerate(times)), targets))
        assert [k for k, _, _ in picked] == list(range(len(targets)))
        assert [i for _, _, i in picked] == select_indices(times, targets).tolist()
        assert [t for _, t, _ in picked] == times[select_indices(times, targets)].tolist()


def test_stream_rule_stops_reading_after_last_target():
    consumed = []

    def frames():
        for i in range(1000):
            consumed.append(i)
            yield i / 10, i

    list(select_stream(frames(), np.array([0.0, 0.5])))
    assert len(consumed) < 10


@pytest.mark.parametrize("ccw,cw", [(0, 0), (90, 270), (-90, 90), (180, 180), (-180, 180), (None, 0)])
def test_clockwise_rotation(ccw, cw):
    assert clockwise_rotation(ccw) == cw


def test_display_size_and_resize():
    assert display_size(160, 120, 90) == (120, 160)
    assert display_size(720, 576, 0, sar=__import__("fractions").Fraction(16, 15)) == (768, 576)
    assert resized(480, 270, 224) == (398, 224)
    assert resized(406, 720, 224) == (224, 397)
    assert resized(160, 120, None) == (160, 120)

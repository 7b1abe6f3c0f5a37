"""TFVTG's localiser on constructed similarity curves, and against a direct loop implementation."""

from __future__ import annotations

import numpy as np
import pytest

from tfvtg_loop import loop_propose
from vtg.errors import UnknownNameError, UsageError
from vtg.methods.tfvtg import calibrate, localize, propose
from vtg.methods.tfvtg.localizer import gaussian_taps, normalise_confidence
from vtg.methods.tfvtg.presets import PRESETS, auto_preset, window_lengths


def curve(n: int, base: float, *bumps: tuple[int, int, float]) -> np.ndarray:
    out = np.full(n, base, np.float32)
    for start, end, value in bumps:
        out[start:end] = value
    return out


def run(scores, preset="charades", **kw):
    n = len(scores)
    stride, lengths = window_lengths(n, n / 3.0, preset, stride=kw.pop("stride", None),
                                     max_window_fraction=kw.pop("max_window_fraction", None))
    return propose(scores, lengths, stride, **kw)


def iou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def test_window_holding_every_above_mask_frame_is_not_proposed():
    """Such a window has no outside frame: the reference scores it 0/0 and drops it (docs/tfvtg.md,
    deviation 1). On a clean step over a below-mask background that leaves the step's exact window
    out, and the reference's answer, one frame early, is kept: it is what the published numbers
    were produced with."""
    scores = curve(100, 0.1, (40, 60, 0.5))
    found = run(scores)
    mask = scores > 0.2
    for a, b in zip(found.static_start, found.end):
        assert mask[:a].any() or mask[b:].any()
    assert (found.static_start[0], found.end[0]) == (39, 59)
    assert found.score[0] == pytest.approx(0.5 * 19 / 20 - 0.5)
    assert np.all(np.isfinite(found.score)) and found.confidence[0] == 1.0


def test_windows_holding_every_above_mask_frame_are_scored_when_no_other_exists():
    """One window length, the whole curve: no window has an outside frame, so rather than no
    answer (the reference's [0, 0]) they are scored with the mask threshold as outside mean."""
    scores = curve(30, 0.1, (10, 20, 0.5))
    found = propose(scores, [30], 10)
    assert (found.static_start[0], found.end[0]) == (0, 30)
    assert found.score[0] == pytest.approx(5 / 30 - 0.2)
    assert len(localize(np.array([0.5]), 2.0)) == 1


def test_rise_moves_the_start_back_to_where_the_rise_began():
    scores = curve(120, 0.25, (60, 80, 0.6))
    scores[50:60] = np.linspace(0.26, 0.58, 10)
    found = run(scores)
    assert found.static_start[0] >= 55
    assert 45 <= found.start[0] <= 51  # the last non-rising frame before the ramp
    assert found.dynamic[0] > 0


def test_plateau_on_an_above_mask_background():
    scores = curve(120, 0.3, (30, 70, 0.6))
    found = run(scores)
    assert (found.static_start[0], found.end[0]) == (30, 70)
    assert found.score[0] == pytest.approx(0.3)


def test_two_bumps_both_survive_nms_in_order():
    scores = curve(120, 0.1, (20, 40, 0.6), (80, 100, 0.5))
    found = run(scores)
    assert [(found.static_start[i], found.end[i]) for i in range(2)] == [(20, 40), (80, 100)]
    for i in range(len(found)):
        for j in range(i):
            a = (found.static_start[i], found.end[i])
            b = (found.static_start[j], found.end[j])
            assert iou(a, b) <= 0.3


def test_all_below_the_mask_finds_nothing():
    scores = curve(90, 0.15, (30, 50, 0.19))
    assert len(run(scores)) == 0
    assert localize(scores, 30.0) == []
    # with a mask that fits this curve's range the bump is found
    assert localize(scores, 30.0, mask_threshold=0.14)[0].end == pytest.approx(50 / 3, abs=1e-6)


@pytest.mark.parametrize("value,expected", [(0.5, 1), (0.1, 0)])
def test_one_frame(value, expected):
    moments = localize(np.array([value]), 2.0)
    assert len(moments) == expected
    if expected:
        assert (moments[0].start, moments[0].end, moments[0].score) == (0.0, 2.0, 1.0)


def test_negative_best_score_keeps_the_order_of_confidences():
    """Scattered matches make every window's static score negative; the reference's s / max then
    ranks the worst proposal with the largest confidence. Ours stays in rank order, best = 1."""
    scores = np.full(100, 0.1, np.float32)
    scores[::5] = 0.5
    scores[7] = 0.45
    found = run(scores)
    assert found.score[0] < 0 and len(found) > 2
    assert found.confidence[0] == 1.0
    assert np.all(np.diff(found.confidence) <= 0)
    reference = found.score / found.score[0]
    assert np.any(np.diff(reference) > 0)  # what the reference would have produced
    assert normalise_confidence(np.array([0.0, -0.5])).tolist() == [1.0, 0.5]


def windows_scored(monkeypatch) -> list[int]:
    """Spy on the window grid: how many windows each ``localize`` call scores (its work)."""
    from vtg.methods.tfvtg import localizer

    real, counts = localizer.window_grid, []

    def spy(n, lengths):
        grid = real(n, lengths)
        counts.append(int(grid.starts.size))
        return grid

    monkeypatch.setattr(localizer, "window_grid", spy)
    return counts


def test_very_long_video_one_hour_long_preset(monkeypatch):
    """An hour at 1 fps: the long preset keeps the work to ~300k windows, scored in one grid (the
    timing is in benchmarks/bench_localize.py)."""
    rng = np.random.default_rng(1)
    scores = (0.18 + 0.05 * rng.random(3600)).astype(np.float32)  # partly above the mask
    scores[1800:1860] = 0.45
    assert auto_preset("charades", 3600.0).name == "long"
    assert auto_preset("charades", 600.0).name == "charades"
    counts = windows_scored(monkeypatch)
    moments = localize(scores, 3600.0, preset="long")
    assert len(counts) == 1 and counts[0] <= 300_000, counts
    assert iou((moments[0].start, moments[0].end), (1800, 1860)) >= 0.6


def test_very_long_video_at_three_fps_stays_bounded(monkeypatch):
    """10,800 frames with the charades preset: one grid of at most 2.2M windows, and the count
    grows with the square of the length at most (a quarter of the frames: a sixteenth of the work)."""
    scores = np.full(10_800, 0.25, np.float32)
    scores[5000:5060] = 0.5
    counts = windows_scored(monkeypatch)
    moments = localize(scores, 3600.0, preset="charades")
    localize(scores[3700:6400], 900.0, preset="charades")  # a quarter, with the bump
    assert len(counts) == 2 and counts[0] <= 2_200_000, counts
    assert counts[0] <= 16.5 * counts[1], counts
    assert iou((moments[0].start, moments[0].end), (5000 / 3, 5060 / 3)) >= 0.9


@pytest.mark.parametrize("seed", range(6))
def test_fast_version_ranks_exactly_like_the_loop_version(seed):
    rng = np.random.default_rng(seed)
    for trial in range(12):
        n = int(rng.integers(2, 240))
        scores = (rng.random(n) * 0.5).astype(np.float32)
        if trial % 3 == 1:
            scores = np.convolve(scores, np.ones(7) / 7, "same").astype(np.float32) + 0.05
        if trial % 3 == 2:  # plateaus and exact ties
            scores = np.round(scores * 4) / 4 * np.float32(0.8)
        preset = ["charades", "activitynet", "qvhighlights"][trial % 3]
        kw = dict(mask_threshold=[0.2, 0.1, 0.25][trial % 3], top_k=[10, 5, 40][trial % 3],
                  nms_iou=[0.3, 0.5, 0.1, 0.7][(trial // 3) % 4])
        stride, lengths = window_lengths(n, n / 3.0, preset)
        fast = propose(scores, lengths, stride, **kw)
        slow = loop_propose(scores, lengths, stride, **kw)
        assert len(fast) == len(slow)
        for i, p in enumerate(slow):
            got = (fast.start[i], fast.static_start[i], fast.end[i], fast.score[i], fast.confidence[i])
            assert got == (p["start"], p["static_start"], p["end"], p["score"], p["confidence"])


def test_dynamic_weight_adds_the_dynamic_score():
    scores = curve(120, 0.25, (60, 80, 0.6))
    scores[50:60] = np.linspace(0.26, 0.58, 10)
    every = run(scores, nms_iou=1.0, top_k=10_000)  # no suppression: every window
    static = {(s, e): v for s, e, v in zip(every.static_start, every.end, every.score)}
    weighted = run(scores, dynamic_weight=1.0)
    assert weighted.dynamic.max() > 0
    for s, e, v, d in zip(weighted.static_start, weighted.end, weighted.score, weighted.dynamic):
        assert v == pytest.approx(static[(s, e)] + d)


def test_window_lengths_follow_the_presets():
    assert window_lengths(93, 30.96, "charades") == (20, [20, 40])
    assert window_lengths(360, 120.0, "activitynet")[1][-1] == 360
    assert window_lengths(450, 150.0, "qvhighlights") == (50, [50, 100, 150, 200])
    assert window_lengths(186, 30.96, "charades")[0] == 40  # 6 fps: same seconds
    assert window_lengths(30, 10.0, "charades") == (15, [15])  # the reference's cap at n // 2
    assert window_lengths(1, 0.5, "charades") == (1, [1])
    assert window_lengths(100, 33.0, "charades", max_window_fraction=0.05) == (20, [20])
    assert window_lengths(100, 33.0, stride=7)[1][:2] == [7, 14]
    assert set(PRESETS) >= {"charades", "activitynet", "qvhighlights", "long"}


def test_gaussian_kernel_sizes_follow_the_stride():
    assert gaussian_taps(2).tolist() == [1.0]
    assert gaussian_taps(3).size == 1 and gaussian_taps(4).size == 3 and gaussian_taps(20).size == 3
    assert gaussian_taps(20)[1] == pytest.approx(1 / np.sqrt(2 * np.pi))


@pytest.mark.parametrize("bad,error", [
    (np.zeros((3, 4)), UsageError), (np.array([0.3, np.nan]), UsageError), (np.array([0.3, np.inf]), UsageError),
    (["a", "b"], UsageError),
])
def test_bad_scores(bad, error):
    with pytest.raises(error):
        localize(bad, 10.0)


def test_bad_arguments():
    with pytest.raises(UsageError):
        localize(np.ones(10) * 0.5, 0.0)
    with pytest.raises(UnknownNameError):
        localize(np.ones(10) * 0.5, 5.0, preset="nope")
    with pytest.raises(UsageError):
        localize(np.ones(10) * 0.5, 5.0, stride=0)
    assert localize(np.zeros(0), 5.0) == []


@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.3, 1 / 3, 0.5, 2 / 3, 0.7, 0.99, 1.0])
def test_closed_form_suppression_matches_the_pairwise_test(threshold):
    """NMS strikes out, per window length, the range of starts the pairwise IoU test would."""
    from vtg.methods.tfvtg.localizer import _overlaps, suppressed_starts

    ks = np.arange(1, 70)
    for n in (300, 997):
        for m in range(1, 50):
            first, last, edge = suppressed_starts(ks, 100, 100 + m, threshold, n)
            for row, k in enumerate(ks):
                starts = np.arange(100 - k - 3, 100 + m + 3)
                hit = starts[_overlaps(starts, np.full_like(starts, k), 100, 100 + m, threshold, n)]
                if edge[row]:  # plateau IoU == threshold: only plateau starts, tested one by one
                    assert hit.size == 0 or (first[row] <= hit.min() and hit.max() <= last[row])
                    continue
                expected = (hit.min(), hit.max()) if hit.size else None
                assert hit.size == 0 or hit.size == hit.max() - hit.min() + 1
                assert ((first[row], last[row]) if first[row] <= last[row] else None) == expected


def test_float32_similarity_at_exactly_the_mask_is_masked_as_in_the_reference():
    # The reference compares its float32 similarities with 0.2 in float32: float32(0.2) =
    # 0.2000000030 is not above it. Widened to float64 (as calibrate("none") once did) those frames
    # were kept and entered the outside mean, changing scores and the ranking.
    scores = curve(60, 0.1, (0, 20, 0.3), (30, 40, 0.5), (45, 60, 0.2))
    assert scores.dtype == np.float32 and scores[50] == np.float32(0.2)
    same_as_masked = run(curve(60, 0.1, (0, 20, 0.3), (30, 40, 0.5)), stride=10, max_window_fraction=0.5)
    widened = run(scores.astype(np.float64), stride=10, max_window_fraction=0.5)
    for got in (run(scores, stride=10, max_window_fraction=0.5),
                run(calibrate(scores, "none"), stride=10, max_window_fraction=0.5)):
        assert got.score.tolist() == same_as_masked.score.tolist()
        assert got.end.tolist() == same_as_masked.end.tolist()
    assert widened.score.tolist() != same_as_masked.score.tolist()
    slow = loop_propose(scores, [10, 20, 30], 10)
    assert [p["score"] for p in slow] == same_as_masked.score.tolist()


@pytest.mark.parametrize("n, second", [(40, (5, 18)), (41, (6, 19))])
def test_iou_of_exactly_the_nms_threshold_is_decided_as_in_the_reference(n, second):
    # [6, 19) overlaps the best window [13, 26) by 6/20 = 0.3 exactly. The reference's NMS
    # compares float32 fractions frame / n; at n = 40 their float32 IoU rounds above
    # float32(0.3) and [6, 19) is suppressed, at n = 41 it is kept (expected values from a direct
    # transcription of the reference). The exact test would keep it at both.
    scores = curve(n, 0.1, (0, 2, 0.22), (6, 13, 0.45), (13, 26, 0.5), (n - 5, n, 0.25))
    stride, lengths = window_lengths(n, n / 3.0, "charades", stride=13, max_window_fraction=0.5)
    found = propose(scores, lengths, stride)
    assert (found.static_start[0], found.end[0]) == (13, 26)
    assert (found.static_start[1], found.end[1]) == second
    slow = loop_propose(scores, lengths, stride)
    assert [(p["static_start"], p["end"]) for p in slow] == list(zip(found.static_start, found.end))


@pytest.mark.parametrize("n, preset", [(520, "activitynet"), (400, "charades"), (287, "activitynet")])
def test_fast_version_matches_the_loop_where_ious_of_exactly_the_threshold_occur(n, preset):
    # Lengths in multiples of 20/40 frames give many window pairs at an IoU of exactly 0.3
    # (e.g. 120 + 140 = 13 x 20 overlapping by 60); both versions must take the reference's
    # float32 decision for each of them.
    rng = np.random.default_rng(n)
    stride, lengths = window_lengths(n, n / 3.0, preset)
    for _ in range(3):
        scores = (0.25 + np.cumsum(rng.normal(0, 0.01, n))).astype(np.float32)
        fast = propose(scores, lengths, stride, top_k=30)
        slow = loop_propose(scores, lengths, stride, top_k=30)
        assert [(p["static_start"], p["end"]) for p in slow] == list(zip(fast.static_start, fast.end))

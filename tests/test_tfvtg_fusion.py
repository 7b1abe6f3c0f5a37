"""TFVTG's fusion rules: IoU-weighted voting and sub-event combination filtering."""

from __future__ import annotations

import numpy as np
import pytest

from vtg.methods.tfvtg.fusion import combinations, fuse, interleave, iou_matrix, select_proposal
from vtg.types import Moment


def test_voting_lets_agreeing_proposals_outvote_a_lone_confident_one():
    pool = np.array([[0.0, 10.0, 1.0], [20.0, 30.0, 0.7], [21.0, 30.0, 0.7]])
    rows, votes = select_proposal(pool, gamma=0.6)
    assert rows[0].tolist() == [20.0, 30.0, 0.7]  # the pair agrees
    expected = 0.7 + (0.9 ** 0.6) * 0.7
    assert votes[0] == pytest.approx(expected)
    assert votes[-1] == pytest.approx(1.0)


def test_negative_confidences_do_not_vote():
    pool = np.array([[0.0, 10.0, -5.0], [0.0, 10.0, 0.2], [50.0, 60.0, 0.3]])
    rows, votes = select_proposal(pool)
    assert rows[0].tolist() == [50.0, 60.0, 0.3]
    assert votes.tolist() == pytest.approx([0.3, 0.2, 0.2])


def test_zero_length_proposals_vote_zero_instead_of_nan():
    pool = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [3.0, 5.0, 0.5]])
    assert np.all(np.isfinite(iou_matrix(pool, pool)))
    rows, votes = select_proposal(pool)
    assert np.all(np.isfinite(votes)) and rows[0].tolist() == [3.0, 5.0, 0.5]


def test_ties_keep_pool_order():
    pool = np.array([[0.0, 1.0, 0.5], [10.0, 11.0, 0.5], [20.0, 21.0, 0.5]])
    assert select_proposal(pool)[0][:, 0].tolist() == [0.0, 10.0, 20.0]


def test_interleave_pools_by_rank():
    a = [Moment(0, 1, 1.0), Moment(2, 3, 0.5), Moment(4, 5, 0.2), Moment(6, 7, 0.1)]
    b = [Moment(10, 11, 1.0)]
    rows = interleave([a, b])
    assert rows[:, 0].tolist() == [0, 10, 2, 4]


A = np.array([[0.0, 5.0, 0.9], [10.0, 15.0, 0.8]])
B = np.array([[6.0, 9.0, 0.7], [2.0, 4.0, 0.9]])


def test_sequential_combinations_need_each_event_to_start_after_the_previous_ends():
    found = combinations([A, B], "sequentially")
    np.testing.assert_allclose(found, [[0.0, 9.0, 0.63]])


def test_simultaneous_combinations_need_a_common_instant():
    found = combinations([A, B], "simultaneously")
    np.testing.assert_allclose(found, [[0.0, 5.0, 0.81]])


def test_no_compatible_combination_adds_nothing():
    assert len(combinations([A[1:], B], "sequentially")) == 0
    assert len(combinations([A, np.zeros((0, 3))], "sequentially")) == 0


def test_fuse_adds_the_sequence_of_sub_events():
    query = [[Moment(0, 4, 1.0), Moment(20, 24, 0.9), Moment(40, 44, 0.5)]]
    first = [[Moment(10, 14, 1.0)], [Moment(10, 15, 1.0)]]
    second = [[Moment(15, 20, 1.0)], [Moment(16, 20, 1.0)]]
    moments = fuse(query, [first, second], "sequentially")
    # 3 query proposals + the 2 best combinations, which both span [10, 20] and are listed once
    assert [(m.start, m.end) for m in moments] == [(10, 20), (0, 4), (20, 24), (40, 44)]
    assert moments[0].score == 1.0 and all(a.score >= b.score for a, b in zip(moments, moments[1:]))


def test_fuse_ignores_relationship_for_single_queries_and_handles_emptiness():
    query = [[Moment(0, 4, 1.0)], [Moment(1, 4, 1.0), Moment(30, 40, 0.4)]]
    moments = fuse(query, [], "single-query")
    assert [(m.start, m.end) for m in moments][:2] in ([(0, 4), (1, 4)], [(1, 4), (0, 4)])
    assert fuse([[]], [], "single-query") == []
    assert fuse([[]], [[[]], [[]]], "sequentially") == []


def test_sub_events_of_a_single_query_combine_unfiltered_as_in_the_reference():
    # The reference's search_combination filters only "sequentially" and "simultaneously"; any
    # other relationship (one released Charades decomposition is single-query with a sub-event)
    # still pools its 2 best combinations with the query's proposals.
    query = [[Moment(0, 4, 1.0), Moment(20, 24, 0.9), Moment(40, 44, 0.5)]]
    sub = [[[Moment(10, 20, 1.0)], [Moment(10, 20, 1.0), Moment(30, 35, 0.8)]]]
    moments = fuse(query, sub, "single-query")
    assert (moments[0].start, moments[0].end) == (10, 20)
    assert len(combinations([A, B], "single-query")) == 4

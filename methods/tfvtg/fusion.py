"""TFVTG's fusion of proposals from several descriptions and sub-events (Zheng et al. 2024, Sec. 3.4).

With an LLM decomposition, every description is localised on its own and its top 3 proposals are
pooled, interleaved by rank (all first-ranked, then all second-ranked, then third):

* **voting** (``select_proposal``): each proposal is re-scored by the IoU-weighted votes of the
  pool, ``vote_j = sum_i IoU(p_i, p_j) ** gamma * max(conf_i, 0)`` with gamma 0.6, and the pool is
  sorted by vote. Overlapping answers from different phrasings reinforce each other;
* **sub-events**: the top 3 voted proposals of each sub-event are combined one per sub-event.
  For ``sequentially`` each next proposal must start no earlier than the previous one ends; for
  ``simultaneously`` all must share a common instant; any other relationship (``single-query``
  with sub-events, as one released decomposition has) keeps every combination. A kept
  combination spans from the earliest start to the latest end with the product of the
  confidences; the 2 best by voting join
* **the final pool**: the first 7 pooled proposals of the whole query (and its rewrites) plus
  those 2, ranked by voting once more.

Deviations from the reference (``evaluate.py``, ``llm_prompting.py``): ties keep pool order (the
reference's quicksort leaves them arbitrary); a degenerate zero-length proposal votes 0 instead of
NaN; a description with nothing above the mask contributes no proposal (the reference adds
[0, 0] proposals with confidence 1, which then win votes with NaN IoUs); a moment's score is its
vote over the best vote (the reference keeps each proposal's own confidence, which need not follow
the new order); an interval already in the final list is not listed again (the top-1 answer the
reference evaluates is unchanged).
"""

from __future__ import annotations

import numpy as np

from vtg.types import Moment

GAMMA = 0.6
PER_DESCRIPTION = 3
QUERY_POOL = 7
COMBINED = 2


def as_array(moments: list[Moment]) -> np.ndarray:
    """``[start, end, confidence]`` rows."""
    return np.asarray([[m.start, m.end, m.score] for m in moments], dtype=np.float64).reshape(-1, 3)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every row of ``a`` with every row of ``b`` (columns start, end); 0 where union is 0."""
    inter = np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0])
    union = np.maximum(a[:, None, 1], b[None, :, 1]) - np.minimum(a[:, None, 0], b[None, :, 0])
    return np.divide(np.clip(inter, 0, None), union, out=np.zeros_like(union), where=union > 0)


def select_proposal(pool: np.ndarray, gamma: float = GAMMA) -> tuple[np.ndarray, np.ndarray]:
    """The pool re-ranked by IoU-weighted voting; returns ``(rows, votes)`` in the new order."""
    pool = np.asarray(pool, dtype=np.float64).reshape(-1, 3)
    if len(pool) == 0:
        return pool, np.zeros(0)
    weights = np.clip(pool[:, 2], 0, None)
    votes = (iou_matrix(pool, pool) ** gamma * weights[:, None]).sum(axis=0)
    order = np.argsort(-votes, kind="stable")
    return pool[order], votes[order]


def interleave(per_description: list[list[Moment]], depth: int = PER_DESCRIPTION) -> np.ndarray:
    """Pool the top ``depth`` proposals of each description, rank by rank."""
    rows = [per_description[d][t] for t in range(depth) for d in range(len(per_description))
            if len(per_description[d]) > t]
    return as_array(rows)


def combinations(candidates: list[np.ndarray], relationship: str) -> np.ndarray:
    """One proposal per sub-event, filtered by the relationship: rows ``[start, end, score]``."""
    found: list[list[float]] = []

    def extend(level: int, chosen: list[np.ndarray]) -> None:
        if level == len(candidates):
            picked = np.asarray(chosen)
            if relationship == "simultaneously" and picked[:, 0].max() > picked[:, 1].min():
                return
            found.append([picked[:, 0].min(), picked[:, 1].max(), float(np.prod(np.clip(picked[:, 2], 0, None)))])
            return
        for row in candidates[level]:
            if chosen and relationship == "sequentially" and row[0] < chosen[-1][1]:
                continue
            extend(level + 1, chosen + [row])

    if candidates and all(len(c) for c in candidates):
        extend(0, [])
    return np.asarray(found, dtype=np.float64).reshape(-1, 3)


def fuse(query: list[list[Moment]], sub_events: list[list[list[Moment]]], relationship: str,
         gamma: float = GAMMA) -> list[Moment]:
    """Final ranking from the whole query's descriptions and the sub-events' descriptions.

    ``query[d]`` are the ranked moments of description ``d`` of the whole query (the query, then
    its rewrites); ``sub_events[j][d]`` those of description ``d`` of sub-event ``j``.
    """
    per_event = [select_proposal(interleave(descs), gamma)[0][:PER_DESCRIPTION] for descs in sub_events]
    combined = np.zeros((0, 3))
    if per_event:  # as the reference: any other relationship (single-query) combines unfiltered
        combined = select_proposal(combinations(per_event, relationship), gamma)[0][:COMBINED]
    pool = np.concatenate([interleave(query)[:QUERY_POOL], combined], axis=0)
    rows, votes = select_proposal(pool, gamma)
    if len(rows) == 0:
        return []
    best = votes[0] if votes[0] > 0 else 1.0
    out, seen = [], set()
    for r, v in zip(rows, votes):
        if (r[0], r[1]) not in seen:
            seen.add((r[0], r[1]))
            out.append(Moment(r[0], r[1], v / best))
    return out

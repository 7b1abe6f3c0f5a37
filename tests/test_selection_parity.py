"""Frame selection equals its sources by default (issue 19).

References re-typed from reading the authors' code: VideoLLaMA3's ``_get_compression_mask``
(``videollama3/model/videollama3_arch.py``), MovieChat's short-memory merge
(``MovieChat/models/moviechat.py``) and ShareGPT4Video's ``frame_interval_file``
(``keyframe_extraction_example.py``). Each rule is run on 120 seeded synthetic sequences and must
keep exactly the frames the reference keeps.
"""

from __future__ import annotations

import numpy as np
import pytest

from vtg.methods.videollm.selection import (CLIP_MEAN, CLIP_STD, diff_prune, keyframes, merge_to_budget,
                                            pixel_signatures, select)

SEQUENCES = range(120)

# -- VideoLLaMA3 -------------------------------------------------------------------------------


def as_patches(frames01, patch=14, merge=2):
    """Normalised pixels in the processor's layout: one row per 14x14 patch, the four patches of
    a token next to each other (what ``images.view(t, tokens, -1)`` relies on)."""
    t, h, w, _ = frames01.shape
    x = (frames01 - CLIP_MEAN) / CLIP_STD
    gh, gw = h // (patch * merge), w // (patch * merge)
    x = x.reshape(t, gh, merge, patch, gw, merge, patch, 3).transpose(0, 1, 4, 2, 5, 7, 3, 6)
    return x.reshape(t * gh * gw * merge * merge, 3 * patch * patch), (t, gh * merge, gw * merge)


def reference_token_mask(pixel_values, grid, merge=2, threshold=0.1, min_tokens=1):
    """VideoLLaMA3's video branch: tokens vs the previous frame's, mean |diff| x 255 > threshold,
    first frame all kept, a frame with no token left gets its first token back."""
    t, h, w = grid
    images = pixel_values.reshape(t, (h // merge) * (w // merge), -1)
    change = np.abs(images[1:] - images[:-1]).mean(axis=-1) * 255
    change = np.concatenate([np.full_like(change[:1], threshold + 1), change])
    mask = change > threshold
    survived = mask.any(axis=1)
    mask[~survived, :min_tokens] = True
    return mask, survived


def diff_sequence(seed):
    """Frames at 56x84 (2x3 tokens): repeats, one-token edits of several sizes, noise, pans, fades."""
    rng = np.random.default_rng(seed)
    t = int(rng.integers(2, 14))
    frames = [rng.integers(0, 256, (56, 84, 3)).astype(np.float64)]
    for _ in range(t - 1):
        prev = frames[-1].copy()
        kind = rng.integers(0, 5)
        if kind == 0:                                   # an exact repeat
            nxt = prev
        elif kind == 1:                                 # one token edited by a little or a lot
            r, c = rng.integers(0, 2) * 28, rng.integers(0, 3) * 28
            prev[r:r + 28, c:c + 28] += rng.choice([1, 3, 10, 40]) * rng.choice([-1, 1])
            nxt = prev
        elif kind == 2:                                 # +-1 noise everywhere
            nxt = prev + rng.integers(-1, 2, prev.shape)
        elif kind == 3:                                 # a pan by a few pixels
            nxt = np.roll(prev, int(rng.integers(1, 5)), axis=1)
        else:                                           # a fade
            nxt = prev * 0.97
        frames.append(np.clip(np.round(nxt), 0, 255))
    threshold = float(rng.choice([0.1, 1.0, 5.0, 20.0, 60.0]))
    return np.stack(frames) / 255.0, threshold


@pytest.mark.parametrize("seed", SEQUENCES)
def test_diff_keeps_the_frames_whose_tokens_survive_videollama3s_mask(seed):
    frames, threshold = diff_sequence(seed)
    patches, grid = as_patches(frames)
    _, survived = reference_token_mask(patches, grid, threshold=threshold)
    assert diff_prune(frames, threshold, cell=28).tolist() == np.flatnonzero(survived).tolist()


def test_diff_default_keeps_noise_pans_and_fades_as_videollama3_does():
    """The issue's three cases: VideoLLaMA3 keeps every token; so does vtg, at full size and on its
    32x32 float16 thumbnails."""
    rng = np.random.default_rng(0)
    base = rng.integers(20, 230, (224, 336, 3))
    wide = rng.integers(0, 256, (224, 440, 3))
    cases = {"noise": [np.clip(base + rng.integers(-1, 2, base.shape), 0, 255) for _ in range(24)],
             "pan": [wide[:, 4 * i:4 * i + 336] for i in range(24)],
             "fade": [base * (1 - i / 48) for i in range(24)]}
    for name, frames in cases.items():
        frames = np.stack(frames).astype(np.uint8)
        patches, grid = as_patches(frames / 255.0)
        mask, _ = reference_token_mask(patches, grid)
        assert mask.all(), name
        assert len(diff_prune(frames / 255.0, cell=28)) == 24, name
        assert len(diff_prune(pixel_signatures(frames).astype(np.float16))) == 24, name


# -- MovieChat ---------------------------------------------------------------------------------


def reference_moviechat(features, budget):
    """MovieChat's loop (one token per frame), tracking which frames each entry holds; each group
    is then shown as its member nearest the entry (vtg's adaptation, applied the same way)."""
    buffer = [np.asarray(f, np.float64)[None, :] for f in features]
    members = [[i] for i in range(len(features))]
    while len(buffer) > budget:
        similar = [float(np.mean(buffer[i] @ buffer[i + 1].T)) for i in range(len(buffer) - 1)]
        at = similar.index(max(similar))
        buffer[at] = (buffer[at] + buffer[at + 1]) / 2
        members[at] += members.pop(at + 1)
        del buffer[at + 1]
    kept = []
    for entry, group in zip(buffer, members):
        distances = [float(((features[m] - entry[0]) ** 2).sum()) for m in group]
        kept.append(group[int(np.argmin(distances))])
    return kept


def merge_sequence(seed):
    rng = np.random.default_rng(seed)
    n, dim = int(rng.integers(2, 40)), int(rng.integers(2, 24))
    centres = rng.normal(size=(int(rng.integers(1, 6)), dim)) * rng.uniform(0.5, 3)
    labels = np.sort(rng.integers(0, len(centres), n))
    feats = centres[labels] + rng.uniform(0, 1) * rng.normal(size=(n, dim))
    if seed % 7 == 0:                                  # exact repeats: tied similarities
        feats[1::2] = feats[0::2][: len(feats[1::2])]
    return feats, int(rng.integers(1, n + 1))


@pytest.mark.parametrize("seed", SEQUENCES)
def test_merge_equals_moviechat(seed):
    feats, budget = merge_sequence(seed)
    assert merge_to_budget(feats, budget).tolist() == reference_moviechat(feats, budget)


# -- ShareGPT4Video ----------------------------------------------------------------------------


def reference_sharegpt4video(features, frame_interval, window_threshold=0.93):
    """``frame_interval_file``'s choice of frames (its data-set gates on length left out)."""
    def cos(a, b):
        return float(np.dot(a, b)) / max(float(np.linalg.norm(a)) * float(np.linalg.norm(b)), 1e-8)

    selected, anchor = [0], 0
    if len(features) > frame_interval:
        for i in range(1, len(features)):
            if i % frame_interval == 0 and cos(features[anchor], features[i]) < window_threshold:
                selected.append(i)
                anchor = i
    if len(selected) == 1:
        selected.append(len(features) - 1)
    elif len(features) - selected[-1] >= frame_interval:
        selected.append(len(features) - 1)
    return list(dict.fromkeys(selected))  # theirs can name the last frame twice; vtg names it once


def keyframe_sequence(seed):
    """A random walk whose steps make neighbour similarities straddle 0.93."""
    rng = np.random.default_rng(seed)
    n, dim = int(rng.integers(2, 60)), int(rng.integers(4, 32))
    steps = rng.normal(size=(n, dim)) * rng.uniform(0.05, 0.6)
    steps[rng.random(n) < 0.3] = 0.0                   # still stretches
    return np.cumsum(steps, axis=0) + rng.normal(size=dim) * 2, int(rng.choice([1, 2, 4, 8]))


@pytest.mark.parametrize("seed", SEQUENCES)
def test_keyframes_equal_sharegpt4video(seed):
    feats, interval = keyframe_sequence(seed)
    assert keyframes(feats, stride=interval).tolist() == reference_sharegpt4video(feats, interval)


def test_keyframes_threshold_is_a_distance_and_select_strides_two_seconds():
    feats, _ = keyframe_sequence(3)
    assert keyframes(feats, 0.2, 2).tolist() == reference_sharegpt4video(feats, 2, window_threshold=0.8)
    assert select("keyframes", feats, candidate_fps=2.0).tolist() == reference_sharegpt4video(feats, 4)
    assert select("keyframes", feats, candidate_fps=0.5).tolist() == reference_sharegpt4video(feats, 1)


def test_merge_cosine_is_an_option_that_stops_bright_frames_merging_first():
    """By MovieChat's dot product, bright busy frames (large norms) merge before a dim still
    stretch; ``merge_similarity=cosine`` merges the still stretch instead."""
    rng = np.random.default_rng(5)
    still = np.full((10, 48), 0.3)
    busy = rng.uniform(0.5, 1.0, (10, 48))
    feats = np.concatenate([still, busy])
    assert np.sum(merge_to_budget(feats, 11) < 10) == 10                 # dot: the busy half merged
    assert np.sum(merge_to_budget(feats, 11, "cosine") < 10) == 1        # cosine: the still half merged
    assert select("merge", feats, budget=11, similarity="cosine").tolist() == merge_to_budget(feats, 11, "cosine").tolist()
    with pytest.raises(Exception, match="merge_similarity"):
        merge_to_budget(feats, 3, "l2")


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), -1.0])
def test_select_refuses_a_threshold_that_is_not_a_finite_non_negative_number(threshold):
    from vtg.errors import UsageError

    with pytest.raises(UsageError, match="select_threshold"):
        select("keyframes", np.eye(4), threshold=threshold)


def test_diff_refuses_features_instead_of_pixels():
    from vtg.errors import UsageError

    with pytest.raises(UsageError, match="compares pixels"):
        select("diff", np.eye(4))

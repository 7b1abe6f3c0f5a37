"""The indexing pipeline: decoding runs ahead while a batch encodes, but never more than the queues hold.

No wall-clock assertions: while ``encode_pixels`` is held on batch k, the test waits for the decoder
to produce batch k+2 — which can only happen if decoding runs concurrently — and checks the
decoder never gets further ahead than the bounded queues allow.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import vtg.video
from vtg.encoders import load_encoder
from vtg.encoders.testing import random_open_clip
from vtg.features import compute_features
from vtg.pipeline import DEPTH, encoded_batches


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_encoder(str(random_open_clip(tmp_path_factory.mktemp("oc") / "tiny")), device="cpu")


def test_decoding_overlaps_encoding_within_bounded_queues(three_scene_video, tiny, monkeypatch):
    produced = []
    progressed = threading.Condition()
    real_iter = vtg.video.iter_frames

    def counting(*args, **kwargs):
        for batch in real_iter(*args, **kwargs):
            with progressed:
                produced.append(len(batch))
                progressed.notify_all()
            yield batch

    monkeypatch.setattr(vtg.video, "iter_frames", counting)
    monkeypatch.setattr(tiny, "batch_size", 2)
    real_encode, ahead = tiny.encode_pixels, []

    def held(pixels):
        k = len(ahead)
        with progressed:  # the decoder must move on while this batch is being encoded
            progressed.wait_for(lambda: len(produced) >= min(k + 3, 12), timeout=30)
            ahead.append(len(produced) - (k + 1))
        return real_encode(pixels)

    monkeypatch.setattr(tiny, "encode_pixels", held)
    batches = list(encoded_batches(three_scene_video, tiny, 2.0))
    assert sum(len(t) for t, _ in batches) == 24 and len(ahead) == 12
    assert max(ahead) >= 2  # decoded two batches beyond the one being encoded
    assert max(ahead) <= 2 * DEPTH + 2  # bounded: the queues' slots plus one batch in each stage


def test_pipeline_gives_the_same_features_as_one_batch_at_a_time(three_scene_video, tiny):
    feats = compute_features(three_scene_video, tiny, 2.0)
    frames = np.concatenate([b.frames for b in vtg.video.iter_frames(three_scene_video, 2.0,
                                                                      frame_size=tiny.decode_size)])
    np.testing.assert_allclose(feats.features, tiny.encode_images(frames), atol=1e-5)


def test_an_error_in_a_stage_reaches_the_caller(three_scene_video, tiny, monkeypatch):
    def broken(frames):
        raise RuntimeError("preprocessing failed")

    monkeypatch.setattr(tiny, "prepare_images", broken)
    with pytest.raises(RuntimeError, match="preprocessing failed"):
        compute_features(three_scene_video, tiny, 2.0)

"""Many queries through the Python API (issue 22): one probe per video for a loop of calls, one
text-tower batch for a multi-query call, results equal to single calls, edited files probed again.

Counts work (probe calls, text-tower batches), never time: the timings are in
benchmarks/bench_api_loop.py.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import vtg
import vtg.filestamp
import vtg.video.pyav_backend as pyav_backend
from vtg.encoders.hf_clip import HFClipEncoder
from vtg.encoders.testing import tiny_hf_clip
from vtg.errors import UsageError
from vtg.features import IDENTITIES
from vtg.types import Query
from vtg.video.source import PROBES

SENTENCES = ["a person opens the door", "a man walks then sits down", "red stripes", "a blue wall"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return str(tiny_hf_clip(tmp_path_factory.mktemp("api-loop-clip")))


@pytest.fixture
def probes(monkeypatch):
    """Counts pyav probes; files count as settled at once (test videos were written just now)."""
    monkeypatch.setattr(vtg.filestamp, "SETTLE_NS", 0)
    PROBES.clear()
    IDENTITIES.clear()
    calls = []
    real = pyav_backend.probe

    def counting(path):
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(pyav_backend, "probe", counting)
    return calls


def opts(clip: str) -> dict:
    return {"encoder": clip, "device": "cpu", "llm": "rules"}


def test_a_loop_of_ground_calls_probes_and_hashes_the_video_once(three_scene_video, clip, probes):
    hashed_before = IDENTITIES.computed
    for text in SENTENCES * 2:
        vtg.ground(str(three_scene_video), text, **opts(clip))  # a new path string every call
    assert probes == [str(three_scene_video)]
    assert IDENTITIES.computed - hashed_before == 1


def test_an_edited_video_is_probed_again(make_video, clip, probes):
    video = make_video("edited.mp4")
    first = vtg.ground(str(video), "a person opens the door", **opts(clip))
    vtg.ground(str(video), "a man walks", **opts(clip))
    assert len(probes) == 1
    make_video("edited.mp4", scenes=[((200, 30, 30), 2.0, 0), ((30, 30, 200), 3.0, 1)])  # rewritten in place
    edited = vtg.ground(str(video), "a person opens the door", **opts(clip))
    assert len(probes) == 2
    assert edited.duration < first.duration and edited.duration == pytest.approx(5.0, abs=0.2)


def test_a_file_changed_just_now_is_not_remembered(three_scene_video, clip, probes, monkeypatch):
    """Within one clock tick two writes can leave the same stamp: such a file is read every time."""
    monkeypatch.setattr(vtg.filestamp, "SETTLE_NS", 10**18)
    for text in SENTENCES[:3]:
        vtg.ground(str(three_scene_video), text, **opts(clip))
    assert len(probes) == 3


def test_a_multi_query_call_encodes_every_sentence_in_one_batch(three_scene_video, clip, monkeypatch):
    batches = []
    real = HFClipEncoder._encode_text_batch

    def counting(self, texts):
        batches.append(list(texts))
        return real(self, texts)

    monkeypatch.setattr(HFClipEncoder, "_encode_text_batch", counting)
    from vtg.engine import default_manager

    default_manager().text_cache.clear()
    results = vtg.ground(three_scene_video, SENTENCES, **opts(clip))
    assert len(batches) == 1
    assert {"a person opens the door", "red stripes", "a blue wall"} <= set(batches[0])
    assert len(batches[0]) > len(SENTENCES)  # "walks then sits down" adds its sub-events to the same batch
    assert [r.query for r in results] == SENTENCES


def test_a_multi_query_call_equals_single_calls(three_scene_video, clip):
    from vtg.engine import default_manager

    vtg.ground(three_scene_video, "index the video first", **opts(clip))  # both read cached features
    default_manager().text_cache.clear()
    many = vtg.ground(three_scene_video, SENTENCES, top_k=3, **opts(clip))
    default_manager().text_cache.clear()  # every single call runs its own text-tower forward
    singles = [vtg.ground(three_scene_video, text, top_k=3, **opts(clip)) for text in SENTENCES]
    for got, want in zip(many, singles):
        assert got.to_dict() == want.to_dict()  # records: moments, rounded scores, meta
        # in memory: one batch pads sentences to the longest, so float32 sums round a little
        # differently from a forward of one sentence (measured: 1.3e-7)
        np.testing.assert_allclose(got.saliency.scores, want.saliency.scores, rtol=0, atol=1e-6)


def test_a_multi_query_call_takes_image_queries_and_an_empty_list(three_scene_video, clip, tmp_path):
    import av

    with av.open(os.fspath(three_scene_video)) as container:
        frame = next(container.decode(video=0)).to_image()
    image = tmp_path / "frame.png"
    frame.save(image)
    vtg.ground(three_scene_video, "index the video first", **opts(clip))
    results = vtg.ground(three_scene_video, ["red stripes", Query(image=image)], **opts(clip))
    assert [r.meta["query_by"] for r in results] == ["text", "image"]
    assert results[1].to_dict() == vtg.ground(three_scene_video, image=image, **opts(clip)).to_dict()
    assert vtg.ground(three_scene_video, [], **opts(clip)) == []


def test_a_list_with_image_is_a_usage_error(three_scene_video, clip, tmp_path):
    with pytest.raises(UsageError, match="either a list of queries or image="):
        vtg.ground(three_scene_video, ["a man walks"], image=tmp_path / "x.png", **opts(clip))
    with pytest.raises(vtg.VtgError):
        vtg.ground(three_scene_video, ["a man walks", ""], **opts(clip))  # an empty query, before any work

"""Core types round-trip through JSON, and every writer renders them."""

import json

import numpy as np
import pytest

from vtg.errors import EmptyQueryError, UnknownNameError, UsageError
from vtg.types import Query
from vtg.options import apply_options, coerce_value
from vtg.types import Grounding, Moment, Saliency
from vtg.writers import WRITERS, render, srt_time


def sample_result() -> Grounding:
    times = np.arange(0, 10, 0.5)
    scores = np.exp(-((times - 5) ** 2))
    return Grounding(
        query="person opens the door", video="/data/clip one.mp4", duration=10.0,
        moments=(Moment(4.0, 6.0, 0.9), Moment(1.0, 2.5, 0.4)),
        saliency=Saliency(times, scores), method="tfvtg", meta={"encoder": "x"}, qid=7,
    )


def test_moment_validates_and_computes_iou():
    m = Moment(2, 6, 0.5)
    assert m.duration == 4
    assert m.iou((4, 8)) == pytest.approx(2 / 6)
    assert m.iou(Moment(10, 12)) == 0.0
    with pytest.raises(ValueError):
        Moment(5, 1)
    with pytest.raises(ValueError):
        Moment(float("nan"), 1)


def test_saliency_lengths_must_match():
    with pytest.raises(ValueError):
        Saliency(np.arange(3), np.arange(4))


def test_saliency_on_clips_means_and_fills_gaps():
    sal = Saliency(np.array([0.5, 1.5, 5.0]), np.array([1.0, 3.0, 7.0]))
    clips = sal.on_clips(duration=8.0, clip_length=2.0)
    assert clips.tolist() == [2.0, 3.0, 7.0, 7.0]  # clip 1 (2-4 s) is empty: the nearest sample (1.5 s) fills it


def test_grounding_round_trip_is_qvhighlights_superset():
    r = sample_result()
    d = json.loads(json.dumps(r.to_dict()))
    for key in ("qid", "query", "vid", "pred_relevant_windows", "pred_saliency_scores"):
        assert key in d
    assert d["vid"] == "clip one"
    assert d["pred_relevant_windows"][0] == [4.0, 6.0, 0.9]
    assert len(d["pred_saliency_scores"]) == 5
    back = Grounding.from_dict(d)
    assert back.moments == r.moments
    assert back.qid == 7 and back.method == "tfvtg" and back.duration == 10.0
    assert np.allclose(back.saliency.scores, r.saliency.scores, atol=1e-4)


def test_from_plain_qvhighlights_prediction():
    d = {"qid": 1, "query": "q", "vid": "abc_60.0_210.0", "pred_relevant_windows": [[0, 2, 0.5]],
         "pred_saliency_scores": [0.1, 0.2]}
    g = Grounding.from_dict(d)
    assert g.moments[0] == Moment(0, 2, 0.5)
    assert g.saliency.times.tolist() == [1.0, 3.0]


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_writer_renders(fmt):
    text = render([sample_result()], fmt)
    assert text.strip()
    if fmt == "json":
        assert json.loads(text)["qid"] == 7
    if fmt == "jsonl":
        assert json.loads(text.splitlines()[0])["query"] == "person opens the door"
    if fmt == "csv":
        assert text.splitlines()[1].split(",")[3:6] == ["1", "4.000", "6.000"]
    if fmt == "srt":
        assert "00:00:01,000 --> 00:00:02,500" in text
    if fmt == "table":
        assert "0:04.0" in text and "0:06.0" in text


def test_table_says_when_nothing_was_found():
    r = sample_result()
    empty = Grounding(r.query, r.video, r.duration, (), r.saliency, r.method)
    assert "no moment found" in render([empty], "table")
    assert "answered" not in render([empty], "table")                  # no answer, no line about it


def test_table_shows_a_video_llms_answer_when_nothing_was_found():
    r = sample_result()
    said = Grounding(r.query, r.video, r.duration, (), r.saliency, "numpro",
                     meta={"answer": "\n  I cannot see a door in this video.\nIt shows a kitchen.",
                           "status": "no moment found"})
    text = render([said], "table")
    assert "the model answered: 'I cannot see a door in this video.' ..." in text
    assert "meta.answer" in text and "kitchen" not in text              # the first line only
    assert json.loads(render([said], "json"))["meta"]["answer"].endswith("kitchen.")
    found = Grounding(r.query, r.video, r.duration, r.moments, r.saliency, "numpro", meta={"answer": "0-2 s"})
    assert "the model answered:" not in render([found], "table")       # moments found: the table says it


def test_unknown_writer_lists_known():
    with pytest.raises(UnknownNameError, match="json"):
        render([sample_result()], "xml")


def test_srt_time_format():
    assert srt_time(3723.5) == "01:02:03,500"


def test_query_rejects_empty_text():
    with pytest.raises(EmptyQueryError):
        Query.of("   ")
    assert Query.of("  hi ").text == "hi"
    assert Query.of(None, "x.png").label == "<image x.png>"


def test_options_are_coerced_and_unknown_ones_rejected():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Cfg:
        stride: int = 20
        ratio: float = 0.5
        flag: bool = False
        name: str | None = None

    cfg = apply_options(Cfg(), {"stride": "40", "ratio": "1", "flag": "yes", "name": "none"})
    assert cfg == Cfg(40, 1.0, True, None)
    with pytest.raises(UsageError, match="stride"):
        apply_options(Cfg(), {"strid": 3})
    with pytest.raises(UsageError, match="stride must be an integer"):
        apply_options(Cfg(), {"stride": "abc"})
    assert coerce_value("1,2", tuple[int, ...], "k") == (1, 2)


def test_csv_cells_cannot_become_spreadsheet_formulas():
    r = sample_result()
    hostile = Grounding("=HYPERLINK(\"http://x\")", "-rf.mp4", r.duration, r.moments, r.saliency, r.method, qid="@1")
    row = render([hostile], "csv").splitlines()[1]
    assert row.startswith("'@1,'-rf.mp4,\"'=HYPERLINK(")

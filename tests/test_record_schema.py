"""One grounding record schema (vtg.record) behind the writer (Grounding.to_dict), the validator
(vtg.predictions.check_prediction) and the server's pydantic model (vtg.serve.models): they agree
on every field, and a field added to the schema shows up in all three (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pydantic")

from vtg import record  # noqa: E402
from vtg.errors import DataError  # noqa: E402
from vtg.predictions import check_prediction  # noqa: E402
from vtg.serve.models import GroundingRecord, ServedResult, record_model  # noqa: E402
from vtg.types import Grounding, Moment, Saliency  # noqa: E402

#: Per kind: values the schema allows and values it refuses.
GOOD = {record.ID: ["q1", 7], record.STRING: ["", "é"], record.SECONDS: [0, 12.5],
        record.WINDOWS: [[], [[0, 1], [1.5, 2.0, 0.3]]], record.NUMBERS: [[], [0.5, -1, 3]],
        record.OBJECT: [{}, {"a": [1]}], record.STATUS: ["ok"]}
BAD = {record.ID: [True, 1.5, [1]], record.STRING: [3, ["a"]], record.SECONDS: [-1, "10", float("inf"), True],
       record.WINDOWS: [[[2, 1]], [[-1, 1]], [[0, float("nan")]], "0-1", [[1]]],
       record.NUMBERS: [[1, "x"], [float("inf")], 5], record.OBJECT: [[], "x"], record.STATUS: ["done", 1]}


def grounding() -> Grounding:
    times = np.arange(0.5, 10, 1.0)
    return Grounding("person opens\u2028the door", "clips/v.mp4", 10.0, (Moment(1, 3, 0.9), Moment(5, 6, 0.4)),
                     Saliency(times, np.sin(times)), "tfvtg", {"encoder": "x"}, qid=3)


def refused_by_model(model, data: dict) -> bool:
    from pydantic import ValidationError

    try:
        model.model_validate(data)
    except ValidationError:
        return True
    return False


def test_every_kind_has_a_check_and_a_json_type():
    from vtg.predictions import KIND_CHECKS
    from vtg.serve.models import JSON_TYPES

    assert set(KIND_CHECKS) == set(JSON_TYPES) == set(record.KINDS) == set(GOOD) == set(BAD)
    assert {f.kind for f in record.FIELDS} <= set(record.KINDS)


def test_written_record_passes_the_validator_and_the_server_model():
    written = grounding().to_dict()
    assert list(written) == [f.name for f in record.FIELDS if f.write is not None]
    assert check_prediction(written, "r") == written
    assert GroundingRecord.model_validate(written).model_dump(exclude_unset=True) == written
    ServedResult.model_validate({**written, "video_id": "abc", "video_url": "/videos/abc"})


@pytest.mark.parametrize("field", record.FIELDS, ids=lambda f: f.name)
def test_validator_and_model_agree_on_every_field(field):
    base = {"status": "ok"} if field.name != "status" else {}
    partner = {a: b for pair in record.PAIRED for a, b in (pair, pair[::-1])}.get(field.name)

    def record_with(value):  # a paired field comes with its partner, of the same length
        extra = {partner: [0.0] * len(value) if isinstance(value, list) else []} if partner else {}
        return {**base, **extra, field.name: value}

    for value in GOOD[field.kind]:
        data = record_with(value)
        check_prediction(data, "r")
        assert not refused_by_model(GroundingRecord, data), (field.name, value)
    for value in BAD[field.kind]:
        data = record_with(value)
        with pytest.raises(DataError, match=field.name):
            check_prediction(data, "r")
        assert refused_by_model(GroundingRecord, data), (field.name, value)


def test_paired_fields_are_refused_alike():
    for data in ({"saliency_times": [1.0]}, {"saliency_times": [1.0, 2.0], "saliency_scores": [0.5]}):
        with pytest.raises(DataError):
            check_prediction(data, "r")
        assert refused_by_model(GroundingRecord, data)


def test_a_field_added_to_the_schema_shows_up_in_writer_validator_and_model(monkeypatch):
    added = record.RecordField("clip_length", record.SECONDS, "seconds per clip of pred_saliency_scores",
                               lambda g: 2.0)
    monkeypatch.setattr(record, "FIELDS", record.FIELDS + (added,))
    written = grounding().to_dict()
    assert written["clip_length"] == 2.0
    assert check_prediction(written, "r")["clip_length"] == 2.0
    with pytest.raises(DataError, match="clip_length.*negative"):
        check_prediction({**written, "clip_length": -2}, "r")
    model = record_model()
    assert "clip_length" in model.model_fields
    assert model.model_fields["clip_length"].description == added.doc
    assert model.model_validate(written).model_dump(exclude_unset=True) == written
    assert refused_by_model(model, {**written, "clip_length": -2})
    assert not refused_by_model(GroundingRecord, {**written, "clip_length": -2})  # built before: an extra


def test_server_results_are_checked_by_the_model():
    from vtg.serve.catalog import Entry
    from vtg.serve.service import result_json
    import dataclasses

    names = {f.name for f in dataclasses.fields(Entry)}
    values = {"id": "abc", "name": "v.mp4"}
    entry = Entry(**{k: values.get(k, None) for k in names})
    out = result_json(grounding(), entry)
    assert out["video"] == "v.mp4" and out["video_url"] == "/videos/abc"
    ServedResult.model_validate(out)

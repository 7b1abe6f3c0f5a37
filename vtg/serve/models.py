"""The server's pydantic model of a grounding result, built from the one record schema.

Its fields are :data:`vtg.record.FIELDS` (names, order, descriptions) and each is validated by
the same check :func:`vtg.predictions.check_prediction` applies to that kind (range included),
so the writer, the file validator and the server cannot drift apart: a field added to the schema
appears here without an edit. The server adds what only it knows: the id and URL the page plays
the video from (:data:`ServedResult`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, create_model, model_validator
from typing_extensions import Annotated

from vtg import record
from vtg.errors import DataError
from vtg.predictions import check_field, check_pairs

#: The JSON type of each kind (what the model says the field holds; the check says more).
JSON_TYPES: dict[str, Any] = {
    record.ID: Union[str, int], record.STRING: str, record.SECONDS: float, record.WINDOWS: List[List[float]],
    record.NUMBERS: List[float], record.OBJECT: Dict[str, Any], record.STATUS: Literal["ok", "error"]}


class RecordBase(BaseModel):
    """Every record model: fields beyond the schema are kept (the form is a superset), and the
    fields the schema pairs come together."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _paired(self) -> "RecordBase":
        try:
            check_pairs(self.__dict__, "record")
        except DataError as exc:
            raise ValueError(str(exc)) from None
        return self


def _checker(field: record.RecordField):
    """The field's check from vtg.predictions, as pydantic expects it (ValueError, None allowed)."""

    def check(value: Any) -> Any:
        if value is None:
            return None
        try:
            return check_field(field, value, "record")
        except DataError as exc:
            raise ValueError(str(exc)) from None

    return check


def record_model(name: str = "GroundingRecord", **extra: Any) -> type[RecordBase]:
    """A pydantic model with one optional field per entry of :data:`vtg.record.FIELDS` (read now,
    so a field added to the schema is in the next model built), plus ``extra`` fields given as
    ``name=(type, default)``."""
    fields: dict[str, Any] = {
        f.name: (Annotated[Optional[JSON_TYPES[f.kind]], PlainValidator(_checker(f))], Field(None, description=f.doc))
        for f in record.FIELDS}
    return create_model(name, __base__=RecordBase, **fields, **extra)  # type: ignore[call-overload, no-any-return]


GroundingRecord = record_model()
#: A result as ``POST /ground`` and ``POST /search`` answer it.
ServedResult = record_model("ServedResult", video_id=(str, ...), video_url=(str, ...))


def served(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` after :data:`ServedResult` validated it (a record that does not fit the schema is
    a bug in vtg, never sent as if it were an answer)."""
    ServedResult.model_validate(result)
    return result

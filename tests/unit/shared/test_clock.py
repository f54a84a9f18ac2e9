"""Timestamps are written with one precision everywhere, so that their strings sort in
time order (pydantic alone writes `…27Z` for a whole second and `…27.077000Z` else)."""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter

import services
import shared
from shared.clock import Timestamp, format_timestamp, utc_now
from shared.contracts.envelope import Envelope

WHOLE_SECOND = datetime(2024, 5, 1, 7, 0, 27, tzinfo=UTC)
FRACTION = datetime(2024, 5, 1, 7, 0, 27, 77_000, tzinfo=UTC)


def test_a_whole_second_and_a_fraction_are_written_alike() -> None:
    assert format_timestamp(WHOLE_SECOND) == "2024-05-01T07:00:27.000Z"
    assert format_timestamp(FRACTION) == "2024-05-01T07:00:27.077Z"


def test_other_zones_and_naive_values_are_written_in_utc() -> None:
    jakarta = WHOLE_SECOND.astimezone(timezone(timedelta(hours=7)))
    assert format_timestamp(jakarta) == "2024-05-01T07:00:27.000Z"
    assert format_timestamp(WHOLE_SECOND.replace(tzinfo=None)) == "2024-05-01T07:00:27.000Z"


def test_the_clock_keeps_what_mongodb_keeps_milliseconds() -> None:
    assert utc_now().microsecond % 1000 == 0
    assert utc_now().tzinfo is UTC


@given(st.lists(st.datetimes(timezones=st.just(UTC)), min_size=2))
def test_written_timestamps_sort_in_time_order(instants: list[datetime]) -> None:
    millis = [i.replace(microsecond=i.microsecond // 1000 * 1000) for i in instants]
    assert sorted(millis, key=format_timestamp) == sorted(millis)


def test_an_event_envelope_writes_milliseconds() -> None:
    envelope = Envelope(
        event_id=uuid.uuid4(),
        type="work.started",
        version=1,
        occurred_at=WHOLE_SECOND,
        producer="proposals",
        correlation_id="c",
        data={},
    )
    assert '"occurred_at":"2024-05-01T07:00:27.000Z"' in envelope.model_dump_json()
    assert envelope.model_dump()["occurred_at"] == WHOLE_SECOND  # to MongoDB: a datetime


def _models() -> list[type[BaseModel]]:
    for package in (services, shared):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    found: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__.split(".")[0] in {"services", "shared"}:
                found.append(sub)
    return found


def _holds_a_datetime(annotation: Any) -> bool:
    if annotation is datetime:
        return True
    if get_origin(annotation) in {Union, UnionType, Annotated}:
        return any(_holds_a_datetime(arg) for arg in get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, datetime)


TIMESTAMP_FIELDS = [
    pytest.param(model, name, id=f"{model.__module__}.{model.__qualname__}.{name}")
    for model in _models()
    for name, field in model.model_fields.items()
    if _holds_a_datetime(field.annotation)
]


def test_the_models_have_timestamp_fields_at_all() -> None:
    assert len(TIMESTAMP_FIELDS) > 20


@pytest.mark.parametrize(("model", "name"), TIMESTAMP_FIELDS)
def test_every_timestamp_field_of_every_model_writes_milliseconds(
    model: type[BaseModel], name: str
) -> None:
    """A new model with a plain `datetime` field fails here: use `shared.clock.Timestamp`."""
    field = model.model_fields[name]
    annotation: Any = field.annotation
    if field.metadata:
        annotation = Annotated[(annotation, *field.metadata)]
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    written = adapter.dump_json(WHOLE_SECOND).decode()
    assert written == '"2024-05-01T07:00:27.000Z"', (
        f"{model.__qualname__}.{name} writes {written}: annotate it with shared.clock.Timestamp"
    )


def test_a_plain_datetime_would_be_caught() -> None:
    plain: TypeAdapter[datetime] = TypeAdapter(datetime)
    assert plain.dump_json(WHOLE_SECOND) == b'"2024-05-01T07:00:27Z"'  # what we avoid
    assert TypeAdapter(Timestamp).dump_json(WHOLE_SECOND) == b'"2024-05-01T07:00:27.000Z"'

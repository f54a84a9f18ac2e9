"""The committed AsyncAPI documents are what `faststream docs gen` makes of the code."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from services import SERVICES
from shared.contracts.catalogue import CATALOGUE, Producer, produced_by

REPO = Path(__file__).resolve().parents[3]
DOCS = REPO / "docs" / "asyncapi"


def generate(service: str) -> dict[str, Any]:
    """What `faststream docs gen --factory services.<service>.bootstrap:asyncapi_app`
    writes (`make asyncapi`), made in this process: the same schema call as the CLI's."""
    app = importlib.import_module(f"services.{service}.bootstrap").asyncapi_app()
    document: dict[str, Any] = json.loads(json.dumps(app.schema.to_specification().to_jsonable()))
    return document


@pytest.mark.parametrize("service", SERVICES)
def test_committed_document_matches_the_code(service: str) -> None:
    generated = generate(service)
    committed = json.loads((DOCS / f"{service}.json").read_text())
    assert generated == committed, (
        f"docs/asyncapi/{service}.json is stale: run `make asyncapi` and commit the result"
    )


@pytest.mark.parametrize("service", ["proposals", "materials"])
def test_every_catalogue_event_of_the_service_is_documented(service: Producer) -> None:
    document = json.loads((DOCS / f"{service}.json").read_text())
    documented = {op.removesuffix(":publish") for op in document["operations"]}
    assert {c.event_type for c in produced_by(service)} <= documented


@pytest.mark.parametrize("service", ["proposals", "materials"])
def test_every_published_event_is_a_persistent_send_with_its_schema(service: Producer) -> None:
    document = json.loads((DOCS / f"{service}.json").read_text())
    for contract in produced_by(service):
        operation = document["operations"][f"{contract.event_type}:publish"]
        assert operation["action"] == "send"
        binding = operation["bindings"]["amqp"]
        assert binding["deliveryMode"] == 2, "events must be published persistent"
        assert binding["mandatory"] is True
        assert binding["cc"] == [contract.event_type]
        channel = document["channels"][operation["channel"]["$ref"].split("/")[-1]]
        message = document["components"]["messages"][
            channel["messages"]["Message"]["$ref"].split("/")[-1]
        ]
        schema = document["components"]["schemas"][message["payload"]["$ref"].split("/")[-1]]
        assert schema["properties"]["type"]["const"] == contract.event_type
        assert {"event_id", "type", "version", "occurred_at", "data"} <= set(schema["required"])


@pytest.mark.parametrize("service", SERVICES)
def test_every_consumed_event_is_documented_with_its_schema(service: Producer) -> None:
    document = json.loads((DOCS / f"{service}.json").read_text())
    receives = [op for op in document["operations"].values() if op["action"] == "receive"]
    assert receives, f"{service} consumes nothing?"
    for operation in receives:
        channel = document["channels"][operation["channel"]["$ref"].split("/")[-1]]
        event_type = channel["address"]
        (message_ref,) = channel["messages"].values()
        message = document["components"]["messages"][message_ref["$ref"].split("/")[-1]]
        schema = document["components"]["schemas"][message["payload"]["$ref"].split("/")[-1]]
        assert schema["properties"]["type"]["const"] == event_type


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_consumes_the_newest_version_of_each_event(service: str) -> None:
    """A consumer of an older version dead-letters what the producer now sends."""
    document = json.loads((DOCS / f"{service}.json").read_text())
    schemas = document["components"]["schemas"]
    consumed = [
        message["payload"]["$ref"].rsplit("/", 1)[-1]
        for name, message in document["components"]["messages"].items()
        if name.endswith(":consume:SubscribeMessage")
    ]
    assert consumed
    for schema_name in consumed:
        pinned = schemas[schema_name]["properties"]
        event_type, version = pinned["type"]["const"], pinned["version"]["const"]
        assert version == CATALOGUE.newest(event_type).version, (service, event_type)

"""One trace follows an approval across the three services, against real RabbitMQ and
MongoDB: proposals' HTTP request → its transaction (the outbox row keeps its
traceparent) → the relay's publish (the message headers carry the trace) → materials'
handler and transaction → materials' publish → notifications' handler. The spans go to
the SDK's in-memory exporter, one per service, through the services' own tracing set-up
(OTEL_TRACES_EXPORTER, here a name registered for the test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from shared import tracing
from shared.storage import inbox, outbox
from tests.support.infrastructure import Infrastructure
from tests.support.materials import ROAD_BILL, receive_stock
from tests.support.people import ProposalDriver
from tests.support.probe import EventProbe, until_async
from tests.support.runtime import asgi_client, running_service

APPROVE_ROUTE = "POST /proposals/{proposal_id}/approve"


@pytest.fixture
def exporters(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[InMemorySpanExporter]]:
    """OTEL_TRACES_EXPORTER=memory: each service's spans in an exporter of its own."""
    made: list[InMemorySpanExporter] = []

    def memory() -> SpanExporter:
        made.append(InMemorySpanExporter())
        return made[-1]

    monkeypatch.setitem(tracing.EXPORTERS, "memory", memory)
    yield made


def service_of(span: ReadableSpan) -> object:
    return span.resource.attributes.get("service.name")


def ancestry(span: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """`span`, its parent, its parent's parent… up to the root."""
    by_id = {s.context.span_id: s for s in spans}
    chain = [span]
    while chain[-1].parent is not None:
        parent = by_id.get(chain[-1].parent.span_id)
        assert parent is not None, f"the parent of {chain[-1].name!r} is not in the trace"
        chain.append(parent)
    return chain


def named(spans: list[ReadableSpan], name: str, service: str | None = None) -> ReadableSpan:
    """The one span called `name` (of `service`)."""
    [found] = [s for s in spans if s.name == name and service in (None, service_of(s))]
    return found


async def test_one_trace_spans_an_approval_from_proposals_to_materials_to_notifications(
    infra: Infrastructure, namespace: str, exporters: list[InMemorySpanExporter]
) -> None:
    on = {"otel_traces_exporter": "memory"}
    async with (
        running_service("proposals", infra, namespace, **on) as (proposals, proposals_app),
        running_service("materials", infra, namespace, **on) as (_, materials_app),
        running_service("notifications", infra, namespace, **on) as (notifications, _app),
        asgi_client(proposals_app, "http://proposals") as proposals_api,
        asgi_client(materials_app, "http://materials") as materials_api,
        EventProbe(infra.amqp_url, namespace, ["proposal.approved", "material.reserved"]) as probe,
    ):
        assert (await receive_stock(materials_api, ROAD_BILL)).status_code == 201
        drive = ProposalDriver(proposals_api)
        await drive.set_ceiling("Telanaipura", 2026, 500_000_000)
        proposal_id = await drive.approved()
        handled = {"_id": {"$regex": "^notifications:material.reserved:"}}
        await until_async(
            lambda: notifications.db[inbox.COLLECTION].count_documents(handled),
            lambda count: count == 1,
            what="notifications handled material.reserved",
        )
        await probe.wait_for(lambda: len(probe.messages) == 2, what="both events")
        [row] = await proposals.db[outbox.COLLECTION].find({"type": "proposal.approved"}).to_list()
    # the services stopped: every span was exported
    assert len(exporters) == 3
    spans = [span for exporter in exporters for span in exporter.get_finished_spans()]

    request = named(spans, APPROVE_ROUTE, "proposals")
    assert request.kind == SpanKind.SERVER
    trace_id = request.context.trace_id
    assert request.attributes is not None
    assert request.attributes["http.target"] == f"/proposals/{proposal_id}/approve"
    in_trace = [span for span in spans if span.context.trace_id == trace_id]

    # notifications' handler of material.reserved, back to the HTTP request
    handler = named(in_trace, "handle material.reserved", "notifications")
    chain = [(service_of(s), s.name, s.kind) for s in ancestry(handler, in_trace)]
    exchange = f"{namespace}.events"
    assert chain == [
        ("notifications", "handle material.reserved", SpanKind.INTERNAL),
        ("notifications", f"{exchange}.material.reserved process", SpanKind.CONSUMER),
        ("materials", f"{exchange}.material.reserved create", SpanKind.PRODUCER),
        ("materials", "outbox publish material.reserved", SpanKind.INTERNAL),
        ("materials", "transaction", SpanKind.INTERNAL),
        ("materials", "handle proposal.approved", SpanKind.INTERNAL),
        ("materials", f"{exchange}.proposal.approved process", SpanKind.CONSUMER),
        ("proposals", f"{exchange}.proposal.approved create", SpanKind.PRODUCER),
        ("proposals", "outbox publish proposal.approved", SpanKind.INTERNAL),
        ("proposals", "transaction", SpanKind.INTERNAL),
        ("proposals", APPROVE_ROUTE, SpanKind.SERVER),
    ]

    # the outbox row kept its transaction's context; the relay published under it
    transaction = ancestry(handler, in_trace)[-2]
    version, row_trace, row_span, _flags = row["traceparent"].split("-")
    assert (version, row_trace) == ("00", format_trace_id(trace_id))
    assert row_span == format_span_id(transaction.context.span_id)
    for service, event_type in (
        ("proposals", "proposal.approved"),
        ("materials", "material.reserved"),
    ):
        relayed = named(in_trace, f"outbox publish {event_type}", service)
        assert relayed.attributes is not None
        assert float(str(relayed.attributes["berdaya.outbox.waited_seconds"])) >= 0
        # FastStream's publish span, under the message's create span
        published = named(in_trace, f"{exchange}.{event_type} publish", service)
        created = named(in_trace, f"{exchange}.{event_type} create", service)
        assert published.parent is not None and created.parent is not None
        assert published.parent.span_id == created.context.span_id
        assert created.parent.span_id == relayed.context.span_id

    # what travelled on the broker: the W3C header of the trace
    for message in probe.messages:
        header = str((message.headers or {}).get("traceparent", ""))
        assert header.startswith(f"00-{format_trace_id(trace_id)}-"), message.routing_key

    # notifications took proposal.approved too: the same trace, another branch
    approved_there = named(in_trace, "handle proposal.approved", "notifications")
    assert ancestry(approved_there, in_trace)[-1] is request

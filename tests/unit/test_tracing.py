"""Tracing's parts without I/O: off by default, the exporters OTEL_TRACES_EXPORTER
names, the traceparent an outbox row keeps and the relay's span continuing it, and
FastStream's middleware carrying it in the message headers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import structlog
from faststream.rabbit import RabbitBroker, RabbitExchange
from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware
from faststream.rabbit.response import RabbitPublishCommand
from faststream.response.publish_type import PublishType
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import INVALID_SPAN, format_span_id, format_trace_id

from shared import logs, tracing
from shared.clock import utc_now
from shared.settings import ServiceSettings
from shared.tracing import (
    NO_TRACER,
    Tracing,
    context_of,
    current_traceparent,
    exporter_names,
    outbox_publish_span,
    span,
)


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[InMemorySpanExporter]]:
    made: list[InMemorySpanExporter] = []

    def exporter() -> SpanExporter:
        made.append(InMemorySpanExporter())
        return made[-1]

    monkeypatch.setitem(tracing.EXPORTERS, "memory", exporter)
    yield made


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def test_tracing_is_off_unless_an_exporter_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert ServiceSettings().otel_traces_exporter == "none"
    off = Tracing.of("proposals", "berdaya", ServiceSettings().otel_traces_exporter)
    assert not off.enabled
    assert off.tracer is NO_TRACER
    broker = RabbitBroker()
    off.instrument_broker(broker)
    assert not broker.config.broker_middlewares  # nothing in the way of a message


def test_the_standard_variable_names_the_exporters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp,console")
    assert ServiceSettings().otel_traces_exporter == "otlp,console"
    assert exporter_names("otlp, Console") == ["otlp", "console"]
    assert exporter_names("none") == exporter_names("") == []
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert exporter_names("otlp") == []


def test_an_unknown_exporter_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no exporter named 'zipkin-typo'"):
        Tracing.of("proposals", "berdaya", "zipkin-typo")


def test_otlp_speaks_http_and_refuses_grpc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ValueError, match="http/protobuf"):
        Tracing.of("proposals", "berdaya", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    on = Tracing.of("proposals", "berdaya", "otlp")
    assert on.enabled
    on.shutdown()


def test_each_service_traces_under_its_own_name(
    memory: list[InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "something-else")
    on = Tracing.of("materials", "berdaya", "memory")
    with on.tracer.start_as_current_span("work"):
        pass
    on.shutdown()  # exports what the batch held
    [span] = memory[0].get_finished_spans()
    assert span.resource.attributes["service.name"] == "materials"
    assert span.resource.attributes["service.namespace"] == "berdaya"


def test_off_no_span_is_made_and_no_traceparent_kept() -> None:
    assert current_traceparent() is None
    with span(NO_TRACER, "nothing recorded") as made:
        assert made is INVALID_SPAN
        assert current_traceparent() is None
    assert context_of(None) is None and context_of("") is None


def test_log_lines_written_inside_a_span_name_its_trace(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, _ = spans
    log = structlog.get_logger("test")
    with structlog.testing.capture_logs(processors=[logs._trace_ids]) as lines:
        log.info("outside")
        with span(provider.get_tracer("test"), "work") as working:
            log.info("inside")
    outside, inside = lines
    assert "trace_id" not in outside
    context = working.get_span_context()
    assert (inside["trace_id"], inside["span_id"]) == (
        format_trace_id(context.trace_id),
        format_span_id(context.span_id),
    )


def test_the_relay_span_continues_the_span_that_wrote_the_row(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("transaction") as writer:
        stored = current_traceparent()
    context = writer.get_span_context()
    assert stored is not None
    assert stored.startswith(
        f"00-{format_trace_id(context.trace_id)}-{format_span_id(context.span_id)}-"
    )
    # later, in the relay's own task: no span at hand, only the row
    with outbox_publish_span(
        tracer,
        event_type="proposal.approved",
        event_id="e1",
        traceparent=stored,
        written_at=utc_now() - timedelta(seconds=2),
        attempts=1,
    ):
        pass
    relayed = _named(exporter.get_finished_spans(), "outbox publish proposal.approved")
    assert relayed.parent is not None
    assert (relayed.context.trace_id, relayed.parent.span_id) == (
        context.trace_id,
        context.span_id,
    )
    assert relayed.attributes is not None
    assert relayed.attributes["messaging.message.id"] == "e1"
    assert float(str(relayed.attributes["berdaya.outbox.waited_seconds"])) >= 2


def test_a_row_without_traceparent_starts_its_own_trace(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    with outbox_publish_span(
        provider.get_tracer("test"),
        event_type="material.reserved",
        event_id="e2",
        traceparent=None,  # written before tracing was on
        written_at=None,
        attempts=3,
    ):
        pass
    [relayed] = exporter.get_finished_spans()
    assert relayed.parent is None
    assert relayed.attributes is not None
    assert "berdaya.outbox.waited_seconds" not in relayed.attributes


async def test_faststreams_middleware_puts_the_relays_trace_in_the_headers(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """The relay publishes outside any handler: FastStream's publish scope then makes
    its producer spans children of the span at hand (ours) and injects the traceparent."""
    provider, exporter = spans
    middleware = RabbitTelemetryMiddleware(tracer_provider=provider)
    publish = middleware(None, context=RabbitBroker().context)
    sent: list[dict[str, object]] = []

    async def broker_publish(command: RabbitPublishCommand) -> None:
        sent.append(dict(command.headers))

    command = RabbitPublishCommand(
        b"{}",
        _publish_type=PublishType.PUBLISH,
        routing_key="proposal.approved",
        exchange=RabbitExchange("berdaya.events"),
        correlation_id="c1",
    )
    tracer = provider.get_tracer("test")
    with outbox_publish_span(
        tracer,
        event_type="proposal.approved",
        event_id="e1",
        traceparent=None,
        written_at=None,
        attempts=1,
    ) as relayed:
        await publish.publish_scope(broker_publish, command)
    finished = exporter.get_finished_spans()
    created = _named(finished, "berdaya.events.proposal.approved create")
    published = _named(finished, "berdaya.events.proposal.approved publish")
    assert created.parent is not None and published.parent is not None
    assert created.parent.span_id == relayed.get_span_context().span_id
    assert published.parent.span_id == created.context.span_id
    [headers] = sent
    trace_id = format_trace_id(relayed.get_span_context().trace_id)
    assert str(headers["traceparent"]).startswith(
        f"00-{trace_id}-{format_span_id(created.context.span_id)}-"
    )


def _named(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [found] = [span for span in spans if span.name == name]
    return found

"""OpenTelemetry tracing: one trace follows a flow from the HTTP request through every
service it reaches.

Off unless `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`, or any
registered under the SDK's `opentelemetry_traces_exporter` entry points; comma-separated
for several). The SDK's own default would be `otlp`, but a service that sends spans
nowhere must cost nothing: off, no instrumentation is installed and the few spans of
our own go to a no-op tracer. On, each service has its own tracer provider (resource
`service.name` = the service, `service.namespace` = the namespace) with a batch span
processor; the rest is the standard `OTEL_*` variables the SDK and exporters read
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `…_HEADERS`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`…).
`OTEL_SDK_DISABLED=true` turns it off whatever the exporter.

The spans of one flow, each the child of the one before:
- the HTTP request (opentelemetry-instrumentation-fastapi; shared/web/app.py);
- the transaction of the use case or handler (shared/storage/unit_of_work.py), whose
  retried attempts are events on it;
- the outbox row keeps that span's W3C `traceparent` (shared/storage/outbox.py);
- the relay's publish of the row, a child of the stored context
  (shared/messaging/relay.py), with FastStream's producer spans inside it
  (`RabbitTelemetryMiddleware`), which put the `traceparent` in the message headers;
- in the next service, FastStream's consumer span (the same middleware extracts the
  context from the headers) and our handler span inside it
  (shared/messaging/consumer.py), around the handler and its transaction.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from shared.clock import utc_now

if TYPE_CHECKING:
    from fastapi import FastAPI
    from faststream.rabbit import RabbitBroker
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

TRACEPARENT = "traceparent"
# The instrumentation scope of the spans this project makes itself.
SCOPE = "berdaya"
OFF = ("", "none")
# Probes and scrapes would be most of the traces and tell nothing.
UNTRACED_URLS = "/health$,/ready$,/metrics$"
NO_TRACER: trace.Tracer = trace.NoOpTracer()
_PROPAGATOR = TraceContextTextMapPropagator()


def _otlp_http() -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    if protocol not in ("", "http/protobuf"):
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: the OTLP exporter installed speaks "
            "http/protobuf only (a collector's port 4318)"
        )
    return OTLPSpanExporter()


def _console() -> SpanExporter:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter()


# Exporters by the names OTEL_TRACES_EXPORTER may give; others are looked up among the
# installed entry points. `otlp` is OTLP over HTTP (the gRPC exporter is not installed).
EXPORTERS: dict[str, Callable[[], SpanExporter]] = {
    "otlp": _otlp_http,
    "otlp_proto_http": _otlp_http,
    "console": _console,
}


def exporter_names(setting: str) -> list[str]:
    """The exporters `OTEL_TRACES_EXPORTER` asks for; none when tracing is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [name.strip().lower() for name in setting.split(",")]
    return [name for name in names if name not in OFF]


def _exporter(name: str) -> SpanExporter:
    if name in EXPORTERS:
        return EXPORTERS[name]()
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        known = ", ".join(sorted({*EXPORTERS, *OFF[1:]}))
        raise ValueError(f"OTEL_TRACES_EXPORTER: no exporter named {name!r} (known: {known})")
    exporter: SpanExporter = next(iter(found)).load()()
    return exporter


@dataclass(frozen=True)
class Tracing:
    """A service's tracing: a tracer provider, or none when tracing is off."""

    provider: TracerProvider | None = None

    @classmethod
    def of(cls, service: str, namespace: str, exporters: str) -> Tracing:
        names = exporter_names(exporters)
        if not names:
            return cls()
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        # The service's own name wins over OTEL_SERVICE_NAME: several services may
        # share one environment (and, in the tests, one process).
        resource = Resource.create({"service.name": service, "service.namespace": namespace})
        provider = TracerProvider(resource=resource)
        for name in names:
            provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
        return cls(provider)

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    @property
    def tracer(self) -> trace.Tracer:
        if self.provider is None:
            return NO_TRACER
        return self.provider.get_tracer(SCOPE)

    def instrument_broker(self, broker: RabbitBroker) -> None:
        """Producer spans on every publish, consumer spans on every message, and the
        trace context in the message headers (FastStream's own instrumentation)."""
        if self.provider is None:
            return
        from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

        broker.add_middleware(RabbitTelemetryMiddleware(tracer_provider=self.provider))

    def instrument_app(self, app: FastAPI) -> None:
        """A server span per HTTP request, named by its route template."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            excluded_urls=os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", UNTRACED_URLS),
            # one span per request, not one more per chunk of body sent or received
            exclude_spans=["receive", "send"],
        )

    def shutdown(self) -> None:
        """Export what is still buffered, then stop (blocks: call it off the loop)."""
        if self.provider is not None:
            self.provider.shutdown()


def span(
    tracer: trace.Tracer,
    name: str,
    *,
    context: Context | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> contextlib.AbstractContextManager[trace.Span]:
    """A span made current; with tracing off, nothing at all (even a no-op tracer's
    span costs some 20 µs, which an event's path pays several times)."""
    if tracer is NO_TRACER:
        return contextlib.nullcontext(trace.INVALID_SPAN)
    return tracer.start_as_current_span(name, context=context, attributes=attributes)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the span at hand, None outside any (or tracing off)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def context_of(traceparent: object) -> Context | None:
    """The context a stored `traceparent` names; None (the caller's own) without one."""
    if not isinstance(traceparent, str) or not traceparent:
        return None
    return _PROPAGATOR.extract({TRACEPARENT: traceparent})


def outbox_publish_span(
    tracer: trace.Tracer,
    *,
    event_type: str,
    event_id: str,
    traceparent: object,
    written_at: datetime | None,
    attempts: int,
) -> contextlib.AbstractContextManager[trace.Span]:
    """The relay's publish of one outbox row: a child of the span that wrote the row,
    with how long the row waited for it."""
    if tracer is NO_TRACER:
        return contextlib.nullcontext(trace.INVALID_SPAN)
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "rabbitmq",
        "messaging.message.id": event_id,
        "berdaya.event_type": event_type,
        "berdaya.outbox.attempt": attempts,
    }
    if written_at is not None:
        attributes["berdaya.outbox.waited_seconds"] = (utc_now() - written_at).total_seconds()
    return tracer.start_as_current_span(
        f"outbox publish {event_type}", context=context_of(traceparent), attributes=attributes
    )

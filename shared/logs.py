"""Structured logs (JSON lines) that carry the correlation id of the work at hand."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from opentelemetry import trace

from shared.clock import format_timestamp, utc_now
from shared.urls import for_logs

# Loggers of HTTP clients that write request URLs (httpx: "HTTP Request: POST <url>").
HTTP_CLIENT_LOGGERS = ("httpx", "httpcore")


def _timestamp(
    _: structlog.types.WrappedLogger, __: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """`timestamp` in the one format of the project (UTC, milliseconds)."""
    event["timestamp"] = format_timestamp(utc_now())
    return event


def _trace_ids(
    _: structlog.types.WrappedLogger, __: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """`trace_id` and `span_id` of the span at hand (tracing on): from a log line to its
    trace."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = trace.format_trace_id(context.trace_id)
        event["span_id"] = trace.format_span_id(context.span_id)
    return event


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """Route stdlib and structlog output through one structlog renderer."""
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _timestamp,
        _trace_ids,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    redact_http_client_urls()
    structlog.contextvars.bind_contextvars(service=service)


class RedactUrls(logging.Filter):
    """Rewrites URLs in a record's arguments (`for_logs`): an outbound URL may carry a
    token in its query or credentials, and the client logs it at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        return True


def _redacted(value: object) -> object:
    text = str(value)
    if text.startswith(("http://", "https://")):
        return for_logs(text)
    return value


_REDACT_URLS = RedactUrls()


def redact_http_client_urls() -> None:
    """Install the filter on the HTTP clients' loggers (once; harmless again)."""
    for name in HTTP_CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT_URLS not in logger.filters:
            logger.addFilter(_REDACT_URLS)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


@contextmanager
def correlation_scope(correlation_id: str, **extra: str) -> Iterator[None]:
    """Every log line written inside carries `correlation_id` (and `extra`)."""
    with structlog.contextvars.bound_contextvars(correlation_id=correlation_id, **extra):
        yield

"""Schemathesis against each service's own OpenAPI document, in-process, with real
MongoDB and RabbitMQ: every operation, as each role (and as nobody), must never answer
5xx and must answer only what the document says (status, content type, headers, body
schema). A bounded, repeatable run: few examples per operation, derandomized.

Checks left off, and why:
- `positive_data_acceptance`: data valid to the schema is still refused by rules the
  schema cannot state (who may act, where, in which state): 403/404/409 are right.
- `use_after_free`, `ensure_resource_availability`: stateful checks; these runs send
  unrelated single requests.
- `max_response_time` is not configured: timing on a shared 2-core machine is noise.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import CHECKS, CheckFunction, load_all_checks
from schemathesis.core.result import Err, Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi

from services import SERVICES
from shared.identity import Actor
from tests.support.infrastructure import Infrastructure
from tests.support.namespace import settings_for
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    RESIDENT,
    RT_HEAD,
    SUPERVISOR,
    WAREHOUSE_OFFICER,
    auth,
)

# One of each role, with a matching area; None: no token at all.
CALLERS: list[Actor | None] = [
    None,
    RESIDENT,
    RT_HEAD,
    KELURAHAN_OFFICER,
    KECAMATAN_OFFICER,
    CITY_OFFICER,
    WAREHOUSE_OFFICER,
    SUPERVISOR,
]
# Examples per operation and caller: data the document allows, and data it does not.
EXAMPLES = {GenerationMode.POSITIVE: 3, GenerationMode.NEGATIVE: 2}
LEFT_OFF = {"positive_data_acceptance", "use_after_free", "ensure_resource_availability"}
# The public page's live stream ends by itself after its bound: a short one, so that each
# fuzzed request to /live is answered in full, quickly.
SHORT_LIVE = {"transparency_live_max_seconds": 0.2, "transparency_live_poll_seconds": 0.1}


def _left_off() -> list[CheckFunction]:
    load_all_checks()
    return [
        check
        for check in CHECKS.get_all()
        if not isinstance(check, type) and check.__name__ in LEFT_OFF
    ]


@pytest.fixture
def service_app(
    request: pytest.FixtureRequest, infra: Infrastructure, namespace: str
) -> Iterator[Any]:
    service: str = request.param
    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    overrides = SHORT_LIVE if service == "transparency" else {}
    settings = settings_for(service, namespace, infra.amqp_url, infra.mongodb_url, **overrides)
    _, app = bootstrap.build(settings)
    try:
        yield app
    finally:
        # The ASGI client started the app's lifespan (its runtime) on first use.
        asgi.shutdown_lifespans()


@pytest.mark.parametrize("service_app", SERVICES, indirect=True)
def test_no_operation_answers_5xx_or_off_its_document(service_app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", service_app)
    client = asgi.get_client(service_app)
    _wait_until_started(client)
    left_off = _left_off()
    assert len(left_off) == len(LEFT_OFF)
    failures: list[str] = []
    operations = [_ok(result) for result in schema.get_all_operations()]
    assert len(operations) > 10
    for operation in operations:
        for caller in CALLERS:
            headers = auth(caller) if caller is not None else {}
            for mode, examples in EXAMPLES.items():
                try:
                    _fuzz(operation.as_strategy(mode), examples, headers, client, left_off)
                except hypothesis.errors.Unsatisfiable:
                    pass  # no input to get wrong: /health, /ready, /metrics and the like
                except Exception as error:  # every operation runs; all failures are listed
                    who = caller.role.value if caller else "anonymous"
                    failures.append(f"{operation.label} as {who}, {mode}: {error}"[:3000])
    assert not failures, "\n\n".join(failures)


def _fuzz(
    cases: Any, examples: int, headers: dict[str, str], client: Any, left_off: list[CheckFunction]
) -> None:
    @hypothesis.given(case=cases)
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(session=client, headers=headers, excluded_checks=left_off)

    run()


def _ok(result: Ok[Any] | Err[Any]) -> Any:
    assert isinstance(result, Ok), f"an operation the document describes badly: {result}"
    return result.ok()


def _wait_until_started(client: Any) -> None:
    deadline = time.monotonic() + 30
    while client.get("http://testserver/ready").status_code != 200:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.1)

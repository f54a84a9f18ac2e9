"""HTTP request metrics and the access log of a real service (proposals, against real
RabbitMQ and MongoDB): requests counted and timed by route template, method and status
class on /metrics; one log line per request only when BERDAYA_ACCESS_LOG is on."""

from __future__ import annotations

import uuid

import structlog
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.support.infrastructure import Infrastructure
from tests.support.people import RT_HEAD, auth
from tests.support.proposals import ProposalsApi
from tests.support.runtime import asgi_client, running_service

ONE_PROPOSAL = "/proposals/{proposal_id}"


def answered(route: str, status_class: str, method: str = "GET") -> float:
    """Requests the proposals service answered so far, as /metrics counts them."""
    labels = {"service": "proposals", "method": method, "route": route}
    found = REGISTRY.get_sample_value(
        "berdaya_http_requests_total", {**labels, "status_class": status_class}
    )
    return found or 0.0


def timed(route: str, status_class: str, method: str = "GET") -> float:
    labels = {"service": "proposals", "method": method, "route": route}
    found = REGISTRY.get_sample_value(
        "berdaya_http_request_seconds_count", {**labels, "status_class": status_class}
    )
    return found or 0.0


async def test_requests_are_counted_by_route_template_method_and_status_class(
    infra: Infrastructure, namespace: str
) -> None:
    async with (
        running_service("proposals", infra, namespace) as (runtime, app),
        asgi_client(app, "http://proposals") as api,
    ):
        proposals = ProposalsApi(runtime, api)
        before = {
            "found": answered(ONE_PROPOSAL, "2xx"),
            "missing": answered(ONE_PROPOSAL, "4xx"),
            "submitted": answered("/proposals", "2xx", "POST"),
            "unmatched": answered("unmatched", "4xx"),
            "odd method": answered(ONE_PROPOSAL, "4xx", "OTHER"),
            "timed": timed(ONE_PROPOSAL, "2xx"),
        }
        proposal_id = await proposals.drive.submit()
        for _ in range(2):
            found = await api.get(f"/proposals/{proposal_id}", headers=auth(RT_HEAD))
            assert found.status_code == 200
        missing = await api.get(f"/proposals/{uuid.uuid4()}", headers=auth(RT_HEAD))
        assert missing.status_code == 404
        nowhere = await api.get(f"/nowhere/{uuid.uuid4()}")
        assert nowhere.status_code == 404
        odd = await api.request("BREW", f"/proposals/{proposal_id}", headers=auth(RT_HEAD))
        assert odd.status_code == 405
        exposed = (await api.get("/metrics")).text

    assert answered(ONE_PROPOSAL, "2xx") - before["found"] == 2
    assert answered(ONE_PROPOSAL, "4xx") - before["missing"] == 1
    assert answered("/proposals", "2xx", "POST") - before["submitted"] == 1
    assert answered("unmatched", "4xx") - before["unmatched"] == 1
    assert answered(ONE_PROPOSAL, "4xx", "OTHER") - before["odd method"] == 1
    assert timed(ONE_PROPOSAL, "2xx") - before["timed"] == 2
    # on the service's own /metrics, by template: no raw path, no id
    series = {
        sample.labels["route"]
        for family in text_string_to_metric_families(exposed)
        if family.name == "berdaya_http_requests"
        for sample in family.samples
        if sample.labels.get("service") == "proposals"
    }
    assert {ONE_PROPOSAL, "/proposals", "unmatched"} <= series
    assert not any(proposal_id in route or "/nowhere" in route for route in series)


async def test_the_access_log_writes_one_line_per_request_only_when_switched_on(
    infra: Infrastructure, namespace: str
) -> None:
    correlation = {"X-Correlation-ID": f"access-{uuid.uuid4()}"}
    for switched_on in (False, True):
        async with (
            running_service("proposals", infra, namespace, access_log=switched_on) as (_, app),
            asgi_client(app, "http://proposals") as api,
        ):
            missing = f"/proposals/{uuid.uuid4()}"
            with structlog.testing.capture_logs(
                processors=[structlog.contextvars.merge_contextvars]
            ) as logs:
                response = await api.get(missing, headers={**auth(RT_HEAD), **correlation})
            assert response.status_code == 404
        lines = [line for line in logs if line["event"] == "http request"]
        if not switched_on:
            assert lines == []
            continue
        [line] = lines
        assert line["log_level"] == "info"
        assert (line["method"], line["route"], line["path"], line["status"]) == (
            "GET",
            ONE_PROPOSAL,
            missing,
            404,
        )
        assert line["duration_ms"] >= 0
        assert line["correlation_id"] == correlation["X-Correlation-ID"]

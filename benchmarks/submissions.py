"""HTTP: proposal submissions per second and their p99, beside bare FastAPI + PyMongo.

    .venv/bin/python -m benchmarks.submissions [--seconds 10] [--concurrency 32] [--json out]

The proposals service as a process (production settings, benchmarks/measure.py), and
the baseline (benchmarks/baselines.py `fastapi`: a pydantic body of the same shape,
the proposal and an outbox row inserted in one transaction), each driven by httpx with
`--concurrency` requests in flight for `--seconds` (after 100 to warm up): POST
/proposals as the RT heads of one kecamatan's 180 RTs in turn (the duplicate check
reads the RT's active proposals, up to 500: in one RT it would grow with the run). A
queue takes what the relay publishes, so its publishes are part of the cost.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks import measure
from benchmarks.end_to_end import Api, rt_heads
from tests.support.infrastructure import Infrastructure, infrastructure
from tests.support.namespace import new_namespace, remove_namespace
from tests.support.people import KECAMATAN, road_proposal

WARM_UP = 100


async def closed_loop(
    send: Any, concurrency: int, seconds: float, warm_up: int = WARM_UP
) -> dict[str, Any]:
    """`concurrency` workers, each sending the next request once its last answered."""
    counter = itertools.count()
    await asyncio.gather(*(send(next(counter)) for _ in range(warm_up)))
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.monotonic() < stop_at:
            started = time.monotonic()
            try:
                await send(next(counter))
            except (httpx.HTTPError, RuntimeError):
                errors += 1
                continue
            latencies.append(time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    return {
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "latency": measure.percentiles(latencies),
        "errors": errors,
    }


def draft(index: int, head: Any) -> dict[str, Any]:
    return road_proposal(
        title=f"Rabat beton {index}",
        area={"kecamatan": KECAMATAN, "kelurahan": head.kelurahan, "rt": head.rt},
        location={"lat": -1.55 - (index % 97) * 0.001, "lng": 103.55 + (index // 97) * 0.001},
    )


async def run(infra: Infrastructure, seconds: float, concurrency: int) -> dict[str, Any]:
    namespace = new_namespace()
    logs = measure.RESULTS_DIR / "logs" / namespace
    logs.mkdir(parents=True, exist_ok=True)
    heads = rt_heads()
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    service = measure.start_production("proposals", infra, namespace, logs)
    baseline = measure.start_baseline("fastapi", infra, namespace, logs)
    try:
        async with (
            measure.sink_queue(infra.amqp_url, namespace),
            httpx.AsyncClient(timeout=60, limits=limits) as client,
        ):
            await measure.ready(service, baseline)
            api = Api(client, {"proposals": service.url})

            async def ours(i: int) -> None:
                head = heads[i % len(heads)]
                await api.call("proposals", "POST", "/proposals", head, draft(i, head))

            async def bare(i: int) -> None:
                answer = await client.post(f"{baseline.url}/proposals", json=draft(i, heads[0]))
                answer.raise_for_status()

            watch = measure.RssWatch({"proposals": service.process.pid})
            async with watch.running():
                service_figures = await closed_loop(ours, concurrency, seconds)
            baseline_figures = await closed_loop(bare, concurrency, seconds)
    finally:
        await measure.stopped(service, baseline)
        await remove_namespace(namespace, infra.amqp_url, infra.mongodb_url)
    return {
        "seconds": seconds,
        "concurrency": concurrency,
        "proposals": service_figures,
        "fastapi_baseline": baseline_figures,
        "ratio": measure.ratio(
            service_figures["requests_per_second"], baseline_figures["requests_per_second"]
        ),
        "proposals_peak_rss_mb": round(watch.peak.get("proposals", 0.0), 1),
    }


def report(result: dict[str, Any]) -> str:
    rows = []
    for name, key in (
        ("proposals service", "proposals"),
        ("bare FastAPI + PyMongo", "fastapi_baseline"),
    ):
        f = result[key]
        lat = f["latency"]
        rows.append(
            [
                name,
                f["requests_per_second"],
                measure.ms(lat["p50"]),
                measure.ms(lat["p99"]),
                measure.ms(lat["max"]),
                f["errors"],
                result["ratio"] if key == "proposals" else None,
            ]
        )
    return measure.table(
        f"HTTP: POST /proposals, concurrency {result['concurrency']}, {result['seconds']:g} s",
        ["server", "submissions/s", "p50 ms", "p99 ms", "max ms", "errors", "x baseline"],
        rows,
    )


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with infrastructure() as infra:
        result = await run(infra, args.seconds, args.concurrency)
    print(report(result))
    print(f"\nJSON: {measure.write_results({'submissions': result}, args.json)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

"""What every benchmark measures with: clocks, percentiles, paced load, memory of a
process, the services as production runs them, tables and the one JSON file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
from pymongo import AsyncMongoClient

from deploy.local.run import free_port
from shared.logs import configure_logging
from shared.messaging.topology import Topology
from shared.settings import ServiceSettings
from tests.support.infrastructure import Infrastructure
from tests.support.processes import ServiceProcess, start_service, wait_ready

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / ".run" / "bench"
Mongo = AsyncMongoClient[dict[str, Any]]

# As production runs a service (the shipped defaults: INFO, JSON lines, the relay's
# poll), except what one driver on one address needs: no rate limits.
PRODUCTION_ENV = {
    "BERDAYA_LOG_LEVEL": "INFO",
    "BERDAYA_LOG_JSON": "true",
    "BERDAYA_ACCESS_LOG": "false",
    "OTEL_TRACES_EXPORTER": "none",
    "BERDAYA_OUTBOX_POLL_SECONDS": str(ServiceSettings.model_fields["outbox_poll_seconds"].default),
    "BERDAYA_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "false",
    "BERDAYA_RATE_LIMITS_ENABLED": "false",
}


# --- clocks and figures ---------------------------------------------------------------------


async def timed(what: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await what()
    return time.perf_counter() - started


async def wait_until(
    condition: Callable[[], Awaitable[bool]], limit: float = 300, what: str = "benchmark"
) -> None:
    deadline = time.monotonic() + limit
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish within {limit:.0f} s")
        await asyncio.sleep(0.01)


def percentiles(samples: Iterable[float]) -> dict[str, float | int | None]:
    """n, p50, p95, p99, max (nearest rank; seconds in, seconds out, rounded to the ms)."""
    values = sorted(samples)

    def rank(p: float) -> float | None:
        return round(values[max(0, math.ceil(p / 100 * len(values)) - 1)], 3) if values else None

    return {
        "n": len(values),
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "max": round(values[-1], 3) if values else None,
    }


def ms(seconds: float | int | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def ratio(ours: float | None, raw: float | None) -> float | None:
    return round(ours / raw, 2) if ours and raw else None


async def paced(
    rate: float, count: int, action: Callable[[int], Coroutine[Any, Any, None]]
) -> tuple[float, list[BaseException]]:
    """`action(i)` started at `i / rate` s, whether the earlier ones answered or not
    (an open loop: a slow system meets the same arrivals, as users would). Returns the
    rate the starts achieved and what the actions raised."""
    started = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for index in range(count):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(action(index)))
    span = time.monotonic() - started
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    achieved = (count - 1) / span if count > 1 and span > 0 else rate
    return achieved, [o for o in outcomes if isinstance(o, BaseException)]


async def bounded(concurrency: int, jobs: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run the jobs, at most `concurrency` at a time, in order of their results."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


# --- memory ---------------------------------------------------------------------------------


def rss_mb(pid: int, peak: bool = False) -> float:
    """Resident memory of a process now (or its peak since it started: VmHWM), in MB."""
    field_name = "VmHWM" if peak else "VmRSS"
    try:
        import psutil  # type: ignore[import-untyped]

        if not peak:
            return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        pass
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a live process has used since it started; 0 once gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # the fields after the command name, which may hold spaces: utime and stime are 14, 15
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pid_of(command_name: str) -> int | None:
    """The first process whose command name is this (e.g. RabbitMQ's `beam.smp`)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == command_name:
                    return int(entry.name)
    return None


@dataclass
class RssWatch:
    """The largest RSS each process showed while the watch ran (sampled every 0.5 s)."""

    processes: dict[str, int]
    peak: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)

    def sample(self) -> None:
        for name, pid in self.processes.items():
            with contextlib.suppress(OSError):
                value = rss_mb(pid)
                self.samples.setdefault(name, []).append(round(value, 1))
                self.peak[name] = max(self.peak.get(name, 0.0), value)

    @contextlib.asynccontextmanager
    async def running(self, every: float = 0.5) -> AsyncIterator[RssWatch]:
        async def loop() -> None:
            while True:
                self.sample()
                await asyncio.sleep(every)

        task = asyncio.create_task(loop())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.sample()


# --- the system under test ------------------------------------------------------------------


def start_production(
    name: str, infra: Infrastructure, namespace: str, logs: Path, **env: str
) -> ServiceProcess:
    """`python -m services.<name>` with the production settings (PRODUCTION_ENV)."""
    return start_service(name, infra, namespace, logs, **{**PRODUCTION_ENV, **env})


async def ready(*services: ServiceProcess) -> None:
    await asyncio.gather(*(asyncio.to_thread(wait_ready, s, 120.0) for s in services))


async def stopped(*services: ServiceProcess) -> None:
    await asyncio.gather(*(asyncio.to_thread(s.stop, 30.0) for s in services))


def start_baseline(kind: str, infra: Infrastructure, namespace: str, logs: Path) -> ServiceProcess:
    """`python -m benchmarks.baselines <kind>` (a floor or the bare FastAPI app)."""
    port = free_port()
    log = logs / f"{kind}-{port}.log"
    env = {
        **os.environ,
        "AMQP_URL": infra.amqp_url,
        "MONGODB_URL": infra.mongodb_url,
        "HTTP_PORT": str(port),
        "BENCH_NAMESPACE": namespace,
        "PYTHONPATH": str(REPO),
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.baselines", kind],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return ServiceProcess(kind, port, process, log)


async def wait_logged(process: ServiceProcess, text: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while text not in process.log.read_text(errors="replace"):
        if process.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.name} not ready:\n{process.log_tail()}")
        await asyncio.sleep(0.2)


@contextlib.contextmanager
def production_logging(service: str, log_file: Path) -> Iterator[None]:
    """The kernel in this process logs as a service does (INFO, JSON), into `log_file`
    rather than over the tables (unconfigured, structlog prints every debug line)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with log_file.open("a") as output, contextlib.redirect_stdout(output):
            configure_logging(service, "INFO", json=True)  # the handler keeps this stdout
            yield
    finally:  # the file is closed: nothing may write to it any more
        root.handlers[:], root.level = handlers, level


@contextlib.asynccontextmanager
async def sink_queue(amqp_url: str, namespace: str, pattern: str = "#") -> AsyncIterator[None]:
    """A queue that takes (and at once forgets) what is published on the namespace's
    exchange: the relays' mandatory publishes are routable without the other services."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            Topology(namespace).events_exchange.name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            exclusive=True, arguments={"x-max-length": 1, "x-overflow": "drop-head"}
        )
        await queue.bind(exchange, routing_key=pattern)
        yield


async def publish_pipelined(
    amqp_url: str, exchange_name: str, messages: Sequence[tuple[str, bytes, str]], chunk: int = 500
) -> None:
    """(routing key, body, message id) on one confirmed channel, `chunk` confirms awaited
    together: how a backlog is put in a queue quickly."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = (
            await channel.get_exchange(exchange_name) if exchange_name else channel.default_exchange
        )
        for start in range(0, len(messages), chunk):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body,
                            message_id=message_id,
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=key,
                        mandatory=True,
                    )
                    for key, body, message_id in messages[start : start + chunk]
                )
            )


async def server_transactions(client: Mongo) -> dict[str, int]:
    """MongoDB's counters: transactions committed and aborted, write conflicts, and
    the operations by kind (opcounters)."""
    status = await client.admin.command("serverStatus")
    found = status["transactions"]
    ops = status["opcounters"]
    return {
        "committed": int(found["totalCommitted"]),
        "aborted": int(found["totalAborted"]),
        "write_conflicts": int(
            status.get("metrics", {}).get("operation", {}).get("writeConflicts", 0)
        ),
        **{kind: int(ops[kind]) for kind in ("insert", "query", "update", "delete", "command")},
    }


async def quiet(client: Mongo, still: float = 2.0, limit: float = 180.0) -> float:
    """Until no transaction committed or aborted for `still` s (the services finished
    what the last run left them), at most `limit` s; returns the seconds waited."""
    started = time.monotonic()
    last, since = None, started
    while time.monotonic() - started < limit:
        counts = await server_transactions(client)
        now = (counts["committed"], counts["aborted"])
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= still:
            break
        await asyncio.sleep(0.25)
    return round(time.monotonic() - started, 1)


def difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before.get(key, 0) for key in after}


def copied(document: Any, old: uuid.UUID, new: uuid.UUID) -> Any:
    """A stored document under another id: `old` made `new` wherever it appears, as a
    UUID or as its text (`_id` is the text). For a queue or a load that the API would
    take minutes to prepare."""
    if document == old:
        return new
    if document == str(old):
        return str(new)
    if isinstance(document, dict):
        return {k: copied(v, old, new) for k, v in document.items()}
    if isinstance(document, list):
        return [copied(v, old, new) for v in document]
    return document


# --- tables and the JSON file ---------------------------------------------------------------


def table(title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain text table; the first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header], *[["-" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [f"\n== {title}"]
    for row in cells:
        parts = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(parts))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def write_results(results: dict[str, Any], path: Path | None = None) -> Path:
    """The run's figures as JSON: `path`, or .run/bench/<UTC time>.json and latest.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path or RESULTS_DIR / f"bench-{stamp}.json"
    text = json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n"
    target.write_text(text)
    if path is None:
        (RESULTS_DIR / "latest.json").write_text(text)
    return target


# --- profiles -------------------------------------------------------------------------------


def py_spy() -> Path | None:
    """py-spy next to this Python (`pip install py-spy`), if installed."""
    found = Path(sys.executable).parent / "py-spy"
    return found if found.exists() else None


def start_profile(pid: int, out: Path, seconds: float, rate: int = 100) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` for `seconds` into `out` (collapsed stacks, idle excluded)."""
    spy = py_spy()
    out.parent.mkdir(parents=True, exist_ok=True)
    if spy is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy==0.4.1")
    argv = [
        str(spy),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.asynccontextmanager
async def profiling(
    processes: dict[str, int], directory: Path | None
) -> AsyncIterator[dict[str, Any]]:
    """While the block runs, py-spy on each process (nothing when `directory` is None);
    afterwards the summaries, by name, in the yielded dict."""
    summaries: dict[str, Any] = {}
    if directory is None:
        yield summaries
        return
    spies = {
        name: (start_profile(pid, directory / f"{name}.txt", 3600), directory / f"{name}.txt")
        for name, pid in processes.items()
    }
    try:
        yield summaries
    finally:
        for spy, _ in spies.values():
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
        for name, (spy, out) in spies.items():
            await asyncio.to_thread(spy.wait, 60)
            if out.exists():
                summaries[name] = {"file": str(out), **summarise_profile(out)}


def summarise_profile(collapsed: Path, top: int = 15) -> dict[str, Any]:
    """Where the samples went: by library (the file's package, for the frame running) and
    the functions with the most samples anywhere on the stack (inclusive)."""
    by_library: dict[str, int] = {}
    by_function: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():  # names of any bytes
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        library = _library(frames[-1])
        by_library[library] = by_library.get(library, 0) + count
        by_function[frames[-1]] = by_function.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count

    def share(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    return {
        "samples": total,
        "self_by_library_percent": {
            k: share(v) for k, v in sorted(by_library.items(), key=lambda kv: -kv[1])[:top]
        },
        "self_by_function_percent": {
            k: share(v) for k, v in sorted(by_function.items(), key=lambda kv: -kv[1])[:top]
        },
        "inclusive_percent": {
            k: share(v) for k, v in sorted(inclusive.items(), key=lambda kv: -kv[1])[: top * 3]
        },
    }


def _library(frame: str) -> str:
    """`function (pymongo/pool.py:12)` → its library: the top folder (two for the
    project's services/ and shared/), or the module for the standard library's top
    level files."""
    path = frame.rpartition("(")[2].rstrip(")").rpartition(":")[0]
    if "site-packages/" in path:
        path = path.split("site-packages/")[1]
    parts = Path(path).parts
    if not parts:
        return frame
    if parts[0] in ("services", "shared", "benchmarks"):
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else Path(parts[0]).stem

"""The three services as real processes, as `make up` runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.local.run import free_port
from tests.support.infrastructure import Infrastructure
from tests.support.namespace import SERVICES

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """Die at once, mid-whatever, as a crash would."""
        self.process.kill()
        self.process.wait()


def start_service(
    name: str, infra: Infrastructure, namespace: str, log_dir: Path, **env: str
) -> ServiceProcess:
    return start_service_inside(None, "127.0.0.1", name, infra, namespace, log_dir, env)


def start_service_inside(
    inside: Callable[[list[str]], list[str]] | None,
    host: str,
    name: str,
    infra: Infrastructure,
    namespace: str,
    log_dir: Path,
    env: dict[str, str],
) -> ServiceProcess:
    """`inside` wraps the command line (to run it in a network namespace, say), where
    the service listens on `host`."""
    port = free_port()
    log = log_dir / f"{name}-{port}.log"
    environment = {
        **os.environ,
        "AMQP_URL": infra.amqp_url,
        "MONGODB_URL": infra.mongodb_url,
        "HTTP_HOST": host,
        "HTTP_PORT": str(port),
        "BERDAYA_NAMESPACE": namespace,
        "BERDAYA_OUTBOX_POLL_SECONDS": "0.2",
        # webhook receivers of the tests listen on 127.0.0.1 (refused in production)
        "BERDAYA_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "BERDAYA_RATE_LIMITS_ENABLED": "false",
        "PYTHONPATH": str(REPO),
        **env,
    }
    with log.open("wb") as output:
        argv = [sys.executable, "-m", f"services.{name}"]
        process = subprocess.Popen(
            inside(argv) if inside else argv,
            cwd=REPO,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return ServiceProcess(name, port, process, log, host)


def wait_ready(service: ServiceProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited:\n{service.log_tail()}")
        try:
            if httpx.get(f"{service.url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{service.name} not ready after {timeout}s:\n{service.log_tail()}")


@contextmanager
def running_system(
    infra: Infrastructure,
    namespace: str,
    log_dir: Path,
    env: dict[str, dict[str, str]] | None = None,
) -> Iterator[dict[str, ServiceProcess]]:
    """The three services; `env` adds environment variables per service name."""
    services = {
        name: start_service(name, infra, namespace, log_dir, **(env or {}).get(name, {}))
        for name in SERVICES
    }
    try:
        for service in services.values():
            wait_ready(service)
        yield services
    finally:
        for service in services.values():
            service.stop()


def metric(base_url: str, name: str, **labels: str) -> float:
    """The value of one sample of a service's `/metrics` (0 when it does not exist yet)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0

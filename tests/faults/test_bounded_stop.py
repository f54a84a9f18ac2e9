"""A stop that hangs is cut short: at the bound, or at once on a second SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from deploy.local.run import free_port
from shared.web.serve import HARD_EXIT_STATUS
from tests.support.processes import REPO


@contextmanager
def hanging_server(bound: float) -> Iterator[subprocess.Popen[bytes]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.hanging_app", str(port), str(bound)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield process
    finally:
        process.kill()
        process.wait()


def _stopping(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    while b"stopping, forever" not in process.stdout.readline():
        pass


def test_a_stop_past_its_bound_exits_hard() -> None:
    with hanging_server(bound=2.0) as process:
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=15)
        took = time.monotonic() - asked
    assert status == HARD_EXIT_STATUS
    assert 2.0 <= took < 6.0


def test_a_second_sigterm_exits_at_once() -> None:
    with hanging_server(bound=60.0) as process:
        process.send_signal(signal.SIGTERM)
        _stopping(process)
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=15)
        took = time.monotonic() - asked
    assert status == HARD_EXIT_STATUS
    assert took < 2.0

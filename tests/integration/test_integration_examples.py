"""The integration kit's example consumers (examples/python, examples/javascript), each run
as its own process against the real broker as the city's integration user: it binds its
own queue, reads the history from a time, and handles every event once by event_id."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deploy.broker import definitions
from shared.contracts import Envelope, new_envelope
from tests.support.broker_access import least_privilege_broker
from tests.support.events import budget_allocated, material_fulfilled, proposal_approved
from tests.support.history import publish_as
from tests.support.infrastructure import Infrastructure

EXAMPLES = Path(__file__).parents[2] / "examples"
JAVASCRIPT = EXAMPLES / "javascript"
# bounds on a shared 2-core machine; reaching one means the example lost an event
STEP_SECONDS = 60.0


def _command(language: str) -> list[str]:
    if language == "python":
        # -I: isolated, no project on the path — aio-pika is all it may use
        return [sys.executable, "-I", str(EXAMPLES / "python" / "consumer.py")]
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "the JavaScript example needs Node.js and npm"
    if not (JAVASCRIPT / "node_modules" / "amqplib").is_dir():
        # a fresh checkout: the locked dependency (package-lock.json), from npm
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JAVASCRIPT, check=True)
    return [node, str(JAVASCRIPT / "consumer.js")]


def _approval() -> Envelope:
    return new_envelope(proposal_approved(), producer="proposals", correlation_id="example")


def _fulfilment() -> Envelope:
    return new_envelope(
        material_fulfilled(uuid.uuid4()), producer="materials", correlation_id="example"
    )


class _Output:
    """The example's stdout, line by line, read until a line the test waits for."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def until(self, line: str) -> None:
        assert self.process.stdout is not None
        async with asyncio.timeout(STEP_SECONDS):
            while line not in self.lines:
                read = await self.process.stdout.readline()
                assert read, f"the example ended before {line!r}: {self.lines}"
                self.lines.append(read.decode().strip())

    async def to_the_end(self) -> int:
        assert self.process.stdout is not None
        async with asyncio.timeout(STEP_SECONDS):
            rest = await self.process.stdout.read()
            code = await self.process.wait()
        self.lines += [line for line in rest.decode().splitlines() if line]
        return code

    def handled(self) -> list[str]:
        return [line.split()[1] for line in self.lines if line.startswith("handled ")]


@pytest.mark.parametrize("language", ["python", "javascript"])
async def test_the_example_consumer_reads_history_and_live_events_each_once(
    infra: Infrastructure, namespace: str, tmp_path: Path, language: str
) -> None:
    command = _command(language)
    async with least_privilege_broker(infra, namespace) as broker:
        before = _approval()
        await publish_as(broker, "proposals", before)
        # the history is asked from a whole second after `before`, reached before the rest
        since = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        await asyncio.sleep((since - datetime.now(UTC)).total_seconds() + 0.5)
        history = [_approval(), _fulfilment()]
        budget = new_envelope(budget_allocated(), producer="city-finance", correlation_id="ex")
        await publish_as(broker, "proposals", history[0])
        await publish_as(broker, "materials", history[1])
        await publish_as(broker, definitions.INTEGRATIONS, budget)
        await publish_as(broker, "proposals", history[0])  # again: the same event_id
        history.append(budget)

        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            env={
                "AMQP_URL": broker.url(definitions.INTEGRATIONS),
                "NAMESPACE": namespace,
                "SINCE": since.isoformat(),
                "STOP_AFTER": "5",
                "PROCESSED": str(tmp_path / "processed.txt"),
                "PATH": "/usr/bin:/bin",
            },
        )
        output = _Output(process)
        try:
            await output.until("ready")
            # the history, read up to its copy of the first event (handled already)
            await output.until(f"duplicate {history[0].event_id}")
            live = [_approval(), _fulfilment()]  # come by its queue and by the history
            await publish_as(broker, "proposals", live[0])
            await publish_as(broker, "materials", live[1])
            code = await output.to_the_end()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert code == 0, output.lines
    expected = [str(e.event_id) for e in (*history, *live)]
    assert sorted(output.handled()) == sorted(expected)  # each once; nothing before `since`
    assert output.handled()[:3] == expected[:3]  # the history first, in its order
    duplicates = [line.split()[1] for line in output.lines if line.startswith("duplicate ")]
    assert set(duplicates) <= set(expected)
    # what it remembers survives a restart
    assert sorted((tmp_path / "processed.txt").read_text().split()) == sorted(expected)

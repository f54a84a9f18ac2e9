"""A second, throwaway RabbitMQ node of the machine's install, plain AMQP, that a test
may stop and start again — never the development broker on 5672, which others use.

    with rabbitmq_node(directory) as node:
        node.amqp_url                  # amqp://guest:guest@127.0.0.1:<port>/
        node.stop()                    # every connection drops; durable queues stay
        node.start()                   # same name, ports and data: queues are back

Its own node name, ports, data, logs and Erlang cookie (tests/support/rabbitmq_local.py),
the management plugin on a port of its own (the services set queue policies through it).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.local.run import free_port
from tests.support.rabbitmq_local import start_node, stop, wait_listening


class RabbitNode:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.amqp_port, self.http_port = free_port(), free_port()
        self.name = f"berdaya-own-{uuid.uuid4().hex[:8]}@localhost"
        self.log = directory / "node.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        config = (
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            f"management.tcp.port = {self.http_port}\n"
            "management.tcp.ip = 127.0.0.1\n"
        )
        self._process, self.log = start_node(self.directory, name=self.name, config=config)
        wait_listening(self._process, (self.amqp_port, self.http_port), self.log)

    def stop(self) -> None:
        if self._process is not None:
            stop(self._process)
            self._process = None


@contextmanager
def rabbitmq_node(directory: Path) -> Iterator[RabbitNode]:
    node = RabbitNode(directory)
    node.start()
    try:
        yield node
    finally:
        node.stop()

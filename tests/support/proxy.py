"""A TCP forwarder on loopback, in the test's event loop: a dependency that comes up
late or goes away (open, close), several nodes behind one address (the first that
accepts, as a load balancer), or a broker that takes what a client sends and never
answers (hold) — without touching the real one.

    async with Forwarder(("127.0.0.1", 5672)) as proxy:
        url = proxy.url_for(amqp_url)     # the same URL, through the proxy
        await proxy.open()                # nothing answers on proxy.port before this
        proxy.hold()                      # what clients send from now on is kept back
        await proxy.close()               # every forwarded connection cut

(tests/support/fault_proxy.py is the threaded one with latency, for processes in network
namespaces.)
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

from deploy.local.run import free_port


class Forwarder:
    """Listens on `port` (free) once `open()` is called; forwards each connection to
    the first of `targets` (host, port) that accepts it."""

    def __init__(self, *targets: tuple[str, int]) -> None:
        self.port = free_port()
        self.targets = list(targets)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url_for(self, url: str) -> str:
        """`url` (amqp://, mongodb://…) with its host and port replaced by this proxy's."""
        parts = urlsplit(url)
        credentials, _, _ = parts.netloc.rpartition("@")
        netloc = f"{credentials}@{self.address}" if credentials else self.address
        return urlunsplit(parts._replace(netloc=netloc))

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    def hold(self) -> None:
        """Keep back everything clients send from now on (never forwarded; dropped at
        close): a broker that takes publishes and never confirms them."""
        self._flowing.clear()

    async def close(self) -> None:
        """Stop listening and cut every forwarded connection: the targets are
        unreachable until `open()` is called again (same port)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        pipes = list(self._pipes)
        for task in pipes:
            task.cancel()
        for task in pipes:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Forwarder:
        return self

    async def __aexit__(
        self, *_: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        await self.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for target in self.targets:
            try:
                target_reader, target_writer = await asyncio.open_connection(*target)
            except OSError:
                continue
            for pipe in (
                _pipe(reader, target_writer, self._flowing),
                _pipe(target_reader, writer, None),
            ):
                task = asyncio.create_task(pipe)
                self._pipes.add(task)
                task.add_done_callback(self._pipes.discard)
            return
        writer.close()  # no target accepts: the client retries, as with a dead balancer


async def _pipe(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, gate: asyncio.Event | None
) -> None:
    try:
        while data := await source.read(65536):
            if gate is not None:
                await gate.wait()
            sink.write(data)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        sink.close()

"""A TCP forwarder on loopback that can be opened late: a dependency that "comes up"
after the service that needs it, without touching the real one."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from deploy.local.run import free_port


class LateProxy:
    """Listens on `port` (free, nothing answers there) once `open()` is called, and
    forwards every connection to `target_host:target_port`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.port = free_port()
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def close(self) -> None:
        """Stop listening and cut every forwarded connection: the target is unreachable
        until `open()` is called again (same port)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        pipes = list(self._pipes)
        for task in pipes:
            task.cancel()
        for task in pipes:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> LateProxy:
        return self

    async def __aexit__(
        self, *_: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        await self.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target_reader, target_writer = await asyncio.open_connection(*self._target)
        for source, sink in ((reader, target_writer), (target_reader, writer)):
            task = asyncio.create_task(_pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        sink.close()

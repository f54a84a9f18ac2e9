"""A TCP forwarder with faults, in a thread of its own (so that blocking test code never
stalls the bytes it carries): the way a service in a network namespace reaches the
broker and MongoDB that listen on the host's loopback, and a slow link when asked.

    with FaultProxy("10.250.14.1", ("127.0.0.1", 5672)) as proxy:
        proxy.port                # where it listens, on the given address
        proxy.latency = 0.2       # each chunk waits this long, both ways
        proxy.latency = 0.0

This kernel has no `netem`; latency is added here, per chunk read, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from types import TracebackType


class FaultProxy:
    def __init__(self, listen_host: str, target: tuple[str, int]) -> None:
        self.listen_host = listen_host
        self.target = target
        self.latency = 0.0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"proxy-{target}", daemon=True)
        self.port = 0

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10) or self._server is None:
            raise RuntimeError(f"the proxy on {self.listen_host} did not start")
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._forward, self.listen_host, 0, family=socket.AF_INET)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        finally:
            self._ready.set()
        self._loop.run_forever()
        self._server.close()
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.connections += 1
        await asyncio.gather(
            self._pipe(reader, target_writer),
            self._pipe(target_reader, writer),
            return_exceptions=True,
        )

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Chunks in order; each waits `latency` in a queue, so a slow link still streams
        (the wait is per chunk, not added up across chunks in flight)."""
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await chunks.get()
                if not data:
                    return
                await asyncio.sleep(max(0.0, due - self._loop.time()))
                sink.write(data)
                await sink.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while data := await source.read(65536):
                await chunks.put((self._loop.time() + self.latency, data))
            await chunks.put((0.0, b""))
            await delivering
        except (ConnectionError, OSError):
            pass
        finally:
            delivering.cancel()
            sink.close()

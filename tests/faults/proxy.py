"""A TCP proxy that a test can hang and cut: the network between a server and PostgreSQL (or Redis) going wrong.

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgres://postgres@127.0.0.1:{proxy.port}/db"  # what the server under test gets
        proxy.hang()     # bytes stop flowing both ways; sockets stay open (a hung peer, not a refused one)
        proxy.resume()   # what was held back flows again
        proxy.cut()      # every open connection is closed at once; new ones are served

Runs its own asyncio loop in a daemon thread, so both sync and async tests
can use it. Not a product component: only tests import it.
"""

from __future__ import annotations

import asyncio
import threading


class TcpProxy:
    """Forward 127.0.0.1:`port` (a free port, chosen at `start`) to `target_host`:`target_port`."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0  # accepted so far
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._flowing: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> None:
        """Listen on a free loopback port (`self.port`)."""
        self._thread.start()

        async def listen():
            self._flowing = asyncio.Event()
            self._flowing.set()
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            return self._server.sockets[0].getsockname()[1]

        self.port = self._run(listen())

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, upstream_writer))
        await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()  # hung while this was read: hold it back until resumed
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def hang(self) -> None:
        """Stop moving bytes in both directions; connections stay open and new ones are accepted but get nothing."""
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def resume(self) -> None:
        """Move bytes again, including those held back."""
        self._loop.call_soon_threadsafe(self._flowing.set)

    def cut(self) -> None:
        """Close every open connection (both ends) at once; the proxy keeps accepting new ones."""

        async def close_all():
            for writer in list(self._writers):
                transport = writer.transport
                transport.abort()
            self._writers.clear()

        self._run(close_all())

    def close(self) -> None:
        """Cut every connection, stop listening and stop the thread."""
        if not self._thread.is_alive():
            return
        self.resume()
        self.cut()

        async def stop():
            self._server.close()

        self._run(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

"""TCP proxies in front of the API server that break connections for real (the sockets are
reset, as a dropped network or an idle-closing load balancer does) while the API server
itself stays up, so a lost output or a stuck status would be the product's fault."""

from __future__ import annotations

import asyncio
import random
import time


class CuttingProxy:
    """Forwards every connection; `cut()` resets the open ones; new ones are still accepted."""

    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.cuts = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        link = _Link(writer, up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer, link, upstream=True),
            self._pipe(up_reader, writer, link, upstream=False),
        )
        self.writers -= {writer, up_writer}

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        link: _Link,
        upstream: bool,
    ) -> None:
        try:
            while data := await src.read(65536):
                await self._forward(data, link, upstream)
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()

    async def _forward(self, data: bytes, link: _Link, upstream: bool) -> None:
        """Called before each chunk is passed on (chaos hooks here)."""
        now = time.monotonic()
        if upstream:
            link.last_request = now
        else:
            link.last_response = now

    def cut(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()  # RST: the peer sees the connection drop
        self.cuts += 1

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class _Link:
    """One proxied connection: its two sockets and when each side last sent."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter):
        self.client, self.upstream = client, upstream
        self.last_request = self.last_response = time.monotonic()


class ChaosProxy(CuttingProxy):
    """At random: delays responses (a slow network or API server), and resets streams (a
    watch or a followed log: a connection whose response has been flowing for more than
    `stream_after` seconds since the client last sent anything). Short request/response
    exchanges are delayed but never cut: their failure would be an honest 5xx, not a bug."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        delay_probability: float = 0.05,
        max_delay: float = 0.8,
        stream_after: float = 3.0,
        seed: int = 7,
    ):
        super().__init__(upstream_host, upstream_port)
        self.delay_probability = delay_probability
        self.max_delay = max_delay
        self.stream_after = stream_after
        self.random = random.Random(seed)
        self.links: set[_Link] = set()
        self.delays = 0
        self.streams_cut = 0
        self._task: asyncio.Task | None = None

    async def _forward(self, data: bytes, link: _Link, upstream: bool) -> None:
        await super()._forward(data, link, upstream)
        self.links.add(link)
        if not upstream and self.random.random() < self.delay_probability:
            self.delays += 1
            await asyncio.sleep(self.random.uniform(0.05, self.max_delay))

    def start_cutting(self, every: tuple[float, float] = (4.0, 12.0)) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(self.random.uniform(*every))
                self.cut_streams(share=self.random.uniform(0.3, 1.0))

        self._task = asyncio.create_task(loop())

    def cut_streams(self, share: float = 1.0) -> int:
        now = time.monotonic()
        cut = 0
        for link in list(self.links):
            streaming = link.last_response > link.last_request + self.stream_after
            if link.client.is_closing():
                self.links.discard(link)
            elif streaming and now - link.last_response < 30 and self.random.random() < share:
                link.client.transport.abort()
                link.upstream.transport.abort()
                self.links.discard(link)
                cut += 1
        self.streams_cut += cut
        return cut

    def calm(self) -> None:
        """No more chaos: connections are forwarded as they are from now on."""
        if self._task is not None:
            self._task.cancel()
        self.delay_probability = 0.0

    async def stop(self) -> None:
        self.calm()
        await super().stop()

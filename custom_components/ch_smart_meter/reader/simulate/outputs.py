"""Where simulated frames go: a pseudo-terminal or a TCP server (several clients).

Outputs move bytes and nothing else. A meter does not wait for its listener: when a
listener cannot keep up (or nobody reads a pseudo-terminal), frames are dropped, never
queued without bound. Bytes written by a reader are handed to the simulator's
``respond`` (polled standards) and the answer is sent back to that reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from typing import Protocol

from .pty import BACKLOG_LIMIT, PtyWriter, open_pty
from .source import Simulator


class Output(Protocol):
    """A destination of simulated frames."""

    def send(self, frame: bytes) -> None:
        """Send one frame to every listener that can take it."""

    async def close(self) -> None:
        """Stop listening and release everything."""


class PtyOutput:
    """A pseudo-terminal: a reader opens :attr:`path` exactly like a serial port.

    Both ends stay open for the simulator's lifetime, so readers may come and go.
    """

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator
        self._master, self._slave, self.path = open_pty()
        self._loop = asyncio.get_running_loop()
        self._writer = PtyWriter(self._loop, self._master)
        self._loop.add_reader(self._master, self._on_request)
        self._closed = False
        self.dropped = 0  # frames

    def send(self, frame: bytes) -> None:
        """Write a frame; dropped when the previous one is still pending."""
        if self._closed:
            return
        if self._writer.pending:
            self.dropped += 1
            return
        self._writer.write(frame)

    def _on_request(self) -> None:
        try:
            request = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as err:
            if err.errno == errno.EIO:  # no reader has the port open: nothing to answer
                return
            raise
        if request and (answer := self._simulator.respond(request)):
            self._writer.write(answer)

    async def close(self) -> None:
        """Close both ends; a connected reader sees the device disappear."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._master)
        self._writer.close()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class TcpOutput:
    """A TCP server like ser2net in raw mode: every connected client gets every frame."""

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.connections = 0  # clients accepted so far

    @property
    def clients(self) -> int:
        """Clients connected now."""
        return len(self._clients)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0: any free port); returns the port."""
        self._server = await asyncio.start_server(self._serve_client, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._clients.add(writer)
        self.connections += 1
        try:
            while request := await reader.read(4096):
                if answer := self._simulator.respond(request):
                    writer.write(answer)
        except (ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def send(self, frame: bytes) -> None:
        """Send a frame to every client whose backlog is small."""
        for writer in list(self._clients):
            if writer.is_closing():
                continue
            if writer.transport.get_write_buffer_size() > BACKLOG_LIMIT:
                continue
            writer.write(frame)

    async def disconnect_clients(self) -> None:
        """Drop every client connection (the server keeps listening)."""
        for writer in list(self._clients):
            writer.close()
        for writer in list(self._clients):
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        """Stop listening and drop every client."""
        if self._server is not None:
            self._server.close()
        await self.disconnect_clients()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


async def run(simulator: Simulator, output: Output, *, count: int | None = None) -> int:
    """Send the simulator's frames to ``output`` until ``count`` frames (or cancellation)."""
    sent = 0
    async for frame in simulator.frames(count):
        output.send(frame)
        sent += 1
    return sent

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
import logging
import os
import tty
from typing import Final, Protocol

from .source import Simulator

_LOGGER = logging.getLogger(__name__)

# Bytes a slow listener may have pending before new frames are dropped for it.
BACKLOG_LIMIT: Final = 64 * 1024


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
        self._master, self._slave = os.openpty()
        # Raw mode at once: no echo and no CR -> LF translation of the frames written
        # before a reader has configured the port.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._backlog = bytearray()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._master, self._on_request)
        self._closed = False
        self.dropped = 0

    def send(self, frame: bytes) -> None:
        """Write a frame; dropped when the previous one is still pending."""
        if self._closed:
            return
        if self._backlog:
            self.dropped += 1
            return
        self._write(frame)

    def _write(self, data: bytes) -> None:
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError as err:
            _LOGGER.debug("Writing to the pseudo-terminal failed: %s", err)
            return
        if written < len(data):
            first = not self._backlog
            self._backlog += data[written:]
            if first:
                self._loop.add_writer(self._master, self._flush)

    def _flush(self) -> None:
        try:
            written = os.write(self._master, self._backlog)
        except BlockingIOError:
            return
        except OSError:
            written = len(self._backlog)
        del self._backlog[:written]
        if not self._backlog:
            self._loop.remove_writer(self._master)

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
            self._write(answer)

    async def close(self) -> None:
        """Close both ends; a connected reader sees the device disappear."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._master)
        self._loop.remove_writer(self._master)
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

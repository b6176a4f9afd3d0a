"""Meter links that break for real, for the fault tests.

* :class:`PtyLine` is the meter's end of a real pseudo-terminal (the master); the
  integration opens its node like a serial port. Closing it makes the node vanish, as an
  unplugged USB adapter does; :meth:`PtyLine.at` brings a new one back at the same node.
* :class:`TcpMeter` is a TCP serial server (ser2net in raw mode) that can reset its
  connections, stop listening (connection refused), or accept and stay silent.
* :class:`Feeder` sends a simulated meter's frames to whichever line is plugged in, through
  an optional transformation (:func:`at_wrong_baud`).
* :class:`Mosquitto` is a real broker that can be restarted on its port; :class:`MqttPeer`
  another system on it (a CH-SMR reader that publishes, a subscriber that records).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest

from custom_components.ch_smart_meter.reader.simulate.source import Simulator

# Bytes a line may have pending before the meter drops whole frames (a meter never waits).
BACKLOG_LIMIT: Final = 64 * 1024
# Pseudo-terminals opened in the hope of getting a wanted node back.
PTY_ATTEMPTS: Final = 64


def _pty_index(path: str) -> int:
    return int(path.rsplit("/", 1)[1])


def open_pty(wanted: str | None = None) -> tuple[int, int, str] | None:
    """A raw pseudo-terminal (master, slave, path); at the node ``wanted`` if given, else
    None when that node is not free."""
    held: list[int] = []
    try:
        for _ in range(PTY_ATTEMPTS):
            master, slave = os.openpty()
            path = os.ttyname(slave)
            if wanted is None or path == wanted:
                tty.setraw(slave)
                os.set_blocking(master, False)
                return master, slave, path
            held += (master, slave)
            if _pty_index(path) > _pty_index(wanted):
                return None  # the kernel hands out the lowest free index: it is taken
    finally:
        for fd in held:
            os.close(fd)
    return None


class PtyLine:
    """The meter's end of a pseudo-terminal.

    Like :class:`~custom_components.ch_smart_meter.reader.simulate.outputs.PtyOutput`, it
    keeps the other end open too, so bytes written before the integration opens the node
    wait for it (a USB adapter's buffer). Frames are written whole or dropped whole.
    """

    def __init__(self, pty: tuple[int, int, str] | None = None) -> None:
        self._master, self._slave, self.path = pty or open_pty()  # type: ignore[misc]
        self._loop = asyncio.get_running_loop()
        self._backlog = bytearray()
        self.closed = False
        self.dropped = 0

    @classmethod
    async def at(cls, path: str, timeout: float = 2.0) -> PtyLine:
        """A new pseudo-terminal at the node ``path`` that was given up a moment ago.

        The kernel frees a node shortly after its last descriptor closes and then hands
        out the lowest free one, so it comes back unless another process took it (then
        the test is skipped: the fault cannot be staged, which says nothing about the
        integration).
        """
        deadline = time.monotonic() + timeout
        while (pty := open_pty(path)) is None:
            if time.monotonic() > deadline:
                pytest.skip(f"another process holds {path}; the meter cannot come back there")
            await asyncio.sleep(0.01)
        return cls(pty)

    def send(self, data: bytes) -> None:
        """Write ``data``; dropped when earlier bytes are still pending."""
        if self.closed:
            return
        if self._backlog:
            self.dropped += 1
            return
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        if written < len(data):
            self._backlog += data[written:]
            self._loop.add_writer(self._master, self._flush)

    def _flush(self) -> None:
        try:
            written = os.write(self._master, self._backlog)
        except BlockingIOError:
            return
        del self._backlog[:written]
        if not self._backlog:
            self._loop.remove_writer(self._master)

    def close(self) -> None:
        """The meter's end goes away: the node disappears, a reader sees the end."""
        if self.closed:
            return
        self.closed = True
        self._loop.remove_writer(self._master)
        for fd in (self._master, self._slave):
            os.close(fd)


class TcpMeter:
    """A TCP serial server on 127.0.0.1 that a test can make misbehave."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.connections = 0  # accepted so far
        self.muted = False  # accept, but send nothing

    @property
    def url(self) -> str:
        """The address the entry is configured with."""
        return f"socket://127.0.0.1:{self.port}"

    @property
    def clients(self) -> int:
        """Connections open now."""
        return len(self._writers)

    async def start(self) -> None:
        """Listen (again, on the same port after a stop)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.connections += 1
        try:
            while await reader.read(4096):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def send(self, data: bytes) -> None:
        """Send to every client that keeps up (nothing while muted)."""
        if self.muted:
            return
        for writer in list(self._writers):
            if not writer.is_closing() and writer.transport.get_write_buffer_size() < BACKLOG_LIMIT:
                writer.write(data)

    async def reset(self) -> None:
        """Reset every connection (RST, as a serial server that reboots its TCP stack)."""
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            # Linger on with a zero timeout: close() sends RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        await self.wait_no_clients()

    async def stop(self) -> None:
        """Close the connections and the listening socket: connecting is refused."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self.wait_no_clients()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def wait_no_clients(self, timeout: float = 5.0) -> None:
        """Until every connection has ended."""
        async with asyncio.timeout(timeout):
            while self._writers:
                await asyncio.sleep(0.01)


type Transform = Callable[[bytes], bytes]


@dataclass
class Feeder:
    """Sends a simulated meter's frames to the line plugged in now (None: unplugged).

    One simulator for the whole test, so the registers go on counting through the faults
    (its schedule skips the frames it could not send, as a meter's clock does).
    """

    simulator: Simulator
    line: PtyLine | TcpMeter | None = None
    transform: Transform | None = None
    sent: list[bytes] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sending (one frame per simulator interval)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fault meter")

    async def _run(self) -> None:
        async for frame in self.simulator.frames():
            data = frame if self.transform is None else self.transform(frame)
            if self.line is not None:
                self.sent.append(frame)
                self.line.send(data)

    def unplug(self) -> None:
        """The line goes away (a pty closes: its node disappears)."""
        line, self.line = self.line, None
        if isinstance(line, PtyLine):
            line.close()

    def plug(self, line: PtyLine | TcpMeter) -> None:
        """A line comes (back)."""
        self.line = line

    async def stop(self) -> None:
        """Stop sending; close a pty."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.unplug()


# ------------------------------------------------------------------ garbage


def uart_bits(data: bytes, bytesize: int, parity: str, stopbits: int) -> list[int]:
    """The line levels of ``data`` sent by a UART, one entry per bit time (LSB first)."""
    bits: list[int] = []
    for sent in data:
        byte = sent & ((1 << bytesize) - 1)
        frame = [0] + [(byte >> i) & 1 for i in range(bytesize)]
        if parity in "EO":
            ones = bin(byte).count("1")
            frame.append(ones % 2 if parity == "E" else 1 - ones % 2)
        bits += frame + [1] * stopbits
    return bits


def at_wrong_baud(
    data: bytes,
    *,
    sent: tuple[int, int, str, int] = (9600, 7, "E", 1),
    read: tuple[int, int, str, int] = (115200, 8, "N", 1),
) -> bytes:
    """What a UART reading at ``read`` (baud, bits, parity, stop bits) receives from one
    sending ``data`` at ``sent``: a DSMR 2.2 meter (9600 7E1) on a port set up for DSMR 5
    (115200 8N1). Each received character starts at a falling edge and is sampled in the
    middle of its bits; one without its stop bit is read as NUL, as Linux delivers a
    framing error by default.
    """
    sent_baud, sent_bits, sent_parity, sent_stop = sent
    read_baud, read_bits, read_parity, _ = read
    line = uart_bits(data, sent_bits, sent_parity, sent_stop)
    ratio = sent_baud / read_baud  # sent bits per received bit time

    def level(at: float) -> int:
        index = int(at * ratio)
        return line[index] if index < len(line) else 1

    out = bytearray()
    frame = 1 + read_bits + (read_parity in "EO")
    t = 0.0  # in received bit times
    end = len(line) / ratio
    while t < end:
        if level(t) == 1:
            # Jump to the next sent bit boundary (the line only changes there).
            t = (int(t * ratio) + 1) / ratio
            continue
        value = sum(level(t + 1.5 + i) << i for i in range(read_bits))
        stop_ok = level(t + frame + 0.5) == 1
        out.append(value if stop_ok else 0)
        t += frame + 1
    return bytes(out)


# ------------------------------------------------------------------ MQTT


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    """A real Mosquitto broker on a fixed free port, that can be restarted on it."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = free_port()
        self._binary = binary
        self._config = workdir / "mosquitto.conf"
        self._config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n",
            encoding="utf-8",
        )
        self.log = workdir / "mosquitto.log"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 10.0) -> float:
        """Start it and wait until it accepts connections; returns when it was started
        (monotonic): clients may connect before this waiting sees it accept."""
        started = time.monotonic()
        with self.log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                self._binary,
                "-c",
                str(self._config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        async with asyncio.timeout(timeout):
            while True:
                if self._process.returncode is not None:
                    raise RuntimeError(self.log.read_text(errors="replace"))
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                await writer.wait_closed()
                return started

    async def stop(self) -> None:
        """Terminate it (clients see their connections end; connecting is refused)."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            await process.wait()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _varint(len(body)) + body


class MqttPeer:
    """Another system on the broker: a minimal MQTT 3.1.1 client (QoS 0) that publishes or
    records what it subscribed to, and reconnects at once when the broker comes back.

    Written here rather than with paho so that it runs on the test's event loop, without a
    thread and without paho's growing reconnect delay.
    """

    def __init__(self, port: int, client_id: str, subscribe: str | None = None) -> None:
        self.port = port
        self.client_id = client_id
        self.subscribe = subscribe
        self.messages: list[tuple[float, str, bytes]] = []
        self.connected = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._received = asyncio.Event()

    def start(self) -> None:
        """Connect (and keep connecting) in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.client_id)

    async def stop(self) -> None:
        """Disconnect for good."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def publish(self, topic: str, payload: bytes) -> bool:
        """Send a message now if connected (QoS 0: lost otherwise, as a real reader's)."""
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        writer.write(_packet(0x30, _string(topic) + payload))
        return True

    async def message_after(self, moment: float, timeout: float = 15.0) -> float:
        """Seconds from ``moment`` to the first message received after it."""
        async with asyncio.timeout(timeout):
            while True:
                later = [at for at, _, _ in self.messages if at > moment]
                if later:
                    return later[0] - moment
                self._received.clear()
                await self._received.wait()

    async def _run(self) -> None:
        while True:
            try:
                await self._session()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                self.connected.clear()
                writer, self._writer = self._writer, None
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
            await asyncio.sleep(0.05)

    async def _session(self) -> None:
        reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        # Protocol "MQTT" level 4, clean session, no keep-alive (the tests are short).
        connect = _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0)
        self._writer.write(_packet(0x10, connect + _string(self.client_id)))
        if self.subscribe is not None:
            self._writer.write(
                _packet(0x82, struct.pack("!H", 1) + _string(self.subscribe) + b"\0")
            )
        while True:
            kind = (await reader.readexactly(1))[0]
            length, shift = 0, 0
            while True:
                byte = (await reader.readexactly(1))[0]
                length += (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            body = await reader.readexactly(length)
            if kind >> 4 == 2:  # CONNACK
                self.connected.set()
            elif kind >> 4 == 3:  # PUBLISH (QoS 0: no packet id)
                size = struct.unpack("!H", body[:2])[0]
                topic = body[2 : 2 + size].decode()
                self.messages.append((time.monotonic(), topic, body[2 + size :]))
                self._received.set()

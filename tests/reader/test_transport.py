"""The byte-stream transport over real pseudo-terminals, TCP sockets on 127.0.0.1 and socat."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import socket
import subprocess
import termios
from pathlib import Path

import pytest
import serialx

from custom_components.ch_smart_meter.reader import transport
from custom_components.ch_smart_meter.reader.errors import TransportError
from custom_components.ch_smart_meter.reader.model import SerialSettings
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.outputs import PtyOutput, TcpOutput, run
from custom_components.ch_smart_meter.reader.simulate.source import Simulator, SourceOptions
from custom_components.ch_smart_meter.reader.transport import (
    READ_SIZE,
    describe_os_error,
    is_network_url,
    normalize_url,
    open_stream,
    url_scheme,
)

# TCP servers and clients on 127.0.0.1 (Home Assistant's test plugin blocks sockets otherwise).
pytestmark = pytest.mark.usefixtures("socket_enabled")

DSMR5 = SerialSettings(115200, 8, "N", 1)


def open_fds() -> set[str]:
    """The file descriptors of this process (to prove that nothing leaks)."""
    return set(os.listdir("/proc/self/fd"))


async def read_master(master: int, size: int, timeout: float = 2.0) -> bytes:
    """Read ``size`` bytes written by the reader to the pseudo-terminal."""
    data = b""
    async with asyncio.timeout(timeout):
        while len(data) < size:
            try:
                data += os.read(master, size - len(data))
            except BlockingIOError:
                await asyncio.sleep(0.01)
    return data


async def read_exactly(stream: transport.ByteStream, size: int) -> list[bytes]:
    chunks: list[bytes] = []
    async with asyncio.timeout(5):
        while sum(map(len, chunks)) < size:
            chunk = await stream.read()
            assert chunk, "unexpected end of stream"
            chunks.append(chunk)
    return chunks


def free_port() -> int:
    """A TCP port on 127.0.0.1 where nobody listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- pseudo-terminals ------------------------------------------------------------------


async def test_pty_reads_writes_and_closes_without_leaks(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    before = open_fds()
    stream = await open_stream(path, DSMR5)
    assert stream.description == path

    payload = bytes(range(256)) * 20  # 5120 bytes, every byte value (raw mode: no translation)
    os.write(master, payload)
    chunks = await read_exactly(stream, len(payload))
    assert b"".join(chunks) == payload
    assert all(len(chunk) <= READ_SIZE for chunk in chunks)

    await stream.write(b"/?!\r\n")
    assert await read_master(master, 5) == b"/?!\r\n"

    await stream.close()
    await stream.close()  # idempotent
    assert open_fds() - before == set()


async def test_low_latency_mode_is_never_requested(
    pty_pair: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """serialx defaults to low_latency=True on Linux (1 ms USB latency timer, the 2026.6
    CPU regression); the transport always asks for it off."""
    calls: list[dict[str, object]] = []
    real_open = serialx.create_serial_connection

    async def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return await real_open(*args, **kwargs)

    monkeypatch.setattr(transport.serialx, "create_serial_connection", spy)
    stream = await open_stream(pty_pair[1], DSMR5)
    await stream.close()
    assert calls[0]["low_latency"] is False
    assert calls[0]["baudrate"] == 115200
    assert calls[0]["byte_size"] == 8
    assert calls[0]["parity"] == serialx.Parity.NONE
    assert calls[0]["stopbits"] == serialx.StopBits.ONE


async def test_bytes_per_read_with_the_simulator_on_a_pty() -> None:
    """A telegram arrives in one or two reads, not byte by byte."""
    simulator = Simulator(create_source("dsmr", SourceOptions(seed=4)), interval=0.02)
    output = PtyOutput(simulator)
    stream = await open_stream(output.path, DSMR5)
    frames = 25
    sizes: list[int] = []
    data = b""
    try:
        sender = asyncio.create_task(run(simulator, output, count=frames))
        async with asyncio.timeout(10):
            while data.count(b"\r\n!") < frames or not data.endswith(b"\r\n"):
                chunk = await stream.read()
                sizes.append(len(chunk))
                data += chunk
        await sender
    finally:
        await stream.close()
        await output.close()
    mean = sum(sizes) / len(sizes)
    print(f"pty: {len(sizes)} reads for {frames} telegrams, {mean:.0f} bytes per read")
    assert len(sizes) <= 2 * frames
    assert mean >= 300
    assert max(sizes) <= READ_SIZE


async def test_pty_that_disappears_raises_transport_error(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    stream = await open_stream(path, DSMR5)
    os.close(master)
    with pytest.raises(TransportError, match="connection lost: device disconnected"):
        async with asyncio.timeout(2):
            while await stream.read():
                pass
    await stream.close()


async def test_receive_hands_over_every_chunk_in_order_and_returns_after_close(
    pty_pair: tuple[int, str],
) -> None:
    """receive(): chunks go to the receiver from the transport's callback, none lost, none
    reordered, also bytes that arrived before receive() began; close() ends it quietly."""
    master, path = pty_pair
    before = open_fds()
    stream = await open_stream(path, DSMR5)
    os.write(master, b"early ")
    await asyncio.sleep(0.05)  # read by the transport before anyone receives
    got: list[bytes] = []
    done = asyncio.Event()

    def receiver(chunk: bytes) -> None:
        got.append(chunk)
        if b"".join(got).endswith(b"end"):
            done.set()

    receiving = asyncio.create_task(stream.receive(receiver))
    payload = bytes(range(256)) * 40
    for start in range(0, len(payload), 1000):
        os.write(master, payload[start : start + 1000])
        await asyncio.sleep(0)
    os.write(master, b"end")
    async with asyncio.timeout(5):
        await done.wait()
    assert b"".join(got) == b"early " + payload + b"end"
    await stream.close()
    async with asyncio.timeout(2):
        await receiving  # returns, no exception: the stream was closed on purpose
    assert open_fds() - before == set()


async def test_receive_raises_transport_error_when_the_device_disappears(
    pty_pair: tuple[int, str],
) -> None:
    master, path = pty_pair
    stream = await open_stream(path, DSMR5)
    got: list[bytes] = []
    os.write(master, b"/ISK5")
    await asyncio.sleep(0.05)
    os.close(master)
    with pytest.raises(TransportError, match="connection lost: device disconnected"):
        async with asyncio.timeout(2):
            await stream.receive(got.append)
    assert b"".join(got) == b"/ISK5"  # what arrived before the loss was handed over
    await stream.close()


async def test_a_failing_receiver_ends_receive_with_its_own_error(
    pty_pair: tuple[int, str],
) -> None:
    """The transport's read callback never sees a receiver's exception; receive() raises
    it, and the stream can still be read and closed."""
    master, path = pty_pair
    stream = await open_stream(path, DSMR5)

    def receiver(chunk: bytes) -> None:
        raise ValueError(f"bad chunk {chunk!r}")

    os.write(master, b"x")
    with pytest.raises(ValueError, match="bad chunk b'x'"):
        async with asyncio.timeout(2):
            await stream.receive(receiver)
    os.write(master, b"y")
    async with asyncio.timeout(2):
        assert await stream.read() == b"y"
    await stream.close()


async def test_socat_pty_bridge_through_a_symlink(tmp_path: Path) -> None:
    """Like /dev/serial/by-id/...: a symlink to a pty that socat bridges to a TCP meter."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed")
    simulator = Simulator(create_source("dsmr", SourceOptions(seed=5)), interval=0.05)
    server = TcpOutput(simulator)
    port = await server.start()
    link = tmp_path / "usb-FTDI_FT232R_USB_UART_A12345-if00-port0"
    socat = subprocess.Popen(
        ["socat", f"PTY,link={link},raw,echo=0", f"TCP:127.0.0.1:{port}"],
        stderr=subprocess.DEVNULL,
    )
    sender = asyncio.create_task(run(simulator, server))
    stream = None
    try:
        async with asyncio.timeout(5):
            while not link.exists():
                await asyncio.sleep(0.02)
        stream = await open_stream(str(link), DSMR5)
        data = b""
        async with asyncio.timeout(5):
            while b"!" not in data[data.find(b"/") :]:
                data += await stream.read()
        assert b"/ISK5\\2M550T-1012\r\n" in data
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        if stream is not None:
            await stream.close()
        socat.terminate()
        socat.wait(5)
        await server.close()


# -- TCP ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form", ["socket://127.0.0.1:{port}", "127.0.0.1:{port}", "tcp://127.0.0.1:{port}"]
)
async def test_tcp_reads_writes_and_sees_the_end(form: str) -> None:
    received: list[bytes] = []
    done = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"/ISK5 telegram\r\n")
        await writer.drain()
        received.append(await reader.readexactly(4))
        writer.close()
        await writer.wait_closed()
        done.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    before = open_fds()
    try:
        stream = await open_stream(form.format(port=port))
        assert await stream.read() == b"/ISK5 telegram\r\n"
        await stream.write(b"ping")
        async with asyncio.timeout(2):
            await done.wait()
            assert await stream.read() == b""  # end of stream, not an exception
            await stream.receive(received.append)  # at the end: returns, hands nothing
        assert received == [b"ping"]
        await stream.close()
    finally:
        server.close()
        await server.wait_closed()
    assert open_fds() - before == set()


async def test_tcp_receive_returns_when_the_remote_side_ends_the_stream() -> None:
    async def serve(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for part in (b"/ISK5 ", b"telegram", b"\r\n"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    got: list[bytes] = []
    try:
        stream = await open_stream(f"socket://127.0.0.1:{port}")
        async with asyncio.timeout(5):
            await stream.receive(got.append)  # returns at the end of the stream
        assert b"".join(got) == b"/ISK5 telegram\r\n"
        await stream.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_rfc2217_is_dispatched() -> None:
    port = free_port()
    with pytest.raises(TransportError, match="connection refused"):
        await open_stream(f"rfc2217://127.0.0.1:{port}")


async def test_esphome_is_dispatched() -> None:
    """esphome:// reaches serialx's ESPHome backend, or says which package it needs."""
    port = free_port()
    with pytest.raises(TransportError) as caught:
        await open_stream(
            f"esphome://127.0.0.1:{port}/?port_name=p1&key=c2VjcmV0", connect_timeout=2
        )
    try:
        import aioesphomeapi  # noqa: F401, PLC0415
    except ImportError:
        assert "aioesphomeapi" in caught.value.message
    assert "c2VjcmV0" not in caught.value.message  # the Noise key is redacted


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("/dev/ttyUSB-does-not-exist", "no such device"),
        ("/dev/null", "not a serial port"),
        ("foo://somewhere", "unsupported address type foo://"),
        ("socket://127.0.0.1", "invalid address"),
        ("", "no port given"),
    ],
)
async def test_open_errors_are_specific(url: str, detail: str) -> None:
    with pytest.raises(TransportError) as caught:
        await open_stream(url, DSMR5)
    assert detail in caught.value.message
    assert caught.value.reason == "cannot_open_port"


async def test_refused_connection() -> None:
    port = free_port()
    with pytest.raises(TransportError, match=f"socket://127.0.0.1:{port}: connection refused"):
        await open_stream(f"127.0.0.1:{port}")


async def test_secrets_in_urls_are_redacted() -> None:
    port = free_port()
    with pytest.raises(TransportError) as caught:
        await open_stream(f"socket://127.0.0.1:{port}?password=hunter2")
    assert "hunter2" not in caught.value.message
    stream = await open_stream("simulator://dsmr?interval=5&key=00112233445566778899AABBCCDDEEFF")
    assert "00112233" not in stream.description
    assert "REDACTED" in stream.description
    await stream.close()


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (FileNotFoundError(errno.ENOENT, "x"), "no such device"),
        (PermissionError(errno.EACCES, "x"), "permission denied"),
        (OSError(errno.EBUSY, "x"), "in use by another program"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "x"), "connection refused"),
        (OSError(errno.EHOSTUNREACH, "x"), "host unreachable"),
        (OSError(errno.ENETUNREACH, "x"), "network unreachable"),
        (socket.gaierror(-2, "Name or service not known"), "unknown host name"),
        (TimeoutError(), "connection timed out"),
        (termios.error(25, "Inappropriate ioctl for device"), "not a serial port"),
        (OSError(errno.EIO, "x"), "device disconnected"),
    ],
)
def test_operating_system_errors_in_words(error: BaseException, words: str) -> None:
    assert words in describe_os_error(error)


def test_url_helpers() -> None:
    assert normalize_url(" 192.168.1.20:2001 ") == "socket://192.168.1.20:2001"
    assert normalize_url("p1reader.local:23") == "socket://p1reader.local:23"
    assert normalize_url("/dev/ttyUSB0") == "/dev/ttyUSB0"
    assert (
        normalize_url("/dev/serial/by-id/usb-FTDI:if00-port0")
        == "/dev/serial/by-id/usb-FTDI:if00-port0"
    )
    assert url_scheme("/dev/ttyUSB0") is None
    assert url_scheme("RFC2217://h:1") == "rfc2217"
    assert is_network_url("h:23") and is_network_url("esphome://h")
    assert not is_network_url("/dev/ttyAMA0") and not is_network_url("simulator://dsmr")


# -- in-process simulator -------------------------------------------------------------------


async def test_simulator_stream() -> None:
    stream = await open_stream("simulator://dsmr?interval=0.05&seed=3&acceleration=20")
    first = await stream.read()
    second = await stream.read()
    assert first.startswith(b"/ISK5") and second.startswith(b"/ISK5")
    assert first != second
    await stream.write(b"ignored by a P1 port")
    await stream.close()
    assert await stream.read() == b""
    with pytest.raises(TransportError):
        await stream.write(b"x")


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("simulator://nonsense", "unknown standard"),
        ("simulator://ch-smr", "no simulated ch-smr meter"),
        ("simulator://dsmr?interval=fast", "interval must be a number"),
        ("simulator://dsmr?interval=0", "must be positive"),
        ("simulator://dsmr?speed=2", "unknown parameter speed"),
        ("simulator://dsmr?encrypted=maybe", "encrypted must be 0 or 1"),
        ("simulator://dsmr?key=0011", "a key must be 32 hexadecimal characters"),
        ("simulator://dsmr?start=2026-06-17T12:00:00", "needs a UTC offset"),
    ],
)
async def test_simulator_url_errors(url: str, detail: str) -> None:
    with pytest.raises(TransportError) as caught:
        await open_stream(url)
    assert detail in caught.value.message

"""One async byte stream over whatever carries the meter's bytes.

Addresses are URLs, as ``serialx`` understands them:

* a local device path: ``/dev/ttyUSB0``, ``/dev/serial/by-id/...``, a pseudo-terminal;
* ``socket://host:port`` (ser2net raw mode, ESP-Link, a Wi-Fi P1 bridge); a bare
  ``host:port`` means the same;
* ``rfc2217://host:port`` (ser2net telnet mode, remote serial settings);
* ``esphome://host[:port]/?port_name=...`` (ESPHome serial proxy; needs ``aioesphomeapi``,
  which Home Assistant's ESPHome integration installs);
* other schemes that a module registers with :func:`register_opener` (the simulated
  meters register ``simulator://``).

Reads return what has arrived, up to :data:`READ_SIZE` bytes at once; a receiver
(:meth:`ByteStream.receive`) gets each chunk as the transport reads it. Linux's "low
latency" serial mode is switched off on purpose: it makes USB adapters hand over every
byte or two on its own (a 1 ms latency timer), which multiplied the CPU load of 1 Hz P1
readers in Home Assistant 2026.6. Every failure is a :class:`TransportError` whose detail
says what went wrong in words (no such device, permission denied, connection refused...);
an ``OSError`` never leaves this module. URLs appear only redacted (``key=REDACTED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import socket
import termios
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

import serialx

from .errors import TransportError
from .model import SerialSettings

_LOGGER = logging.getLogger(__name__)

# Bytes handed over by one read: a whole DSMR telegram (~1 kB) or DLMS push (~0.3 kB)
# usually fits, so the decoder runs about once per frame, not once per byte.
READ_SIZE: Final = 4096
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
# A TCP serial server on the LAN answers a connect within a second or refuses it; waiting
# longer only delays the next attempt when it is down (an adapter that reboots does not
# answer at all). An ESPHome proxy also runs its API handshake, over Wi-Fi.
CONNECT_TIMEOUTS: Final = {"socket": 4.0, "tcp": 4.0, "rfc2217": 4.0, "esphome": 10.0}
CLOSE_TIMEOUT: Final = 5.0

# Schemes serialx opens over the network; "socket" is what a bare host:port becomes.
NETWORK_SCHEMES: Final = ("socket", "rfc2217", "esphome")
_SERIALX_SCHEMES: Final = frozenset({*NETWORK_SCHEMES, "tcp"})
# What each scheme needs that may be missing from the installation.
_SCHEME_PACKAGES: Final = {"esphome": "aioesphomeapi (pip install 'serialx[esphome]')"}

# Query parameters whose values are secrets (ESPHome Noise key and password, simulator keys).
_SECRET_PARAMETERS = re.compile(
    r"([?&](?:key|auth_key|password|noise_psk|psk)=)[^&#]*", re.IGNORECASE
)
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")

# errno -> words a user understands; the first match wins.
_ERRNO_DETAILS: Final[dict[int, str]] = {
    errno.ENOENT: "no such device",
    errno.ENODEV: "no such device",
    errno.ENXIO: "no such device",
    errno.EACCES: "permission denied (is the user in the dialout group?)",
    errno.EPERM: "permission denied",
    errno.EBUSY: "the port is in use by another program",
    errno.ENOTTY: "not a serial port",
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset by the remote side",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTDOWN: "host is down",
    errno.ETIMEDOUT: "connection timed out",
    errno.EIO: "device disconnected",
    errno.EPIPE: "connection closed by the remote side",
}


type ChunkReceiver = Callable[[bytes], None]
type Opener = Callable[[str], Awaitable[ByteStream]]
type OpenObserver = Callable[[str, SerialSettings], None]

# Schemes opened by something else than serialx (see register_opener).
_OPENERS: dict[str, Opener] = {}
_OPEN_OBSERVERS: list[OpenObserver] = []


async def receive_by_reading(stream: ByteStream, receiver: ChunkReceiver) -> None:
    """:meth:`ByteStream.receive` for streams that only implement ``read``."""
    while chunk := await stream.read():
        receiver(chunk)


class ByteStream(Protocol):
    """An open connection to a meter: bytes in, bytes out."""

    @property
    def description(self) -> str:
        """The address, safe to log (secrets redacted)."""

    async def read(self) -> bytes:
        """The next bytes that arrived (at most :data:`READ_SIZE`); ``b""`` at end of stream.

        Raises :class:`TransportError` when the connection breaks.
        """

    async def receive(self, receiver: ChunkReceiver) -> None:
        """Call ``receiver`` with every chunk as it arrives, until the remote side ends the
        stream (returns) or the connection breaks (:class:`TransportError`); returns at
        once after :meth:`close`. An exception of ``receiver`` ends the stream and is
        raised here. For a steady stream this is cheaper than a loop of :meth:`read`.
        """

    async def write(self, data: bytes) -> None:
        """Send bytes (requests of polled standards); raises :class:`TransportError`."""

    async def close(self) -> None:
        """Close the connection and release its resources; never raises."""


def redact_url(url: str) -> str:
    """The URL with the values of secret query parameters (``key``, ``password``...) replaced."""
    return _SECRET_PARAMETERS.sub(r"\1REDACTED", url)


def normalize_url(url: str) -> str:
    """Trim the address and turn a bare ``host:port`` into ``socket://host:port``."""
    url = url.strip()
    if _SCHEME.match(url) is None and _HOST_PORT.match(url):
        return f"socket://{url}"
    return url


def url_scheme(url: str) -> str | None:
    """The scheme of an address (``socket``, ``simulator``...); ``None`` for a device path."""
    match = _SCHEME.match(url)
    return match["scheme"].lower() if match else None


def is_network_url(url: str) -> bool:
    """True for addresses reached over the network (where silence may be a dead socket)."""
    return url_scheme(normalize_url(url)) in _SERIALX_SCHEMES


def network_url(host: str, port: int) -> str:
    """``socket://host:port`` for a raw TCP serial server; IPv6 literals in brackets."""
    host = host.strip()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"socket://{host}:{port}"


def is_serial_url(url: str) -> bool:
    """Whether ``url`` is a network serial URL this module opens (``socket://host:port``,
    ``rfc2217://...``, ``esphome://...``) with something after the scheme."""
    url = url.strip()
    scheme = url_scheme(url)
    return scheme in NETWORK_SCHEMES and bool(url.partition("://")[2])


def register_opener(scheme: str, opener: Opener) -> None:
    """Let ``opener`` open the addresses of ``scheme`` (e.g. ``simulator://``)."""
    _OPENERS[scheme.lower()] = opener


def observe_serial_opens(observer: OpenObserver) -> Callable[[], None]:
    """Tell ``observer`` the address and character format of every port this process is
    about to open through serialx; returns the function that stops it.

    For simulated serial lines: a Linux pseudo-terminal keeps the speed and stop bits a
    reader sets but drops its parity and data bits (the pty driver forces CS8 without
    PARENB), so a simulated UART behind one cannot read them back from the terminal.
    """
    _OPEN_OBSERVERS.append(observer)

    def stop() -> None:
        with contextlib.suppress(ValueError):
            _OPEN_OBSERVERS.remove(observer)

    return stop


def describe_os_error(err: BaseException) -> str:
    """Words for an operating-system error, without paths or addresses."""
    if isinstance(err, socket.gaierror):
        return "unknown host name"
    if isinstance(err, TimeoutError):
        return "connection timed out"
    if isinstance(err, termios.error):
        return "not a serial port"
    if isinstance(err, OSError) and err.errno in _ERRNO_DETAILS:
        return _ERRNO_DETAILS[err.errno]
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return type(err).__name__


class _ChunkProtocol(asyncio.Protocol):
    """The asyncio side of a serialx connection.

    While a receiver is set (:meth:`SerialxStream.receive`, the reading session) every chunk
    goes straight from the transport's read callback to it: no buffer copy, no future and
    no task switch per chunk, which is most of what reading costs an event loop per
    telegram. Otherwise chunks are buffered for :meth:`SerialxStream.read`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.receiver: ChunkReceiver | None = None
        self.buffer = bytearray()
        self.ended = False  # end of stream or connection lost
        self.error: BaseException | None = None  # why the connection was lost
        self.receiver_error: Exception | None = None  # what the receiver raised
        self._waiter: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        receiver = self.receiver
        if receiver is None:
            self.buffer += data
            self._wake()
            return
        try:
            receiver(data)
        except Exception as err:
            # Handed to receive(), which raises it: the transport's read callback must not see it.
            self.receiver = None
            self.receiver_error = err
            self._end(None)

    def eof_received(self) -> bool:
        self._end(None)
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(exc)
        self._writing_paused = False
        self._wake_drain()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_drain()

    async def wait(self) -> None:
        """Until the next chunk or the end of the stream."""
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    async def drain(self) -> None:
        """Until the transport's write buffer has room again."""
        if not self._writing_paused:
            return
        waiter = self._drain_waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._drain_waiter = None

    def _end(self, error: BaseException | None) -> None:
        if not self.ended:
            self.ended = True
            self.error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class SerialxStream:
    """A :class:`ByteStream` over a ``serialx`` connection (device, socket, RFC 2217, ESPHome)."""

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: _ChunkProtocol,
        description: str,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._description = description
        self._closed = False

    @property
    def description(self) -> str:
        """The address, redacted."""
        return self._description

    async def read(self) -> bytes:
        """Up to :data:`READ_SIZE` bytes as soon as any arrived; ``b""`` at end of stream."""
        protocol = self._protocol
        buffer = protocol.buffer
        while not buffer and not protocol.ended:
            await protocol.wait()
        if buffer:
            data = bytes(buffer[:READ_SIZE])
            del buffer[:READ_SIZE]
            return data
        self._raise_if_lost()
        return b""

    async def receive(self, receiver: ChunkReceiver) -> None:
        """Hand every chunk to ``receiver`` as it arrives, in the transport's read callback."""
        protocol = self._protocol
        if protocol.buffer:
            pending = bytes(protocol.buffer)
            protocol.buffer.clear()
            receiver(pending)
        protocol.receiver = receiver
        try:
            while not protocol.ended:
                await protocol.wait()
        finally:
            protocol.receiver = None
        if protocol.receiver_error is not None:
            error, protocol.receiver_error = protocol.receiver_error, None
            protocol.ended = False  # the connection itself is still open
            raise error
        self._raise_if_lost()

    def _raise_if_lost(self) -> None:
        error = self._protocol.error
        if error is not None and not self._closed:
            raise TransportError(f"connection lost: {describe_os_error(error)}") from error

    async def write(self, data: bytes) -> None:
        """Send bytes and wait until the transport's buffer has room again."""
        if self._closed:
            raise TransportError("connection closed")
        if self._protocol.ended:
            raise TransportError("write failed: the connection is closed")
        try:
            self._transport.write(data)
            await self._protocol.drain()
        except (OSError, termios.error, serialx.SerialException, RuntimeError) as err:
            raise TransportError(f"write failed: {describe_os_error(err)}") from err

    async def close(self) -> None:
        """Close the port or socket; waits until the file descriptor is released."""
        if self._closed:
            return
        self._closed = True
        transport = self._transport
        transport.close()
        waiter = getattr(transport, "wait_closed", None)
        if waiter is None:
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await waiter()
        except TimeoutError:
            _LOGGER.debug("Closing %s timed out; aborting", self._description)
            transport.abort()
        except (OSError, serialx.SerialException) as err:
            _LOGGER.debug("Error while closing %s: %s", self._description, err)


def _serial_kwargs(settings: SerialSettings | None) -> dict[str, Any]:
    settings = settings or SerialSettings()
    return {
        "baudrate": settings.baudrate,
        "byte_size": settings.bytesize,
        "parity": serialx.Parity(settings.parity.upper()),
        "stopbits": serialx.StopBits(settings.stopbits),
        # Never 1 ms USB latency: see the module docstring. Only the Linux backend
        # takes this argument; serialx drops it for the others.
        "low_latency": False,
        # RTS raised while the port is open: it is the enable input of an NES meter's MEP
        # port. serialx's default, stated because a reader depends on it; a port without
        # modem lines (a pseudo-terminal, a raw socket) ignores it.
        "rts_on_open": serialx.PinState.HIGH,
    }


async def _open_serialx(
    url: str, serial: SerialSettings | None, connect_timeout: float
) -> SerialxStream:
    description = redact_url(url)
    scheme = url_scheme(url)
    kwargs = _serial_kwargs(serial)
    for observer in tuple(_OPEN_OBSERVERS):
        observer(url, serial or SerialSettings())
    if scheme in _SERIALX_SCHEMES:
        connect_timeout = min(connect_timeout, CONNECT_TIMEOUTS.get(scheme, connect_timeout))
        kwargs["connect_timeout"] = connect_timeout
    try:
        async with asyncio.timeout(connect_timeout + 1.0):
            loop = asyncio.get_running_loop()
            transport, protocol = await serialx.create_serial_connection(
                loop, lambda: _ChunkProtocol(loop), url, **kwargs
            )
    except serialx.UnsupportedSetting as err:
        raise TransportError(f"{description}: serial setting not supported ({err})") from err
    except serialx.SerialException as err:
        if scheme in _SCHEME_PACKAGES:
            raise TransportError(
                f"{description}: {scheme}:// needs the package {_SCHEME_PACKAGES[scheme]}"
            ) from err
        raise TransportError(f"{description}: {err}") from err
    except ValueError as err:
        raise TransportError(f"{description}: invalid address ({err})") from err
    except (OSError, termios.error) as err:
        raise TransportError(f"{description}: {describe_os_error(err)}") from err
    _LOGGER.debug("Opened %s", description)
    assert isinstance(protocol, _ChunkProtocol)
    return SerialxStream(transport, protocol, description)


async def open_stream(
    url: str,
    serial: SerialSettings | None = None,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> ByteStream:
    """Open the meter connection at ``url``; ``serial`` is the character format of serial lines.

    Raises :class:`TransportError` with a specific detail when it cannot be opened.
    """
    url = normalize_url(url)
    if not url:
        raise TransportError("no port given")
    scheme = url_scheme(url)
    opener = _OPENERS.get(scheme) if scheme is not None else None
    if opener is not None:
        return await opener(url)
    if scheme is not None and scheme != "device" and scheme not in _SERIALX_SCHEMES:
        raise TransportError(f"unsupported address type {scheme}://")
    return await _open_serialx(url, serial, connect_timeout)


async def close_quietly(stream: ByteStream | None) -> None:
    """Close a stream that may be ``None``; for ``finally`` blocks."""
    if stream is not None:
        with contextlib.suppress(Exception):
            await stream.close()

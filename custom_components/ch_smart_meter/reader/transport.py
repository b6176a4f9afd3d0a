"""One async byte stream over whatever carries the meter's bytes.

Addresses are URLs, as ``serialx`` understands them:

* a local device path: ``/dev/ttyUSB0``, ``/dev/serial/by-id/...``, a pseudo-terminal;
* ``socket://host:port`` (ser2net raw mode, ESP-Link, a Wi-Fi P1 bridge); a bare
  ``host:port`` means the same;
* ``rfc2217://host:port`` (ser2net telnet mode, remote serial settings);
* ``esphome://host[:port]/?port_name=...`` (ESPHome serial proxy; needs ``aioesphomeapi``,
  which Home Assistant's ESPHome integration installs);
* ``simulator://<standard>?interval=1&seed=1&encrypted=0``: a simulated meter in this
  process (demo, tests, the config flow's "simulated meter" choice).

Reads return what has arrived, up to :data:`READ_SIZE` bytes at once. Linux's "low
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
from typing import Any, Final, Protocol

import serialx

from .errors import TransportError
from .model import SerialSettings

_LOGGER = logging.getLogger(__name__)

# Bytes handed over by one read: a whole DSMR telegram (~1 kB) or DLMS push (~0.3 kB)
# usually fits, so the decoder runs about once per frame, not once per byte.
READ_SIZE: Final = 4096
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
CLOSE_TIMEOUT: Final = 5.0

SIMULATOR_SCHEME: Final = "simulator"
NETWORK_SCHEMES: Final = frozenset({"socket", "tcp", "rfc2217", "esphome"})
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


class ByteStream(Protocol):
    """An open connection to a meter: bytes in, bytes out."""

    @property
    def description(self) -> str:
        """The address, safe to log (secrets redacted)."""

    async def read(self) -> bytes:
        """The next bytes that arrived (at most :data:`READ_SIZE`); ``b""`` at end of stream.

        Raises :class:`TransportError` when the connection breaks.
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
    return url_scheme(normalize_url(url)) in NETWORK_SCHEMES


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


class SerialxStream:
    """A :class:`ByteStream` over a ``serialx`` connection (device, socket, RFC 2217, ESPHome)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        description: str,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._description = description
        self._closed = False

    @property
    def description(self) -> str:
        """The address, redacted."""
        return self._description

    async def read(self) -> bytes:
        """Up to :data:`READ_SIZE` bytes as soon as any arrived; ``b""`` at end of stream."""
        try:
            return await self._reader.read(READ_SIZE)
        except (OSError, termios.error, serialx.SerialException) as err:
            raise TransportError(f"connection lost: {describe_os_error(err)}") from err

    async def write(self, data: bytes) -> None:
        """Send bytes and wait until the transport's buffer has room again."""
        if self._closed:
            raise TransportError("connection closed")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, termios.error, serialx.SerialException, RuntimeError) as err:
            raise TransportError(f"write failed: {describe_os_error(err)}") from err

    async def close(self) -> None:
        """Close the port or socket; waits until the file descriptor is released."""
        if self._closed:
            return
        self._closed = True
        transport = self._writer.transport
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
    }


async def _open_serialx(
    url: str, serial: SerialSettings | None, connect_timeout: float
) -> SerialxStream:
    description = redact_url(url)
    scheme = url_scheme(url)
    kwargs = _serial_kwargs(serial)
    if scheme in NETWORK_SCHEMES:
        kwargs["connect_timeout"] = connect_timeout
    try:
        async with asyncio.timeout(connect_timeout + 1.0):
            reader, writer = await serialx.open_serial_connection(url, **kwargs)
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
    return SerialxStream(reader, writer, description)


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
    if scheme == SIMULATOR_SCHEME:
        # Built in a worker thread: the first simulated meter imports its encoder modules,
        # and an import must not block the caller's event loop.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _open_simulated_stream, url)
    if scheme is not None and scheme != "device" and scheme not in NETWORK_SCHEMES:
        raise TransportError(f"unsupported address type {scheme}://")
    return await _open_serialx(url, serial, connect_timeout)


async def close_quietly(stream: ByteStream | None) -> None:
    """Close a stream that may be ``None``; for ``finally`` blocks."""
    if stream is not None:
        with contextlib.suppress(Exception):
            await stream.close()


def _open_simulated_stream(url: str) -> ByteStream:
    # Imported here: the simulators import the standards, which do not need them.
    from .simulate.stream import open_simulated_stream  # noqa: PLC0415

    return open_simulated_stream(url)

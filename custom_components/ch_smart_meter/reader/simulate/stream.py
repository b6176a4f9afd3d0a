"""The ``simulator://`` transport: a simulated meter inside this process, no hardware.

``simulator://<standard>?interval=1&seed=1&encrypted=0`` with optional ``key=<hex>``
(implies encrypted; without it an encrypted simulator uses the public :data:`DEMO_KEY`),
``auth_key=<hex>``, ``acceleration=60`` (simulated seconds per second) and
``start=<ISO 8601>`` (simulated time of the first frame). DSMR only: ``submeters=gas,water``
(M-Bus sub-meters on channels 1, 2, ...: gas, water, heat) and ``tariff=7-21`` (the high
tariff every day from 07:00 to 21:00 Swiss time). The stream is a
:class:`~..transport.ByteStream` like a serial port: reads return the meter's frames as
they fall due; writes reach the simulated meter (polled standards answer them).
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from ..errors import InvalidKey, TransportError
from ..model import Standard
from ..standards import get_spec
from ..transport import READ_SIZE, ChunkReceiver, receive_by_reading, redact_url, register_opener
from .meters import available_standards, create_source
from .source import DEMO_KEY, Simulator, SourceOptions
from .submeters import KINDS as SUBMETER_KINDS

SCHEME: Final = "simulator"

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})
_KNOWN_PARAMETERS: Final = frozenset(
    {
        "interval",
        "seed",
        "encrypted",
        "key",
        "auth_key",
        "acceleration",
        "start",
        "submeters",
        "tariff",
    }
)
# Parameters only the simulated DSMR meter understands.
_DSMR_PARAMETERS: Final = frozenset({"submeters", "tariff"})
_MAX_CHANNELS: Final = 4  # DSMR's M-Bus channels


@dataclass(frozen=True, slots=True)
class SimulatorUrl:
    """The parts of a ``simulator://`` address."""

    standard: Standard
    interval: float = 1.0
    seed: int = 1
    # Secrets: never in a repr (logs, test failure output).
    key: bytes | None = field(default=None, repr=False)
    authentication_key: bytes | None = field(default=None, repr=False)
    acceleration: float = 1.0
    start: datetime | None = None
    submeters: tuple[str, ...] = ()
    tariff_hours: tuple[int, int] | None = None

    def source_options(self) -> SourceOptions:
        """The options of the simulated meter."""
        return SourceOptions(
            seed=self.seed,
            key=self.key,
            authentication_key=self.authentication_key,
            submeters=self.submeters,
            tariff_hours=self.tariff_hours,
        )


def simulator_url(
    standard: Standard | str,
    *,
    interval: float = 1.0,
    seed: int = 1,
    encrypted: bool = False,
    acceleration: float | None = None,
    submeters: Sequence[str] = (),
    tariff_hours: tuple[int, int] | None = None,
) -> str:
    """The address of a simulated meter (without key: an encrypted one uses the demo key);
    parameters at their defaults are left out (``simulator://dsmr``)."""
    query: dict[str, str] = {}
    if interval != 1.0:
        query["interval"] = f"{interval:g}"
    if seed != 1:
        query["seed"] = str(seed)
    if encrypted:
        query["encrypted"] = "1"
    if acceleration is not None:
        query["acceleration"] = f"{acceleration:g}"
    if submeters:
        query["submeters"] = ",".join(submeters)
    if tariff_hours is not None:
        query["tariff"] = f"{tariff_hours[0]}-{tariff_hours[1]}"
    address = f"{SCHEME}://{Standard(standard).value}"
    return f"{address}?{urllib.parse.urlencode(query)}" if query else address


def _number[T](parameters: dict[str, str], name: str, kind: Callable[[str], T], default: T) -> T:
    if name not in parameters:
        return default
    try:
        return kind(parameters[name])
    except ValueError as err:
        raise TransportError(f"simulator: {name} must be a number") from err


def parse_simulator_url(url: str) -> SimulatorUrl:
    """Read a ``simulator://`` address; raises :class:`TransportError` when it is wrong."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != SCHEME:
        raise TransportError("not a simulator:// address")
    name = (parts.netloc or parts.path.strip("/")).lower()
    try:
        standard = Standard(name)
    except ValueError as err:
        raise TransportError(f"simulator: unknown standard {name!r}") from err
    if standard not in available_standards():
        names = ", ".join(s.value for s in available_standards())
        raise TransportError(f"simulator: no simulated {standard.value} meter (available: {names})")

    parameters = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(parameters) - _KNOWN_PARAMETERS)
    if unknown:
        raise TransportError(f"simulator: unknown parameter {', '.join(unknown)}")
    interval = _number(parameters, "interval", float, 1.0)
    acceleration = _number(parameters, "acceleration", float, 1.0)
    seed = _number(parameters, "seed", int, 1)
    if not (interval > 0 and acceleration > 0):
        raise TransportError("simulator: interval and acceleration must be positive")

    encrypted_text = parameters.get("encrypted", "0").lower()
    if encrypted_text not in _TRUE | _FALSE:
        raise TransportError("simulator: encrypted must be 0 or 1")
    parse_key = get_spec(standard).parse_key
    try:
        key = parse_key(parameters.get("key"))
        authentication_key = parse_key(parameters.get("auth_key"))
    except InvalidKey as err:
        raise TransportError(f"simulator: {err.message}") from err
    if key is None and encrypted_text in _TRUE:
        key = DEMO_KEY

    start = None
    if "start" in parameters:
        try:
            # A "+" of the UTC offset arrives as a space when not percent-encoded.
            start = datetime.fromisoformat(parameters["start"].replace(" ", "+"))
        except ValueError as err:
            raise TransportError("simulator: start must be an ISO 8601 time") from err
        if start.tzinfo is None:
            raise TransportError("simulator: start needs a UTC offset")
    dsmr_only = sorted(_DSMR_PARAMETERS & set(parameters))
    if dsmr_only and standard is not Standard.DSMR:
        raise TransportError(f"simulator: {', '.join(dsmr_only)} only for dsmr")
    return SimulatorUrl(
        standard,
        interval,
        seed,
        key,
        authentication_key,
        acceleration,
        start,
        _submeters(parameters.get("submeters", "")),
        _tariff_hours(parameters.get("tariff")),
    )


def _submeters(text: str) -> tuple[str, ...]:
    kinds = tuple(kind.strip().lower() for kind in text.split(",") if kind.strip())
    unknown = sorted(set(kinds) - set(SUBMETER_KINDS))
    if unknown:
        names = ", ".join(SUBMETER_KINDS)
        raise TransportError(f"simulator: unknown sub-meter {', '.join(unknown)} (known: {names})")
    if len(kinds) > _MAX_CHANNELS:
        raise TransportError(f"simulator: at most {_MAX_CHANNELS} sub-meters")
    return kinds


def _tariff_hours(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    first, dash, last = text.partition("-")
    try:
        hours = (int(first), int(last))
    except ValueError:
        hours = (0, 0)
    if not dash or not 0 <= hours[0] < hours[1] <= 24:
        raise TransportError("simulator: tariff must be hours like 7-21 (high tariff from-until)")
    return hours


class SimulatedStream:
    """A :class:`ByteStream` reading from an in-process :class:`Simulator`."""

    def __init__(self, simulator: Simulator, description: str) -> None:
        self.simulator = simulator
        self._description = description
        self._pending = bytearray()
        self._wakeup = asyncio.Event()
        self._closed = False

    @property
    def description(self) -> str:
        """The address, redacted."""
        return self._description

    async def read(self) -> bytes:
        """The next frame when it falls due (answers to writes first); ``b""`` once closed."""
        while not self._closed:
            if self._pending:
                chunk = bytes(self._pending[:READ_SIZE])
                del self._pending[:READ_SIZE]
                return chunk
            delay = self.simulator.due_in()
            if delay <= 0:
                self._pending += self.simulator.next_frame()
                continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()
        return b""

    async def receive(self, receiver: ChunkReceiver) -> None:
        """Hand each frame to ``receiver`` when it falls due, until closed."""
        await receive_by_reading(self, receiver)

    async def write(self, data: bytes) -> None:
        """Hand a request to the simulated meter; its answer is read next."""
        if self._closed:
            raise TransportError("connection closed")
        if answer := self.simulator.respond(bytes(data)):
            self._pending += answer
            self._wakeup.set()

    async def close(self) -> None:
        """End the stream: a pending read returns ``b""``."""
        self._closed = True
        self._wakeup.set()


def open_simulated_stream(url: str) -> SimulatedStream:
    """Start the simulated meter of a ``simulator://`` address."""
    parsed = parse_simulator_url(url)
    source = create_source(parsed.standard, parsed.source_options())
    simulator = Simulator(
        source,
        interval=parsed.interval,
        acceleration=parsed.acceleration,
        start=parsed.start,
    )
    return SimulatedStream(simulator, redact_url(url))


async def _open(url: str) -> SimulatedStream:
    return open_simulated_stream(url)


# Importing this module makes simulator:// addresses open like any port.
register_opener(SCHEME, _open)

"""What a standard is made of: its serial formats, its decoder and how its data is carried.

Every standard of the registry (:mod:`.standards`) is one :class:`StandardSpec`. The rest
of the system (session, command-line tool, Home Assistant) reads these fields instead of
asking which standard it is dealing with.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .dlms.cipher import parse_key
from .model import DecodeResult, SerialSettings, Standard
from .polling import Poller

SWISS_TIME = ZoneInfo("Europe/Zurich")
# StandardSpec.max_power of standards whose meters include transformer (CT) meters, in kW.
CT_METER_MAX_POWER = 5000.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DecoderOptions:
    """What a decoder needs besides the bytes.

    ``timezone`` localises meter times sent without an offset (DLMS deviation "not
    specified"); ``clock`` stamps readings whose frame carries no time at all;
    ``profile`` overrides the meter profile detection (DLMS). ``arrival_clock`` is a
    monotonic clock (seconds) read when a chunk arrives: a live session sets it, so that
    a silence on the line ends an unfinished frame or message (a meter sends one push
    back to back, and pushes seconds apart); without it (captures) silence is unknown.
    ``source_in_base_units`` (CH-SMR only) states that the reader whose messages are read
    publishes W, Wh, var and varh instead of the recommendation's kW, kWh, kvar and kvarh.
    """

    # Secrets: never in a repr (logs, diagnostics, test failure output).
    encryption_key: bytes | None = field(default=None, repr=False)
    authentication_key: bytes | None = field(default=None, repr=False)
    timezone: tzinfo = SWISS_TIME
    profile: str | None = None
    clock: Callable[[], datetime] = field(default=_utc_now)
    arrival_clock: Callable[[], float] | None = None
    source_in_base_units: bool = False

    def live(self) -> DecoderOptions:
        """These options for a decoder fed as the bytes arrive (a session, the live
        check): with the monotonic clock as arrival clock, unless one is set."""
        if self.arrival_clock is not None:
            return self
        return replace(self, arrival_clock=time.monotonic)


class StreamDecoder(Protocol):
    """Bytes in, readings and rejected frames out; independent of how the bytes arrive."""

    def feed(self, data: bytes) -> list[DecodeResult]:
        """Consume a chunk of the byte stream; return what it completed, in order."""

    def flush(self) -> list[DecodeResult]:
        """End of input: report a pending incomplete frame (as truncated) and clear it."""

    def reset(self) -> None:
        """Forget partial frames (after a reconnect)."""

    def diagnostics(self) -> dict[str, Any]:
        """What the decoder learned about the meter (layout, profile), for diagnostics."""


class Carrier(StrEnum):
    """How a standard's data reaches the reader."""

    BYTE_STREAM = "byte_stream"  # a serial line or a network serial server
    MQTT = "mqtt"  # messages on an MQTT broker (CH-SMR)


@dataclass(frozen=True, slots=True)
class SerialPreset:
    """A named character format, e.g. the L&G CII over an M-Bus slave adapter, 2400 8E1.

    ``id`` is stable (configuration, translations); ``name`` is the English label.
    """

    id: str
    name: str
    settings: SerialSettings


@dataclass(frozen=True, slots=True)
class Profile:
    """A meter model whose scaling or layout the decoder knows (used as an override option)."""

    id: str
    title: str


@dataclass(frozen=True, slots=True)
class StandardSpec:
    """Everything the rest of the system needs to know about one standard."""

    standard: Standard
    title: str  # as the Swiss recommendation names it, e.g. "P1 DSMR 5.0.2"
    interval: float  # normal seconds between two readings; silence > 3x => unavailable
    create_decoder: Callable[[DecoderOptions], StreamDecoder]
    carrier: Carrier = Carrier.BYTE_STREAM
    # Character formats offered for this standard, the default first; empty where the
    # standard has no serial line (CH-SMR).
    serial_presets: tuple[SerialPreset, ...] = ()
    supports_encryption: bool = False
    # A grid operator may hand out an authentication key (GAK) besides the encryption key:
    # a user interface asks for one only where this is true.
    supports_authentication_key: bool = False
    description: str = ""
    # Meter models the user may force instead of automatic detection (DLMS); empty if none.
    profiles: tuple[Profile, ...] = ()
    # What one unit of data is called in messages to the user ("rejected frame: ...").
    frame_noun: str = "frame"
    # Captures of this standard are text (messages, dialogues), never hex-encoded bytes.
    text_captures: bool = False
    # Reads a key as the grid operator hands it out; None for an empty field; raises
    # InvalidKey. The usual form: 32 hexadecimal digits (AES-128).
    parse_key: Callable[[str | None], bytes | None] = parse_key
    # Polled standards (KMP, MEP): makes the poller of one reading cycle for a line of the
    # given character format (its timeouts follow from it; None: unknown, assume the
    # slowest); None for push standards, whose meters talk on their own.
    create_poller: Callable[[DecoderOptions, SerialSettings | None], Poller] | None = None
    # Polled standards: the shortest poll interval the meter allows, in seconds.
    min_poll_interval: float = 1.0
    # The most power a meter of this standard can measure, in kW: a generous bound for a
    # direct (household) connection, larger for standards with transformer (CT) meters.
    # An energy register that leaps beyond what this power could count is held back.
    max_power: float = 250.0

    @property
    def polled(self) -> bool:
        """Whether the reader asks and the meter answers (KMP, MEP)."""
        return self.create_poller is not None

    @property
    def serial(self) -> SerialSettings | None:
        """The default character format."""
        return self.serial_presets[0].settings if self.serial_presets else None

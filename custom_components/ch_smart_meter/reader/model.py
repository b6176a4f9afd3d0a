"""The data model shared by every standard: what a decoder produces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .errors import FrameError


class Standard(StrEnum):
    """The customer-interface standards of the Swiss recommendation (Table 3), plus CH-SMR.

    The values are the ids used everywhere: configuration, command line, diagnostics.
    """

    DSMR = "dsmr"
    P1_DLMS = "p1-dlms"
    LG_MBUS = "lg-mbus"
    KAMSTRUP_DLMS = "kamstrup-dlms"
    KMP = "kmp"
    MEP = "mep"
    CH_SMR = "ch-smr"


class TimeSource(StrEnum):
    """Where the reading's timestamp came from."""

    METER = "meter"
    HOST = "host"


@dataclass(frozen=True, slots=True)
class Reading:
    """One complete set of values from one meter at one moment.

    ``values`` maps partial OBIS codes (C.D.E, e.g. ``"1.8.0"``) to numbers in the units of
    Tables 1 and 2 of the recommendation (kWh, kW, V, A, kvarh, kvar), already scaled.
    ``meter_id`` is the value of ``id_obis`` (``"96.1.1"`` or ``"42.0.0"``).
    """

    timestamp: datetime
    meter_id: str
    values: Mapping[str, float]
    id_obis: str = "96.1.1"
    time_source: TimeSource = TimeSource.METER
    manufacturer: str | None = None
    model: str | None = None
    # The bytes of the frame this reading came from: for diagnostics only.
    frame: bytes = field(default=b"", compare=False, repr=False)
    # Things the user should know about how this reading was obtained (e.g. "the encryption
    # and authentication keys were swapped"); never key material.
    notices: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise ValueError("Reading.timestamp must be timezone-aware")


@dataclass(frozen=True, slots=True)
class RejectedFrame:
    """A frame that arrived but gave no reading, and why."""

    error: FrameError
    frame: bytes = field(default=b"", repr=False)
    # Where the frame was in the input, in the user's terms, when the decoder knows it
    # (e.g. "line 3" of a capture of messages).
    position: str | None = field(default=None, compare=False)


type DecodeResult = Reading | RejectedFrame


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Character format of a serial line."""

    baudrate: int = 115200
    bytesize: int = 8
    parity: str = "N"  # "N", "E" or "O"
    stopbits: float = 1

    def describe(self) -> str:
        """The usual short notation, e.g. ``115200 8N1``."""
        stop = int(self.stopbits) if float(self.stopbits).is_integer() else self.stopbits
        return f"{self.baudrate} {self.bytesize}{self.parity}{stop}"

    def character_bits(self) -> float:
        """Bits on the wire per byte: start bit, data bits, parity bit, stop bits."""
        return 1 + self.bytesize + (self.parity.upper() != "N") + float(self.stopbits)

    def wire_seconds(self, byte_count: int) -> float:
        """How long ``byte_count`` bytes take on the wire."""
        return byte_count * self.character_bits() / self.baudrate

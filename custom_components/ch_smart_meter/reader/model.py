"""The data model shared by every standard: what a decoder produces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

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


class SubMeterKind(StrEnum):
    """What a sub-meter on the meter's M-Bus measures.

    ``COLD`` is cooling energy (a cooling load meter), not cold water: cold water is water.
    """

    GAS = "gas"
    WATER = "water"
    HEAT = "heat"
    COLD = "cold"
    ELECTRICITY = "electricity"
    UNKNOWN = "unknown"


# EN 13757-3 device type (medium) codes, as DSMR sends them in 0-n:24.1.0 and DLMS in the
# M-Bus client's device type. Heat and cooling meters come in two codes each, by where the
# volume is measured (outlet or inlet); 0x0D (heat and cooling in one) and everything not
# listed stay UNKNOWN, with the code kept in the reading.
DEVICE_KINDS: Final[Mapping[int, SubMeterKind]] = MappingProxyType(
    {
        0x02: SubMeterKind.ELECTRICITY,
        0x03: SubMeterKind.GAS,
        0x04: SubMeterKind.HEAT,  # volume measured at the return (outlet)
        0x0C: SubMeterKind.HEAT,  # volume measured at the flow (inlet)
        0x0A: SubMeterKind.COLD,  # cooling load meter, outlet
        0x0B: SubMeterKind.COLD,  # cooling load meter, inlet
        0x06: SubMeterKind.WATER,  # warm water
        0x07: SubMeterKind.WATER,
        0x15: SubMeterKind.WATER,  # hot water
        0x16: SubMeterKind.WATER,  # cold water
        0x17: SubMeterKind.WATER,  # dual register (hot/cold) water
    }
)

# The units a sub-meter value is given in (decoders convert Wh, MWh, MJ, litres to these).
CUBIC_METRE: Final = "m³"
KILOWATT_HOUR: Final = "kWh"
GIGAJOULE: Final = "GJ"


def submeter_kind(device_type: int | None) -> SubMeterKind:
    """The kind of an EN 13757-3 device type code (``None``: not sent)."""
    if device_type is None:
        return SubMeterKind.UNKNOWN
    return DEVICE_KINDS.get(device_type, SubMeterKind.UNKNOWN)


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")


@dataclass(frozen=True, slots=True)
class SubMeterReading:
    """The last value of a meter on the electricity meter's M-Bus (gas, water, heat, ...).

    ``timestamp`` is the value's own capture time (a gas meter reports every 5 minutes or
    every hour): it says when the value changed, not when the telegram was sent. ``value``
    is in ``unit`` (m³, kWh or GJ; ``None`` when the meter states no unit). ``code`` is the
    partial OBIS code of the value (24.2.1, or 24.2.3 for the Belgian gas volume that is not
    temperature-corrected). ``meter_id`` is the sub-meter's own identifier, if it sends one.
    """

    channel: int
    kind: SubMeterKind
    value: float
    unit: str | None
    timestamp: datetime
    meter_id: str | None = None
    device_type: int | None = None
    code: str = "24.2.1"

    def __post_init__(self) -> None:
        _require_aware(self.timestamp, "SubMeterReading.timestamp")


@dataclass(frozen=True, slots=True)
class PowerFailure:
    """One entry of the meter's long power failure log (1-0:99.97.0): for diagnostics."""

    end: datetime
    duration_s: int

    def __post_init__(self) -> None:
        _require_aware(self.end, "PowerFailure.end")


@dataclass(frozen=True, slots=True)
class Reading:
    """One complete set of values from one meter at one moment.

    ``values`` maps partial OBIS codes (C.D.E, e.g. ``"1.8.0"``) to numbers in the units of
    Tables 1 and 2 of the recommendation (kWh, kW, V, A, kvarh, kvar), already scaled.
    ``meter_id`` is the value of ``id_obis`` (``"96.1.1"`` or ``"42.0.0"``).

    What is not a number of the electricity meter has its own typed place, empty when the
    meter sends none: ``submeters`` (gas, water, heat meters on its M-Bus, each with its own
    id, unit and time), ``text`` (the text and code messages 96.13.x, decoded, keyed by
    partial OBIS) and ``events`` (the long power failure log, for diagnostics).
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
    submeters: tuple[SubMeterReading, ...] = ()
    text: Mapping[str, str] = field(default_factory=dict)
    events: tuple[PowerFailure, ...] = ()

    def __post_init__(self) -> None:
        _require_aware(self.timestamp, "Reading.timestamp")


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

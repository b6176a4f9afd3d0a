"""Build DSMR 5.0.2 P1 telegrams and Smarty envelopes: the encoder side, for simulators and tests.

This module never shares code with the decoder (``standards/dsmr.py``): a mistake in one
cannot hide behind the same mistake in the other. It writes the object lines in the field
widths of the DSMR 5.0.2 P1 companion standard (energies F9(3), powers F5(3), voltages F4(1),
currents F3(0): integer amps), in the order of that standard, and the CRC-16/ARC over
``/`` .. ``!``. Values are given in the CH-SMR units (kWh, kW, V, A, kvarh, kvar) as
``Decimal``, ``int``, ``str`` or ``float``; they are rounded half-up to the resolution of the
line (so a current of 4.6 A is written ``005*A``, as a real 5.0.2 meter does).

M-Bus sub-meters (gas, water, heat) are written per channel as a DSMR 5.0.2 meter does:
``0-n:24.1.0(type)``, ``0-n:96.1.0(hex id)``, ``0-n:24.2.1(capture time)(value*unit)``.

``encrypt_smarty`` wraps a telegram in the Luxembourg "Smarty" envelope: a raw DLMS
general-glo-ciphering APDU (security control 0x30, AES-128-GCM, 12-byte tag).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..crc import crc16_arc
from ..dlms.cipher import SMARTY_AUTHENTICATION_KEY

type Number = Decimal | int | float | str

SWISS_TIME = ZoneInfo("Europe/Zurich")
DEFAULT_IDENTIFICATION = "ISK5\\2M550T-1012"
DEFAULT_EQUIPMENT_ID = "E0025000000000000"
DEFAULT_GAS_ID = "G0012345678901234"

_SECURITY_CONTROL = 0x30  # authenticated and encrypted, suite 0
_TAG_LENGTH = 12


@dataclass(frozen=True, slots=True)
class _LineFormat:
    """How one electricity object is written: ``<reference>(<digits>.<decimals>*<unit>)``."""

    reference: str
    integer_digits: int
    decimals: int
    unit: str


def _energy(reference: str, unit: str = "kWh") -> _LineFormat:
    return _LineFormat(reference, 6, 3, unit)


def _power(reference: str, unit: str = "kW") -> _LineFormat:
    return _LineFormat(reference, 2, 3, unit)


# Keyed by partial OBIS code; the order is the order of the lines in the telegram.
LINE_FORMATS: dict[str, _LineFormat] = {
    "1.8.0": _energy("1-0:1.8.0"),
    "1.8.1": _energy("1-0:1.8.1"),
    "1.8.2": _energy("1-0:1.8.2"),
    "2.8.0": _energy("1-0:2.8.0"),
    "2.8.1": _energy("1-0:2.8.1"),
    "2.8.2": _energy("1-0:2.8.2"),
    "3.8.0": _energy("1-0:3.8.0", "kvarh"),
    "4.8.0": _energy("1-0:4.8.0", "kvarh"),
    # 0-0:96.14.0 (tariff) goes here.
    "1.7.0": _power("1-0:1.7.0"),
    "2.7.0": _power("1-0:2.7.0"),
    "3.7.0": _power("1-0:3.7.0", "kvar"),
    "4.7.0": _power("1-0:4.7.0", "kvar"),
    # Power failure and sag/swell counters, text message go here.
    "32.7.0": _LineFormat("1-0:32.7.0", 3, 1, "V"),
    "52.7.0": _LineFormat("1-0:52.7.0", 3, 1, "V"),
    "72.7.0": _LineFormat("1-0:72.7.0", 3, 1, "V"),
    "31.7.0": _LineFormat("1-0:31.7.0", 3, 0, "A"),
    "51.7.0": _LineFormat("1-0:51.7.0", 3, 0, "A"),
    "71.7.0": _LineFormat("1-0:71.7.0", 3, 0, "A"),
    "21.7.0": _power("1-0:21.7.0"),
    "41.7.0": _power("1-0:41.7.0"),
    "61.7.0": _power("1-0:61.7.0"),
    "22.7.0": _power("1-0:22.7.0"),
    "42.7.0": _power("1-0:42.7.0"),
    "62.7.0": _power("1-0:62.7.0"),
    "23.7.0": _power("1-0:23.7.0", "kvar"),
    "43.7.0": _power("1-0:43.7.0", "kvar"),
    "63.7.0": _power("1-0:63.7.0", "kvar"),
    "24.7.0": _power("1-0:24.7.0", "kvar"),
    "44.7.0": _power("1-0:44.7.0", "kvar"),
    "64.7.0": _power("1-0:64.7.0", "kvar"),
}
_TARIFF_AFTER = "4.8.0"  # the tariff line follows the energy registers
_STATUS_AFTER = "4.7.0"  # failure counters and text message follow the powers

# The counters ``status_lines`` writes (those of the dsmr-reader DSMR 5 example), by
# partial OBIS code, with their references.
STATUS_COUNTERS: dict[str, int] = {
    "96.7.21": 4,
    "96.7.9": 2,
    "32.32.0": 2,
    "52.32.0": 1,
    "72.32.0": 0,
    "32.36.0": 0,
    "52.36.0": 3,
    "72.36.0": 0,
}
_STATUS_REFERENCES = {"96.7.21": "0-0:96.7.21", "96.7.9": "0-0:96.7.9"}
# The failure log that ``status_lines`` writes after the failure counters.
STATUS_FAILURE_LOG = "1-0:99.97.0(1)(0-0:96.7.19)(101208152415W)(0000000240*s)"

# EN 13757-3 device types of the sub-meters the encoder writes.
GAS, HEAT, WATER = 3, 4, 7


@dataclass(frozen=True, slots=True)
class MbusChannel:
    """One sub-meter on M-Bus channel ``channel`` (1-4): its last value and capture time.

    ``value`` is in ``unit`` as written (``m3``, ``GJ``, ``kWh``), with ``decimals``
    decimals after at least five integer digits; ``captured`` must be aware.
    """

    channel: int
    device_type: int
    meter_id: str
    value: Number
    captured: datetime
    unit: str = "m3"
    decimals: int = 3
    code: str = "24.2.1"  # 24.2.3: the Belgian gas volume


def mbus_lines(channel: MbusChannel) -> list[str]:
    """The three lines of one M-Bus channel."""
    prefix = f"0-{channel.channel}:"
    quantum = Decimal(1).scaleb(-channel.decimals)
    value = _decimal(channel.value).quantize(quantum, rounding=ROUND_HALF_UP)
    width = 5 + (channel.decimals + 1 if channel.decimals else 0)
    return [
        f"{prefix}24.1.0({channel.device_type:03d})",
        f"{prefix}96.1.0({hex_text(channel.meter_id)})",
        f"{prefix}{channel.code}({timestamp_text(channel.captured)})"
        f"({value:0{width}f}*{channel.unit})",
    ]


def _decimal(value: Number) -> Decimal:
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest decimal that reads back as this float
    return Decimal(value)


def format_line(code: str, value: Number) -> str:
    """One object line (without CRLF), e.g. ``format_line("1.7.0", "1.193")`` ->
    ``1-0:1.7.0(01.193*kW)``. Raises ``KeyError`` for codes the encoder does not know and
    ``ValueError`` for negative or non-finite values (DSMR registers are unsigned)."""
    fmt = LINE_FORMATS[code]
    number = _decimal(value)
    if not number.is_finite() or number < 0:
        raise ValueError(f"{code}: DSMR values are finite and non-negative, got {value!r}")
    quantum = Decimal(1).scaleb(-fmt.decimals)
    rounded = number.quantize(quantum, rounding=ROUND_HALF_UP)
    width = fmt.integer_digits + (fmt.decimals + 1 if fmt.decimals else 0)
    return f"{fmt.reference}({rounded:0{width}f}*{fmt.unit})"


def timestamp_text(moment: datetime) -> str:
    """``YYMMDDhhmmssX`` with X = ``S`` (summer, UTC+2) or ``W`` (winter, UTC+1).

    An aware time whose offset is neither is first converted to Swiss time.
    """
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("the telegram timestamp must be timezone-aware")
    if offset not in (timedelta(hours=1), timedelta(hours=2)):
        moment = moment.astimezone(SWISS_TIME)
        offset = moment.utcoffset()
    flag = "S" if offset == timedelta(hours=2) else "W"
    return f"{moment:%y%m%d%H%M%S}{flag}"


def hex_text(text: str) -> str:
    """COSEM octet strings are sent hex encoded: ``"E00"`` -> ``"453030"``."""
    return text.encode("latin-1").hex().upper()


def encode_telegram(
    values: Mapping[str, Number],
    *,
    timestamp: datetime,
    equipment_id: str = DEFAULT_EQUIPMENT_ID,
    tariff: int = 1,
    identification: str = DEFAULT_IDENTIFICATION,
    version: str | None = "50",
    status_lines: bool = True,
    extra_lines: Sequence[str] = (),
    gas_m3: Number | None = None,
    gas_timestamp: datetime | None = None,
    gas_id: str = DEFAULT_GAS_ID,
    submeters: Sequence[MbusChannel] = (),
    crc: bool = True,
) -> bytes:
    """A complete DSMR 5.0.2 telegram, ``/`` to ``!CCCC\\r\\n``.

    ``values`` maps partial OBIS codes of :data:`LINE_FORMATS` to numbers in CH-SMR units;
    only the codes present become lines (a single-phase meter simply omits L2/L3), in the
    order of the standard. ``timestamp`` must be aware (see :func:`timestamp_text`).
    ``version=None`` omits the ``1-3:0.2.8`` line; ``equipment_id=""`` omits ``0-0:96.1.1``;
    ``status_lines`` adds the power-failure, sag/swell and text-message objects a real meter
    sends; ``extra_lines`` (without CRLF) are inserted before the M-Bus objects; ``gas_m3``
    adds an M-Bus channel 1 gas meter (captured at the last 5-minute mark unless
    ``gas_timestamp`` says otherwise); ``submeters`` adds the given M-Bus channels after it;
    ``crc=False`` ends the telegram with a bare ``!`` as DSMR 2.2/3 meters do.
    """
    unknown = sorted(set(values) - set(LINE_FORMATS))
    if unknown:
        raise KeyError(f"no DSMR line format for {', '.join(unknown)}")
    lines = [f"/{identification}", ""]
    if version is not None:
        lines.append(f"1-3:0.2.8({version})")
    lines.append(f"0-0:1.0.0({timestamp_text(timestamp)})")
    if equipment_id:
        lines.append(f"0-0:96.1.1({hex_text(equipment_id)})")
    for code in LINE_FORMATS:
        if code in values:
            lines.append(format_line(code, values[code]))
        if code == _TARIFF_AFTER:
            lines.append(f"0-0:96.14.0({tariff:04d})")
        elif code == _STATUS_AFTER and status_lines:
            for counter, count in STATUS_COUNTERS.items():
                reference = _STATUS_REFERENCES.get(counter, f"1-0:{counter}")
                lines.append(f"{reference}({count:05d})")
                if counter == "96.7.9":
                    lines.append(STATUS_FAILURE_LOG)
            lines.append("0-0:96.13.0()")
    lines.extend(extra_lines)
    channels = list(submeters)
    if gas_m3 is not None:
        gas_time = gas_timestamp or timestamp.replace(
            minute=timestamp.minute - timestamp.minute % 5, second=0, microsecond=0
        )
        channels.insert(0, MbusChannel(1, GAS, gas_id, gas_m3, gas_time))
    for channel in channels:
        lines.extend(mbus_lines(channel))
    body = ("\r\n".join(lines) + "\r\n!").encode("latin-1")
    if not crc:
        return body + b"\r\n"
    return body + f"{crc16_arc(body):04X}\r\n".encode("ascii")


def encrypt_smarty(
    telegram: bytes,
    key: bytes,
    system_title: bytes,
    counter: int,
    authentication_key: bytes = SMARTY_AUTHENTICATION_KEY,
) -> bytes:
    """Wrap a telegram as a Smarty general-glo-ciphering APDU.

    ``DB 08 <system title> 82 <length, 2 bytes> 30 <counter, 4 bytes> <ciphertext> <tag, 12>``;
    AES-128-GCM with IV = system title || counter and AAD = 0x30 || authentication key.
    """
    if len(key) != 16 or len(authentication_key) != 16:
        raise ValueError("the encryption and authentication keys are 16 bytes")
    if len(system_title) != 8:
        raise ValueError("the system title is 8 bytes")
    if not 0 <= counter <= 0xFFFFFFFF:
        raise ValueError("the invocation counter is an unsigned 32-bit number")
    invocation = counter.to_bytes(4, "big")
    aad = bytes((_SECURITY_CONTROL,)) + authentication_key
    sealed = AESGCM(key).encrypt(system_title + invocation, telegram, aad)
    # GCM tags may be truncated: the 12-byte tag is the first 12 bytes of the full one.
    ciphertext, tag = sealed[: len(telegram)], sealed[len(telegram) : len(telegram) + _TAG_LENGTH]
    content = bytes((_SECURITY_CONTROL,)) + invocation + ciphertext + tag
    if len(content) > 0xFFFF:
        raise ValueError("telegram too long for a Smarty envelope")
    return b"\xdb\x08" + system_title + b"\x82" + len(content).to_bytes(2, "big") + content

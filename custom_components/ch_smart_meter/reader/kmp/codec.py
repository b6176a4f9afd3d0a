"""Kamstrup Meter Protocol (KMP): frames, numbers, unit codes and the three read commands.

Our own codec, not PyKMP's: PyKMP 0.0.2 undoes the byte stuffing with one ``replace`` per
escape sequence, so an escaped 0x1B followed by F9, F2, BF or 7F comes out wrong and a valid
answer fails its CRC, and it logs the raw frame at ERROR on every CRC failure; what it would
save is about a hundred lines, for two more requirements (attrs, crc) on every user.

A frame is ``start | stuffed body | 0x0D``, start 0x80 towards the meter and 0x40 from it.
The body is destination address (0x3F: the meter) | command id | data | CRC-16/XMODEM, sent
big-endian, over address, command and data. Inside the body 0x06, 0x0D, 0x1B, 0x40 and 0x80
travel as 0x1B followed by the byte XOR 0xFF, so a start or stop byte never occurs inside a
frame and a reader resynchronises on the next start byte. A bare 0x06 acknowledges a write
command; the reader never sends one.

A number is ``length n | sign and exponent | mantissa (n bytes, big-endian, unsigned)``: bit
7 of the middle byte is the sign of the mantissa, bit 6 the sign of the exponent, bits 0-5 the
exponent, so value = ±mantissa x 10^±exponent, an exact decimal (:class:`~..numbers.Exact`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from ..crc import crc16_xmodem
from ..errors import CrcError, MalformedFrame, TruncatedFrame
from ..numbers import Exact

REQUEST_START: Final = 0x80
RESPONSE_START: Final = 0x40
STOP: Final = 0x0D
ACK: Final = 0x06
ESCAPE: Final = 0x1B
STUFFED: Final = frozenset({ACK, STOP, ESCAPE, RESPONSE_START, REQUEST_START})
STARTS: Final = frozenset({REQUEST_START, RESPONSE_START})
# The destination address of the meter itself (0x7F and 0xBF address the logger of heat
# meters). One meter per optical head or USB interface: never configurable.
METER_ADDRESS: Final = 0x3F
# Address, command id and the two CRC bytes.
MIN_BODY: Final = 4
# Register ids one GetRegister request may ask for.
MAX_REGISTERS: Final = 8


class Command(IntEnum):
    """The command ids (CID) the reader uses."""

    GET_TYPE = 0x01
    GET_SERIAL = 0x02
    GET_REGISTER = 0x10


@dataclass(frozen=True, slots=True)
class Frame:
    """One checked frame: ``start`` tells the direction."""

    start: int
    address: int
    command: int
    data: bytes


# -- frames ------------------------------------------------------------------------------


def stuff(body: bytes) -> bytes:
    """The body as sent: each special byte as 1B, byte XOR FF."""
    out = bytearray()
    for byte in body:
        if byte in STUFFED:
            out += bytes((ESCAPE, byte ^ 0xFF))
        else:
            out.append(byte)
    return bytes(out)


def encode_frame(frame: Frame) -> bytes:
    """The bytes on the wire: CRC appended, body stuffed, start and stop bytes around it."""
    body = bytes((frame.address, frame.command)) + frame.data
    body += crc16_xmodem(body).to_bytes(2, "big")
    return bytes((frame.start,)) + stuff(body) + bytes((STOP,))


def unstuff(stuffed: bytes) -> bytes:
    """The body from its form on the wire, in one pass: an escape is undone once, so the
    escaped 1B of ``1B E4 F9`` is never read again as the start of ``1B F9`` (PyKMP)."""
    body = bytearray()
    escaped = False
    for byte in stuffed:
        if escaped:
            original = byte ^ 0xFF
            if original not in STUFFED:
                raise MalformedFrame(f"escape sequence 1B {byte:02X} stands for no special byte")
            body.append(original)
            escaped = False
        elif byte == ESCAPE:
            escaped = True
        elif byte in STUFFED:
            raise MalformedFrame(f"byte {byte:02X} not escaped inside a frame")
        else:
            body.append(byte)
    if escaped:
        raise TruncatedFrame("the frame ends inside an escape sequence")
    return bytes(body)


def decode_frame(raw: bytes) -> Frame:
    """A frame from its bytes on the wire, start and stop byte included.

    Raises :class:`TruncatedFrame` (no stop byte, too short), :class:`MalformedFrame` (wrong
    start byte, broken stuffing) or :class:`CrcError`.
    """
    if not raw or raw[0] not in STARTS:
        raise MalformedFrame("a KMP frame starts with 80 or 40")
    if raw[-1] != STOP or len(raw) < 2:
        raise TruncatedFrame("no stop byte")
    body = unstuff(raw[1:-1])
    if len(body) < MIN_BODY:
        raise TruncatedFrame(f"{len(body)} bytes between start and stop, at least {MIN_BODY}")
    if crc16_xmodem(body) != 0:
        raise CrcError("KMP CRC-16")
    return Frame(raw[0], body[0], body[1], body[2:-2])


def find_response(buffer: bytes | bytearray) -> tuple[int, int] | None:
    """Where the first complete answer of the meter lies, bytes before it being noise or
    the echo of the request (which starts with 80, so it holds no unescaped 40)."""
    start = buffer.find(RESPONSE_START)
    if start < 0:
        return None
    end = buffer.find(STOP, start)
    return None if end < 0 else (start, end + 1)


# -- numbers -----------------------------------------------------------------------------


def decode_number(data: bytes, offset: int = 0) -> tuple[Exact, int]:
    """The number at ``offset`` and the offset after it; raises :class:`MalformedFrame`."""
    if offset + 2 > len(data):
        raise MalformedFrame("a number is cut off")
    length, sign_exponent = data[offset], data[offset + 1]
    end = offset + 2 + length
    if length == 0:
        raise MalformedFrame("a number without mantissa")
    if end > len(data):
        raise MalformedFrame(f"a number of {length} bytes is cut off")
    mantissa = int.from_bytes(data[offset + 2 : end], "big")
    exponent = sign_exponent & 0x3F
    return (
        Exact(
            -mantissa if sign_exponent & 0x80 else mantissa,
            -exponent if sign_exponent & 0x40 else exponent,
        ),
        end,
    )


# -- unit codes --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit code of register answers, and how its values become CH-SMR units.

    ``chsmr_unit`` is the CH-SMR unit the value converts to (None: no CH-SMR quantity);
    the value in it is the register value x 10^``power``. ``certain`` is False where the
    public tables contradict the pattern of their neighbours (see :data:`UNITS`).
    """

    code: int
    name: str
    chsmr_unit: str | None = None
    power: int = 0
    certain: bool = True


def _units(*units: Unit) -> Mapping[int, Unit]:
    return {unit.code: unit for unit in units}


# The unit codes as PyKMP (UNITS_NAMES) and PHK's kamstrup.py list them; both name 0x15 and
# 0x16 "kW" and 0x19 and 0x1A "kvar". Next to Wh, kWh, MWh, GWh (0x01-0x04) and VA, kVA,
# MVA, GVA (0x1D-0x20), 0x15 looks like W and 0x19 like var, but no public source says so.
# 0x16 is the one a Kamstrup 382 sends for its powers (conpot's 382 profile, values with three
# decimals); 0x15 is read as kW like the tables say, marked uncertain.
UNITS: Final = _units(
    Unit(0x00, "number"),
    Unit(0x01, "Wh", "kWh", -3),
    Unit(0x02, "kWh", "kWh", 0),
    Unit(0x03, "MWh", "kWh", 3),
    Unit(0x04, "GWh", "kWh", 6),
    Unit(0x05, "J"),
    Unit(0x06, "kJ"),
    Unit(0x07, "MJ"),
    Unit(0x08, "GJ"),
    Unit(0x09, "cal"),
    Unit(0x0A, "kcal"),
    Unit(0x0B, "Mcal"),
    Unit(0x0C, "Gcal"),
    Unit(0x0D, "varh", "kvarh", -3),
    Unit(0x0E, "kvarh", "kvarh", 0),
    Unit(0x0F, "Mvarh", "kvarh", 3),
    Unit(0x10, "Gvarh", "kvarh", 6),
    Unit(0x11, "VAh"),
    Unit(0x12, "kVAh"),
    Unit(0x13, "MVAh"),
    Unit(0x14, "GVAh"),
    Unit(0x15, "kW", "kW", 0, certain=False),
    Unit(0x16, "kW", "kW", 0),
    Unit(0x17, "MW", "kW", 3),
    Unit(0x18, "GW", "kW", 6),
    Unit(0x19, "kvar", "kvar", 0, certain=False),
    Unit(0x1A, "kvar", "kvar", 0),
    Unit(0x1B, "Mvar", "kvar", 3),
    Unit(0x1C, "Gvar", "kvar", 6),
    Unit(0x1D, "VA"),
    Unit(0x1E, "kVA"),
    Unit(0x1F, "MVA"),
    Unit(0x20, "GVA"),
    Unit(0x21, "V", "V", 0),
    Unit(0x22, "A", "A", 0),
    Unit(0x23, "kV", "V", 3),
    Unit(0x24, "kA", "A", 3),
    Unit(0x25, "°C"),
    Unit(0x26, "K"),
    Unit(0x27, "l"),
    Unit(0x28, "m³"),
    Unit(0x29, "l/h"),
    Unit(0x2A, "m³/h"),
    Unit(0x2B, "m³·°C"),
    Unit(0x2C, "t"),
    Unit(0x2D, "t/h"),
    Unit(0x2E, "h"),
    Unit(0x2F, "hh:mm:ss"),
    Unit(0x30, "yy:mm:dd"),
    Unit(0x31, "yyyy:mm:dd"),
    Unit(0x32, "mm:dd"),
    Unit(0x33, "number"),
    Unit(0x34, "bar"),
    Unit(0x35, "RTC"),
    Unit(0x36, "ASCII"),
    Unit(0x37, "m³ x 10"),
    Unit(0x38, "t x 10"),
    Unit(0x39, "GJ x 10"),
    Unit(0x3A, "min"),
    Unit(0x3B, "bit field"),
    Unit(0x3C, "s"),
    Unit(0x3D, "ms"),
    Unit(0x3E, "days"),
    Unit(0x3F, "RTC-Q"),
    Unit(0x40, "date and time"),
)


def unit_name(code: int) -> str:
    """The unit's name, or its code in hexadecimal when unknown."""
    unit = UNITS.get(code)
    return unit.name if unit is not None else f"unit {code:02X}"


# -- commands ----------------------------------------------------------------------------


def request(command: Command, data: bytes = b"") -> bytes:
    """A request to the meter, on the wire."""
    return encode_frame(Frame(REQUEST_START, METER_ADDRESS, command, data))


def get_register_request(registers: Sequence[int]) -> bytes:
    """GetRegister for 1 to 8 register ids."""
    if not 1 <= len(registers) <= MAX_REGISTERS:
        raise ValueError(f"GetRegister asks for 1 to {MAX_REGISTERS} registers")
    data = bytes((len(registers),)) + b"".join(r.to_bytes(2, "big") for r in registers)
    return request(Command.GET_REGISTER, data)


@dataclass(frozen=True, slots=True)
class MeterType:
    """The GetType answer: a meter type code and the software revision (e.g. ``A3``)."""

    code: int
    revision: str | None

    @property
    def label(self) -> str:
        """The model as the reading names it (no public table names the type codes)."""
        label = f"KMP type {self.code:04X}"
        return f"{label}, software {self.revision}" if self.revision else label


def parse_type(data: bytes) -> MeterType:
    """GetType answer data: type (2 bytes), revision letter (1 = A) and number."""
    if len(data) != 4:
        raise MalformedFrame(f"GetType answer of {len(data)} bytes, 4 expected")
    letter, number = data[2], data[3]
    if letter == 0 and number == 0:  # the meter does not tell
        revision = None
    elif 1 <= letter <= 26:
        revision = f"{chr(ord('A') - 1 + letter)}{number}"
    else:
        raise MalformedFrame(f"software revision letter {letter} out of range")
    return MeterType(int.from_bytes(data[:2], "big"), revision)


def parse_serial(data: bytes) -> int:
    """GetSerialNo answer data: the serial number, 4 bytes big-endian."""
    if len(data) != 4:
        raise MalformedFrame(f"GetSerialNo answer of {len(data)} bytes, 4 expected")
    return int.from_bytes(data, "big")


@dataclass(frozen=True, slots=True)
class RegisterValue:
    """One register of a GetRegister answer, its value as sent, in its unit code."""

    register: int
    unit: int
    value: Exact


def parse_registers(data: bytes) -> tuple[RegisterValue, ...]:
    """GetRegister answer data: ``id (2) | unit (1) | number`` per register the meter has.

    Raises :class:`MalformedFrame` when a register is cut off or listed twice.
    """
    registers: list[RegisterValue] = []
    seen: set[int] = set()
    offset = 0
    while offset < len(data):
        if offset + 3 > len(data):
            raise MalformedFrame("a register id is cut off")
        register = int.from_bytes(data[offset : offset + 2], "big")
        if register in seen:
            raise MalformedFrame(f"register {register:04X} listed twice")
        seen.add(register)
        unit = data[offset + 2]
        try:
            value, offset = decode_number(data, offset + 3)
        except MalformedFrame as err:
            raise MalformedFrame(f"register {register:04X}: {err.detail}") from None
        registers.append(RegisterValue(register, unit, value))
    return tuple(registers)

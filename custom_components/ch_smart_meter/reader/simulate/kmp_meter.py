"""A simulated Kamstrup 382-style electricity meter on KMP: it never talks, it only answers.

Strict like a real meter: it answers complete requests with a correct CRC addressed to it
(0x3F) with GetType, GetSerialNo or GetRegister for one to eight registers; anything else
(another address, another command, a bad CRC, broken stuffing, nine registers) gets
silence. Registers it does not have are left out of the answer.

The values come from the household model. Their formats follow conpot's profile of a 382
(the only public one): energies in kWh with one decimal (0x0001/2) and four decimals (high
resolution, 0x000D/E), powers in kW with three decimals under unit code 0x16, voltages in
whole volts, currents in A with two decimals, the serial number as a plain number (0x03E9).
The export powers per phase (0x0540-2) use the import ones' format: no source shows them.
The GetType answer is invented (no public table of type codes).

Test hooks: :attr:`KmpMeter.missing_phase` (a meter wired without it),
:attr:`KmpMeter.high_resolution`, :attr:`KmpMeter.ignored_commands`, and the counters
:attr:`KmpMeter.drop_answers` (the next answers are lost) and
:attr:`KmpMeter.corrupt_answers` (one bit of the next answers flipped).

The encoder is this module's own: simulators never share code with the decoders, so a
mistake cannot hide in both (the CRC of :mod:`..crc` is the one exception).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Final, NamedTuple

from ..crc import crc16_xmodem
from ..model import Standard
from .household import HouseholdModel
from .source import SourceOptions

ADDRESS: Final = 0x3F
TO_METER: Final = 0x80
FROM_METER: Final = 0x40
END: Final = 0x0D
ESC: Final = 0x1B
SPECIAL: Final = frozenset({0x06, 0x0D, 0x1B, 0x40, 0x80})
GET_TYPE: Final = 0x01
GET_SERIAL: Final = 0x02
GET_REGISTER: Final = 0x10
MOST_REGISTERS: Final = 8
# What the meter keeps of an incomplete request before it gives up on it.
INPUT_LIMIT: Final = 256
# Invented: 0x017E is 382 in hexadecimal; software revision A3.
TYPE_ANSWER: Final = bytes.fromhex("017E0103")
SERIAL_REGISTER: Final = 0x03E9
NUMBER_UNIT: Final = 0x33


class Format(NamedTuple):
    """How the meter sends one register: the household value it shows, unit code,
    decimals, mantissa bytes, the phase it belongs to (None: all)."""

    code: str
    unit: int
    decimals: int
    length: int
    phase: int | None = None
    truncate: bool = False  # a register display drops digits, it does not round


_KWH, _KW, _V, _A = 0x02, 0x16, 0x21, 0x22
LOW_RESOLUTION: Final = frozenset({0x0001, 0x0002})
HIGH_RESOLUTION: Final = frozenset({0x000D, 0x000E})
FORMATS: Final[dict[int, Format]] = {
    0x0001: Format("1.8.0", _KWH, 1, 4, truncate=True),
    0x0002: Format("2.8.0", _KWH, 1, 4, truncate=True),
    0x000D: Format("1.8.0", _KWH, 4, 4, truncate=True),
    0x000E: Format("2.8.0", _KWH, 4, 4, truncate=True),
    0x03FF: Format("1.7.0", _KW, 3, 4),
    0x0400: Format("2.7.0", _KW, 3, 4),
    **{0x041E + i: Format(f"{32 + 20 * i}.7.0", _V, 0, 2, i + 1) for i in range(3)},
    **{0x0434 + i: Format(f"{31 + 20 * i}.7.0", _A, 2, 4, i + 1) for i in range(3)},
    **{0x0438 + i: Format(f"{21 + 20 * i}.7.0", _KW, 3, 2, i + 1) for i in range(3)},
    **{0x0540 + i: Format(f"{22 + 20 * i}.7.0", _KW, 3, 2, i + 1) for i in range(3)},
}


def serial_number(seed: int) -> int:
    """The meter's serial number, eight digits, stable per seed."""
    return random.Random(f"{seed}/kmp-serial").randrange(10_000_000, 100_000_000)


def _escape(body: bytes) -> bytes:
    out = bytearray()
    for byte in body:
        out += bytes((ESC, byte ^ 0xFF)) if byte in SPECIAL else bytes((byte,))
    return bytes(out)


def _unescape(stuffed: bytes) -> bytes | None:
    out = bytearray()
    pending_escape = False
    for byte in stuffed:
        if pending_escape:
            if byte ^ 0xFF not in SPECIAL:
                return None
            out.append(byte ^ 0xFF)
            pending_escape = False
        elif byte == ESC:
            pending_escape = True
        elif byte in SPECIAL:
            return None
        else:
            out.append(byte)
    return None if pending_escape else bytes(out)


def answer_frame(command: int, data: bytes) -> bytes:
    """An answer of the meter on the wire."""
    body = bytes((ADDRESS, command)) + data
    body += crc16_xmodem(body).to_bytes(2, "big")
    return bytes((FROM_METER,)) + _escape(body) + bytes((END,))


def number(value: Decimal, decimals: int, length: int) -> bytes:
    """``value`` with ``decimals`` decimals (exact) as a KMP number of at least
    ``length`` mantissa bytes."""
    mantissa = int(value.scaleb(decimals))
    magnitude = abs(mantissa)
    size = max(length, (magnitude.bit_length() + 7) // 8)
    sign_exponent = (0x80 if mantissa < 0 else 0) | (0x40 if decimals else 0) | decimals
    return bytes((size, sign_exponent)) + magnitude.to_bytes(size, "big")


def flip_one_bit(frame: bytes) -> bytes:
    """The frame with one bit of its body flipped where framing stays intact, so the
    damage shows as a CRC mismatch, not as a lost frame."""
    candidates = [
        i
        for i in range(2, len(frame) - 1)
        if frame[i] not in SPECIAL and frame[i] ^ 0x01 not in SPECIAL and frame[i - 1] != ESC
    ]
    position = candidates[len(candidates) // 2]
    return frame[:position] + bytes((frame[position] ^ 0x01,)) + frame[position + 1 :]


@dataclass(slots=True)
class KmpMeter:
    """The simulated meter (see the module docstring); a :class:`FrameSource`."""

    options: SourceOptions = field(default_factory=SourceOptions)
    missing_phase: int | None = None
    high_resolution: bool = True
    ignored_commands: set[int] = field(default_factory=set)
    drop_answers: int = 0
    corrupt_answers: int = 0
    model: HouseholdModel = field(init=False)
    serial: int = field(init=False)
    # Register values as sent, by register: of the last GetRegister answer, and the latest
    # of each register ever answered (what a correct reader shows; tests compare).
    answered: dict[int, Decimal] = field(init=False, default_factory=dict)
    latest: dict[int, Decimal] = field(init=False, default_factory=dict)
    requests: int = 0  # well-formed requests addressed to the meter
    _input: bytearray = field(init=False, default_factory=bytearray)

    def __post_init__(self) -> None:
        self.model = HouseholdModel(self.options.seed)
        self.serial = serial_number(self.options.seed)

    @property
    def standard(self) -> Standard:
        """Kamstrup KMP."""
        return Standard.KMP

    def frame_at(self, moment: datetime) -> bytes:
        """A polled meter never talks on its own."""
        return b""

    def respond(self, request: bytes, moment: datetime) -> bytes:
        """Answers to the complete requests so far (a request may arrive in pieces)."""
        self._input += request
        answers = bytearray()
        while (start := self._input.find(TO_METER)) >= 0:
            del self._input[:start]
            end = self._input.find(END)
            restart = self._input.find(TO_METER, 1)
            if restart >= 0 and (end < 0 or restart < end):
                del self._input[:restart]  # a request cut short: the next one begins
                continue
            if end < 0:
                break
            frame = bytes(self._input[: end + 1])
            del self._input[: end + 1]
            answers += self._deliver(self._answer(frame, moment))
        if self._input.find(TO_METER) < 0 or len(self._input) > INPUT_LIMIT:
            self._input.clear()
        return bytes(answers)

    def has(self, register: int) -> bool:
        """Whether the meter has ``register``."""
        if register == SERIAL_REGISTER:
            return True
        found = FORMATS.get(register)
        if found is None:
            return False
        if register in HIGH_RESOLUTION and not self.high_resolution:
            return False
        return found.phase is None or found.phase != self.missing_phase

    def _deliver(self, answer: bytes) -> bytes:
        if not answer:
            return b""
        if self.drop_answers > 0:
            self.drop_answers -= 1
            return b""
        if self.corrupt_answers > 0:
            self.corrupt_answers -= 1
            return flip_one_bit(answer)
        return answer

    def _answer(self, frame: bytes, moment: datetime) -> bytes:
        body = _unescape(frame[1:-1])
        if body is None or len(body) < 4 or crc16_xmodem(body) != 0 or body[0] != ADDRESS:
            return b""
        command, data = body[1], body[2:-2]
        if command in self.ignored_commands:
            return b""
        if command == GET_TYPE and not data:
            self.requests += 1
            return answer_frame(GET_TYPE, TYPE_ANSWER)
        if command == GET_SERIAL and not data:
            self.requests += 1
            return answer_frame(GET_SERIAL, self.serial.to_bytes(4, "big"))
        count = data[0] if data else 0
        if command == GET_REGISTER and 1 <= count <= MOST_REGISTERS and len(data) == 1 + 2 * count:
            self.requests += 1
            ids = [int.from_bytes(data[i : i + 2], "big") for i in range(1, len(data), 2)]
            return answer_frame(GET_REGISTER, self._registers(ids, moment))
        return b""

    def _registers(self, ids: list[int], moment: datetime) -> bytes:
        values = self.model.step(moment).values()
        self.answered = {}
        out = bytearray()
        for register in ids:
            if not self.has(register) or register in self.answered:
                continue
            if register == SERIAL_REGISTER:
                value, unit, decimals, length = Decimal(self.serial), NUMBER_UNIT, 0, 4
            else:
                spec = FORMATS[register]
                rounding = ROUND_DOWN if spec.truncate else ROUND_HALF_UP
                value = values[spec.code].quantize(Decimal(1).scaleb(-spec.decimals), rounding)
                unit, decimals, length = spec.unit, spec.decimals, spec.length
            self.answered[register] = self.latest[register] = value
            out += register.to_bytes(2, "big") + bytes((unit,)) + number(value, decimals, length)
        return bytes(out)


def create_source(options: SourceOptions) -> KmpMeter:
    """The registry's entry point."""
    return KmpMeter(options)

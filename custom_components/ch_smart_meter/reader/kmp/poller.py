"""The reading cycle of a Kamstrup meter over KMP (a :class:`~..polling.Poller`).

After each (re)connection the first cycle asks the serial number (GetSerialNo: the meter id)
and the meter type (GetType: the model, asked once, no retry: it is only a label); if the
serial number does not come, register 0x03E9 holds it too and is asked with the values.
Every cycle then asks the registers of :mod:`.registers` with GetRegister, at most eight at
a time, Table 1 first, and hands one :class:`~..model.Reading` stamped with the host clock
to the session (KMP answers carry no time).

A request whose answer does not come in time, or comes garbled (reported as a rejected
frame), is sent once more. A register the meter leaves out of a valid answer is not asked
again until the next connection, so a single-phase meter costs no requests for the phases
it lacks; and once a high-resolution energy register has answered, its low-resolution twin
is no longer asked.

Timeouts follow from the bytes on the wire at the line's character format (the slowest of the
standard, 1200 baud 8N2 of the optical head, when it is not known)
plus the time a meter takes to start its answer: community readers wait 0.3 s to 1 s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from ..errors import FrameError, MalformedFrame, NoAnswer
from ..model import RejectedFrame, SerialSettings
from ..polling import Emit, Link
from ..spec import DecoderOptions
from .codec import (
    MAX_REGISTERS,
    METER_ADDRESS,
    RESPONSE_START,
    Command,
    MeterType,
    RegisterValue,
    decode_frame,
    find_response,
    get_register_request,
    parse_registers,
    parse_serial,
    parse_type,
    request,
    unit_name,
)
from .registers import (
    SERIAL_REGISTER,
    VALUE_REGISTERS,
    KmpRegister,
    convert,
    reading_of,
    serial_text,
)

# The character formats of the two interfaces: the Kamstrup USB interface and an optical
# head on the IEC 62056-21 eye.
USB_SERIAL: Final = SerialSettings(9600, 8, "N", 1)
OPTICAL_SERIAL: Final = SerialSettings(1200, 8, "N", 2)

# Seconds a meter may take before its answer starts.
REPLY_DELAY: Final = 0.8
# Answers are timed at 1.5 x their expected length: byte stuffing and scheduling jitter.
WIRE_MARGIN: Final = 1.5
# Bytes of an answer around its data: start, address, command, CRC (2), stop.
FRAME_OVERHEAD: Final = 6
# Bytes of one register in a GetRegister answer: id (2), unit, length, sign and exponent,
# a mantissa of four bytes (the longest a Kamstrup 382 sends for these registers).
REGISTER_ANSWER_BYTES: Final = 9
# GetSerialNo and GetType answer with four bytes of data.
IDENTITY_ANSWER_BYTES: Final = FRAME_OVERHEAD + 4
ATTEMPTS: Final = 2


def register_answer_bytes(count: int) -> int:
    """The expected size of a GetRegister answer for ``count`` registers (unstuffed)."""
    return FRAME_OVERHEAD + count * REGISTER_ANSWER_BYTES


@dataclass(frozen=True, slots=True)
class Step:
    """One request of a cycle and what its answer needs."""

    command: Command
    request: bytes
    answer_bytes: int
    registers: tuple[int, ...] = ()
    attempts: int = ATTEMPTS

    def timeout(self, settings: SerialSettings) -> float:
        """How long to wait for the answer."""
        size = len(self.request) + self.answer_bytes
        return REPLY_DELAY + WIRE_MARGIN * settings.wire_seconds(size)


def register_steps(registers: Sequence[KmpRegister]) -> list[Step]:
    """GetRegister requests for ``registers``, in order, eight at a time."""
    steps = []
    for first in range(0, len(registers), MAX_REGISTERS):
        ids = tuple(r.register for r in registers[first : first + MAX_REGISTERS])
        steps.append(
            Step(
                Command.GET_REGISTER,
                get_register_request(ids),
                register_answer_bytes(len(ids)),
                ids,
            )
        )
    return steps


def steady_cycle() -> list[Step]:
    """The requests of a cycle once the meter is known: every preferred register."""
    return register_steps([r for r in VALUE_REGISTERS if r.rank == 0])


def cycle_wire_seconds(steps: Sequence[Step], settings: SerialSettings) -> float:
    """Requests and expected answers of a cycle on the wire (no retries, no reply delay)."""
    return settings.wire_seconds(sum(len(s.request) + s.answer_bytes for s in steps))


def min_poll_interval(settings: SerialSettings = OPTICAL_SERIAL) -> float:
    """Whole seconds a steady cycle needs on the wire at ``settings``, rounded up."""
    return float(math.ceil(cycle_wire_seconds(steady_cycle(), settings)))


def _registers_of(step: Step, data: bytes) -> tuple[RegisterValue, ...]:
    """A GetRegister answer to ``step``: only registers it asked for."""
    registers = parse_registers(data)
    foreign = sorted({r.register for r in registers} - set(step.registers))
    if foreign:
        listed = ", ".join(f"{register:04X}" for register in foreign)
        raise MalformedFrame(f"answer lists registers not asked for: {listed}")
    return registers


class KmpPoller:
    """One KMP meter's reading cycles (see the module docstring).

    ``serial`` is the line's character format, which the timeouts are computed for
    (unknown: the slowest, the optical head's).
    """

    def __init__(self, options: DecoderOptions, serial: SerialSettings | None = None) -> None:
        self._options = options
        self._serial = serial or OPTICAL_SERIAL
        self._identify = True  # GetSerialNo and GetType are due
        self._serial_number: str | None = None
        self._meter_type: MeterType | None = None
        self._units: dict[int, int] = {}  # register -> unit code of its last answer
        self._missing: set[int] = set()
        self._problems: tuple[str, ...] = ()
        self._last_error: str | None = None

    # -- Poller --------------------------------------------------------------------------

    def cycle_timeout(self) -> float:
        """Every request of the next cycle timed out on every attempt, plus a second."""
        by_register = self._serial_number is None  # while identifying, too: it may fail
        steps = self._identification() + self._register_steps(by_register=by_register)
        return 1.0 + sum(s.attempts * s.timeout(self._serial) for s in steps)

    async def poll(self, link: Link, emit: Emit) -> None:
        """One cycle: identification when due, then the registers; one reading."""
        for step in self._identification():
            if step.command is Command.GET_SERIAL:
                serial = await self._ask(link, step, emit, parse_serial)
                self._serial_number = None if serial is None else str(serial[1])
            else:
                meter_type = await self._ask(link, step, emit, parse_type)
                self._meter_type = None if meter_type is None else meter_type[1]
        self._identify = False
        answers: list[RegisterValue] = []
        frames = bytearray()
        for step in self._register_steps(by_register=self._serial_number is None):
            registers = await self._ask(link, step, emit, partial(_registers_of, step))
            if registers is not None:
                frames += registers[0]
                answers.extend(self._take_registers(step, registers[1]))
        self._emit_reading(answers, bytes(frames), emit)

    def reset(self) -> None:
        """A new connection (maybe another meter): learn everything again."""
        self._identify = True
        self._serial_number = None
        self._meter_type = None
        self._units.clear()
        self._missing.clear()
        self._problems = ()

    def diagnostics(self) -> dict[str, Any]:
        """The meter's serial number and type, which registers answer and which do not."""
        meter_type = self._meter_type
        return {
            "meter_serial": self._serial_number,
            "meter_type": None if meter_type is None else f"{meter_type.code:04X}",
            "software_revision": None if meter_type is None else meter_type.revision,
            "registers_answered": {
                f"{register:04X}": unit_name(unit) for register, unit in sorted(self._units.items())
            },
            "registers_missing": [f"{register:04X}" for register in sorted(self._missing)],
            "unit_problems": list(self._problems),
            "last_error": self._last_error,
        }

    # -- internals -----------------------------------------------------------------------

    def _identification(self) -> list[Step]:
        if not self._identify:
            return []
        return [
            Step(Command.GET_SERIAL, request(Command.GET_SERIAL), IDENTITY_ANSWER_BYTES),
            Step(Command.GET_TYPE, request(Command.GET_TYPE), IDENTITY_ANSWER_BYTES, attempts=1),
        ]

    def _register_steps(self, *, by_register: bool) -> list[Step]:
        """The GetRegister requests of a cycle; ``by_register``: the serial number is
        still unknown, so register 0x03E9 is asked first (unless the meter lacks it)."""
        wanted = [r for r in VALUE_REGISTERS if self._wanted(r)]
        if by_register and SERIAL_REGISTER.register not in self._missing:
            wanted.insert(0, SERIAL_REGISTER)
        return register_steps(wanted)

    def _wanted(self, register: KmpRegister) -> bool:
        if register.register in self._missing:
            return False
        # A lower-ranked twin is not asked once a preferred register of its code answers.
        return not any(
            other.code == register.code and other.rank < register.rank
            for other in VALUE_REGISTERS
            if other.register in self._units
        )

    async def _ask[T](
        self, link: Link, step: Step, emit: Emit, parse: Callable[[bytes], T]
    ) -> tuple[bytes, T] | None:
        """The answer frame and what ``parse`` makes of its data, after one retry; None
        when no valid answer came."""
        for attempt in range(step.attempts):
            if attempt:
                link.stats.retries += 1
            try:
                raw = await link.exchange(step.request, find_response, step.timeout(self._serial))
            except NoAnswer as err:
                self._last_error = err.message
                continue
            try:
                frame = decode_frame(raw)
                if frame.start != RESPONSE_START or frame.address != METER_ADDRESS:
                    raise MalformedFrame(f"not from the meter (address {frame.address:02X})")
                if frame.command != step.command:
                    raise MalformedFrame(
                        f"answer to command {frame.command:02X}, not {step.command:02X}"
                    )
                return raw, parse(frame.data)
            except FrameError as err:
                self._last_error = err.message
                emit(RejectedFrame(err, raw))
        return None

    def _take_registers(
        self, step: Step, registers: tuple[RegisterValue, ...]
    ) -> tuple[RegisterValue, ...]:
        answered = {r.register for r in registers}
        self._missing.update(set(step.registers) - answered)
        for answer in registers:
            self._units[answer.register] = answer.unit
            if answer.register == SERIAL_REGISTER.register:
                self._serial_number = serial_text(answer)
        return registers

    def _emit_reading(self, answers: list[RegisterValue], frames: bytes, emit: Emit) -> None:
        converted = convert(answers)
        if answers:
            self._problems = converted.problems
        if converted.values:
            emit(
                reading_of(
                    converted,
                    self._options,
                    meter_id=self._serial_number,
                    meter_type=self._meter_type,
                    frame=frames,
                )
            )

"""A simulated serial line: the meter's UART on one side, the reader's on the other.

A pseudo-terminal passes bytes whatever its settings, so a reader opened with the wrong
speed or parity would still decode a simulated meter perfectly. :class:`SimulatedLine`
puts a wire between them: the meter's bytes become a waveform at the meter's own format
(start bit, data bits LSB first, parity, stop bits), and a model of the reader's UART
samples that waveform at the format the reader set on the pseudo-terminal. What comes out
is what a Linux serial port delivers when the two disagree: garbage, framing and parity
errors, breaks.

The receiver (:class:`UartReceiver`) behaves like a 16550: it waits for the line to be
low, checks the middle of the start bit (a shorter pulse is a glitch), samples every bit
in its middle and checks the first stop bit only. After a framing error it looks for the
next start bit at once, from the middle of the bad stop bit (the 16550 takes the low stop
bit for the next start bit); after a break (everything low, stop bit included) it waits
for the line to return high. :func:`tty_input` turns the received characters into what a
Linux tty delivers for the reader's ``c_iflag`` (8250 driver and N_TTY): without INPCK a
character with a parity or framing error is delivered as received; a break is a NUL
unless IGNBRK, BRKINT or PARMRK ask otherwise.

What the reader set is read from the terminal: on Linux ``tcgetattr`` on the master
returns the pair's (the slave's) settings. The pty driver keeps the speed, CSTOPB,
PARODD, CMSPAR and the input flags, but forces CS8 and clears PARENB on every change, so
even parity and 7 data bits cannot be read back. The line takes those two from
:func:`..transport.observe_serial_opens` when the reader runs in this process (tests,
the demo). For a reader in another process the line assumes the meter's data bits, and
the meter's parity unless the terminal shows odd, mark or space parity.

The same driver rule explains why "a Linux pty refuses a second 8E1 open". glibc's
``tcsetattr`` (2.36 here) reads the settings before and after its TCSETS and fails with
EINVAL when nothing changed although the request differs (POSIX: "if no part of the
request can be honored"). After an open at 2400 8E1 the terminal holds 2400 8N1, so the
next 2400 8E1 request changes nothing the driver keeps: refused. After each change by the
reader the line therefore parks the terminal at a speed no reader asks for, alternating
between two (:data:`PARKED_SPEEDS`): should the parking land between a reader's TCSETS
and glibc's check, the check still sees a change. The line learns of each change at once
through packet mode (``TIOCPKT`` with ``EXTPROC``: the master reads a ``TIOCPKT_IOCTL``
status byte whenever the slave's settings change).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import struct
import termios
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, NamedTuple

from ..model import SerialSettings
from ..transport import observe_serial_opens
from .pty import PtyWriter, open_pty
from .source import Simulator

# The speeds the terminal is parked at between a reader's changes (no meter uses them),
# alternately, so that parking always changes something (see the module docstring).
PARKED_SPEEDS: Final = (termios.B50, termios.B75)
# Packet-mode status bit: the slave's termios changed (linux/tty.h; not in Python's termios).
TIOCPKT_IOCTL: Final = 0x40
TICK: Final = 0.01  # seconds between two deliveries of wire time to the reader

_SPEEDS: Final = {
    getattr(termios, f"B{rate}"): rate
    for rate in (
        *(50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400),
        *(57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000),
        *(2000000, 2500000, 3000000, 3500000, 4000000),
    )
    if hasattr(termios, f"B{rate}")
}
_CMSPAR: Final = 0o10000000000  # "stick" parity (mark or space); not in Python's termios


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------


def parse_format(text: str) -> SerialSettings:
    """``"2400 8E1"`` (or ``2400/8E1``, ``2400-8e1``) as settings; ``ValueError`` otherwise."""
    parts = text.replace("/", " ").replace("-", " ").split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[1]) < 3:
        raise ValueError(f"not a serial format like '2400 8E1': {text!r}")
    shape = parts[1].upper()
    bytesize, parity, stop = shape[0], shape[1], shape[2:]
    if bytesize not in "5678" or parity not in "NEOMS" or stop not in ("1", "1.5", "2"):
        raise ValueError(f"not a serial format like '2400 8E1': {text!r}")
    baudrate = int(parts[0])
    if baudrate <= 0:
        raise ValueError("the speed must be positive")
    return SerialSettings(baudrate, int(bytesize), parity, float(stop))


def frame_bits(serial: SerialSettings) -> float:
    """Bit times of one character: start, data, parity, stop bits."""
    return 1 + serial.bytesize + (serial.parity.upper() != "N") + float(serial.stopbits)


def _parity_bit(value: int, parity: str) -> int:
    ones = value.bit_count() & 1
    match parity:
        case "E":
            return ones
        case "O":
            return ones ^ 1
        case "M":
            return 1
        case _:  # "S"
            return 0


@lru_cache(maxsize=32)
def _character_levels(serial: SerialSettings) -> tuple[bytes, ...]:
    """Per byte value: its line levels in half-bit ticks (1 mark/idle, 0 space)."""
    parity = serial.parity.upper()
    mask = (1 << serial.bytesize) - 1
    stop_ticks = round(float(serial.stopbits) * 2)
    table = []
    for value in range(256):
        data = value & mask  # a 7-bit UART sends only the low 7 bits
        bits = [0, *((data >> i) & 1 for i in range(serial.bytesize))]
        if parity != "N":
            bits.append(_parity_bit(data, parity))
        table.append(bytes(level for bit in bits for level in (bit, bit)) + b"\x01" * stop_ticks)
    return tuple(table)


def transmit(data: bytes, serial: SerialSettings) -> bytes:
    """The waveform of ``data`` sent back to back at ``serial``: one level per half bit."""
    table = _character_levels(serial)
    return b"".join(table[value] for value in data)


# --------------------------------------------------------------------------------------------
# The wire and the reader's receiver
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Burst:
    start: float  # wire seconds
    levels: bytes  # half-bit ticks
    end: float


class Wire:
    """What one side sends, as bursts of levels on a time axis (seconds); idle is high."""

    def __init__(self, baudrate: int) -> None:
        self.tick = 0.5 / baudrate
        self._bursts: deque[_Burst] = deque()

    @property
    def busy_until(self) -> float:
        """When the last burst ends (0 when nothing was sent)."""
        return self._bursts[-1].end if self._bursts else 0.0

    def send(self, levels: bytes, at: float) -> float:
        """Append a burst starting at ``at`` or when the previous one ends; returns its end."""
        start = max(at, self.busy_until)
        end = start + len(levels) * self.tick
        if levels:
            self._bursts.append(_Burst(start, levels, end))
        return end

    def forget_before(self, moment: float) -> None:
        """Drop the bursts that ended before ``moment`` (nobody will look at them again)."""
        while self._bursts and self._bursts[0].end <= moment:
            self._bursts.popleft()

    def _index(self, burst: _Burst, moment: float) -> int:
        return max(0, int((moment - burst.start) / self.tick))

    def level(self, moment: float) -> int:
        """The line level at ``moment``."""
        for burst in self._bursts:
            if burst.start <= moment < burst.end:
                return burst.levels[min(self._index(burst, moment), len(burst.levels) - 1)]
            if burst.start > moment:
                break
        return 1

    def next_level(self, moment: float, level: int) -> float | None:
        """The first instant at or after ``moment`` when the line is at ``level``; ``None``
        when the line is high from ``moment`` on and ``level`` is low."""
        for burst in self._bursts:
            if burst.end <= moment:
                continue
            if level and burst.start > moment:
                return moment  # idle before this burst
            index = self._index(burst, moment) if burst.start <= moment else 0
            found = burst.levels.find(level, index)
            if found >= 0:
                return max(moment, burst.start + found * self.tick)
            if level:
                return burst.end  # idle after this burst
        return moment if level else None


class Received(NamedTuple):
    """One character as the receiving UART saw it."""

    value: int
    parity_error: bool = False
    framing_error: bool = False
    brk: bool = False


class UartReceiver:
    """A UART receiving a :class:`Wire` at its own format (see the module docstring)."""

    def __init__(self, serial: SerialSettings, start: float = 0.0) -> None:
        self.serial = serial
        self.moment = start  # where the search for the next start bit resumes
        self._awaiting_mark = False
        self._bit = 1.0 / serial.baudrate

    def receive(self, wire: Wire, until: float) -> list[Received]:
        """The characters whose stop bit was sampled by ``until`` (wire seconds)."""
        serial, bit = self.serial, self._bit
        parity = serial.parity.upper()
        size = serial.bytesize
        stop_offset = (1.5 + size + (parity != "N")) * bit
        out: list[Received] = []
        while True:
            if self._awaiting_mark:
                high = wire.next_level(self.moment, 1)
                if high is None or high > until:
                    return out
                self.moment, self._awaiting_mark = high, False
            start = wire.next_level(self.moment, 0)
            if start is None:
                self.moment = max(self.moment, until)
                return out
            if start + stop_offset > until:
                return out  # the character is not over yet
            if wire.level(start + 0.5 * bit):
                self.moment = start + 0.5 * bit  # a glitch, not a start bit
                continue
            value = 0
            for index in range(size):
                value |= wire.level(start + (1.5 + index) * bit) << index
            parity_error = False
            parity_level = 0
            if parity != "N":
                parity_level = wire.level(start + (1.5 + size) * bit)
                parity_error = parity_level != _parity_bit(value, parity)
            stop_level = wire.level(start + stop_offset)
            brk = value == 0 and parity_level == 0 and stop_level == 0
            out.append(Received(value, parity_error, not stop_level, brk))
            self.moment = start + stop_offset
            self._awaiting_mark = brk


@dataclass(frozen=True, slots=True)
class InputFlags:
    """The receive side of a Linux tty, from ``c_iflag`` (and CREAD of ``c_cflag``)."""

    inpck: bool = False
    ignpar: bool = False
    parmrk: bool = False
    ignbrk: bool = False
    brkint: bool = False
    cread: bool = True

    @classmethod
    def from_termios(cls, iflag: int, cflag: int) -> InputFlags:
        """The flags of a ``tcgetattr`` result."""
        return cls(
            inpck=bool(iflag & termios.INPCK),
            ignpar=bool(iflag & termios.IGNPAR),
            parmrk=bool(iflag & termios.PARMRK),
            ignbrk=bool(iflag & termios.IGNBRK),
            brkint=bool(iflag & termios.BRKINT),
            cread=bool(cflag & termios.CREAD),
        )


def tty_input(characters: Iterable[Received], flags: InputFlags) -> bytes:
    """What a Linux serial tty (8250 driver, N_TTY) queues for the received characters.

    The driver reports parity and framing errors only with INPCK and a break only with
    IGNBRK, BRKINT or PARMRK; IGNPAR and IGNBRK drop what they name. Unreported errors are
    ordinary characters (a break reads as the NUL it looks like). ISTRIP and the doubling
    of 0xFF under PARMRK are ordinary input processing, left to the terminal itself.
    """
    if not flags.cread:
        return b""
    out = bytearray()
    for char in characters:
        if char.brk and (flags.ignbrk or flags.brkint or flags.parmrk):
            if flags.ignbrk or flags.brkint:  # BRKINT: SIGINT, nothing queued
                continue
            out += b"\xff\x00\x00"
        elif (char.parity_error or char.framing_error) and flags.inpck and not char.brk:
            if flags.ignpar:
                continue
            out += b"\xff\x00" + bytes((char.value,)) if flags.parmrk else b"\x00"
        else:
            out.append(char.value)
    return bytes(out)


def through_line(
    data: bytes, sender: SerialSettings, receiver: SerialSettings, flags: InputFlags | None = None
) -> bytes:
    """``data`` sent at ``sender`` and read by a tty at ``receiver``, all at once."""
    wire = Wire(sender.baudrate)
    end = wire.send(transmit(data, sender), 0.0)
    uart = UartReceiver(receiver)
    # One idle character time after the burst lets the last character complete.
    received = uart.receive(wire, end + frame_bits(receiver) / receiver.baudrate)
    return tty_input(received, flags or InputFlags())


# --------------------------------------------------------------------------------------------
# What the reader set on the pseudo-terminal
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReaderSide:
    """The reader's format and input flags, as far as the line knows them.

    ``announced``: data bits and parity came from the reader itself (same process);
    otherwise they were assumed (see the module docstring).
    """

    serial: SerialSettings
    flags: InputFlags
    announced: bool


def reader_side(
    attributes: list[Any], meter: SerialSettings, announced: SerialSettings | None
) -> ReaderSide | None:
    """The reader's side from ``tcgetattr`` of the terminal; ``None`` for a speed outside
    termios' table (the line then delivers nothing)."""
    iflag, _oflag, cflag, _lflag, ispeed = (int(value) for value in attributes[:5])
    baudrate = _SPEEDS.get(ispeed)
    if baudrate is None:
        return None
    stopbits = 2.0 if cflag & termios.CSTOPB else 1.0
    flags = InputFlags.from_termios(iflag, cflag)
    if announced is not None and announced.baudrate == baudrate:
        serial = SerialSettings(baudrate, announced.bytesize, announced.parity.upper(), stopbits)
        return ReaderSide(serial, flags, announced=True)
    parity = meter.parity.upper()
    if cflag & _CMSPAR:
        parity = "M" if cflag & termios.PARODD else "S"
    elif cflag & termios.PARODD:
        parity = "O"
    return ReaderSide(SerialSettings(baudrate, meter.bytesize, parity, stopbits), flags, False)


@dataclass(slots=True)
class LineStats:
    """What the line did, for tests and the demo."""

    sent: int = 0  # bytes the meter sent (what reached the reader: the line's ``writer``)
    requests: int = 0  # writes of the reader handed to the meter (garbled as on the wire)
    # Every format the reader set, in order (one entry per change, reopens included).
    reader_formats: list[SerialSettings] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# The pseudo-terminal
# --------------------------------------------------------------------------------------------


class SimulatedLine:
    """A pseudo-terminal with a meter's UART behind it (an ``Output`` of the simulator).

    The meter sends its frames at ``meter`` (its true format); a reader opens :attr:`path`
    like a serial port and receives them as its own format lets it. ``speed`` runs the
    wire faster than real time (tests); the garbling does not depend on it. What the reader
    writes reaches the simulated meter through the same wire in the other direction.
    Readers may open and close the port any number of times, with any format.
    """

    def __init__(self, simulator: Simulator, meter: SerialSettings, *, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("the speed must be positive")
        self._simulator = simulator
        self.meter = meter
        self._speed = speed
        self._master, self._slave, self.path = open_pty()
        self._device = os.fstat(self._slave).st_rdev
        fcntl.ioctl(self._master, termios.TIOCPKT, struct.pack("i", 1))
        self._loop = asyncio.get_running_loop()
        self._origin = self._loop.time()
        self._wire = Wire(meter.baudrate)
        self.reader: ReaderSide | None = None
        self._receiver: UartReceiver | None = None
        self._announced: SerialSettings | None = None
        # What reached the reader's terminal, what was lost: writer.delivered, .dropped.
        self.writer = PtyWriter(self._loop, self._master)
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._parked = PARKED_SPEEDS[1]
        self.stats = LineStats()
        self._stop_observing = observe_serial_opens(self._on_open)
        self._park(termios.tcgetattr(self._master))
        self._loop.add_reader(self._master, self._on_master)

    def _now(self) -> float:
        return (self._loop.time() - self._origin) * self._speed

    # -- the meter's side ------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """The meter sends ``frame`` (after what it is still sending)."""
        if self._closed or not frame:
            return
        self._wire.send(transmit(frame, self.meter), self._now())
        self.stats.sent += len(frame)
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is None and not self._closed:
            self._timer = self._loop.call_later(TICK, self._pump)

    def _pump(self) -> None:
        """Hand the reader what its UART received from the wire so far."""
        self._timer = None
        now = self._now()
        receiver = self._receiver
        if receiver is None or self.reader is None:
            self._wire.forget_before(now)  # nobody configured the port: the bytes are lost
            return
        data = tty_input(receiver.receive(self._wire, now), self.reader.flags)
        self._wire.forget_before(receiver.moment)
        if data:
            self.writer.write(data)
        # Until the reader's UART has sampled the end of the last burst.
        if now < self._wire.busy_until + 2 * frame_bits(receiver.serial) / receiver.serial.baudrate:
            self._schedule()

    # -- the reader's side -----------------------------------------------------------------

    def _on_open(self, address: str, serial: SerialSettings) -> None:
        """A reader in this process is about to open a port with ``serial``."""
        try:
            same = os.stat(address).st_rdev == self._device
        except (OSError, ValueError):
            return
        if same:
            self._announced = serial

    def _on_master(self) -> None:
        try:
            packet = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as err:
            if err.errno == errno.EIO:
                return
            raise
        if not packet:
            return
        if packet[0] == termios.TIOCPKT_DATA:
            self._on_request(packet[1:])
        elif packet[0] & TIOCPKT_IOCTL:
            self._on_settings()

    def _on_settings(self) -> None:
        """The reader changed the terminal's settings (an open, or a reconfiguration)."""
        attributes = termios.tcgetattr(self._master)
        if attributes[4] in PARKED_SPEEDS:
            return  # our own parking
        self.reader = reader_side(attributes, self.meter, self._announced)
        self._announced = None
        # A reconfigured UART starts afresh: a character in progress is lost.
        self._receiver = (
            None if self.reader is None else UartReceiver(self.reader.serial, self._now())
        )
        if self.reader is not None:
            self.stats.reader_formats.append(self.reader.serial)
        self.writer.clear()
        self._park(attributes)
        self._schedule()

    def _park(self, attributes: list[Any]) -> None:
        """Move the terminal to the other parked speed (see the module docstring), keeping
        the reader's input flags for the terminal's own input processing."""
        self._parked = PARKED_SPEEDS[self._parked == PARKED_SPEEDS[0]]
        parked = list(attributes)
        parked[3] = int(parked[3]) | termios.EXTPROC
        parked[4] = parked[5] = self._parked
        with contextlib.suppress(termios.error):
            termios.tcsetattr(self._master, termios.TCSANOW, parked)

    def _on_request(self, request: bytes) -> None:
        """The reader wrote ``request``: the meter's UART receives it at the meter's format."""
        if not request:
            return
        self.stats.requests += 1
        sent_as = self.reader.serial if self.reader is not None else self.meter
        heard = through_line(request, sent_as, self.meter)
        if heard and (answer := self._simulator.respond(heard)):
            self.send(answer)

    async def close(self) -> None:
        """Close both ends; a connected reader sees the device disappear."""
        if self._closed:
            return
        self._closed = True
        self._stop_observing()
        if self._timer is not None:
            self._timer.cancel()
        self._loop.remove_reader(self._master)
        self.writer.close()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

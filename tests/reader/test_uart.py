"""The simulated serial line: a meter's UART and a reader's UART that may disagree.

The bit-level model is checked against what the physics of asynchronous serial says
(7E1 and 8N1 characters have the same length; a slow line read fast is a row of breaks),
the tty delivery against the Linux rules for each input flag, and the pseudo-terminal
line against real opens through serialx, many times and with any format.
"""

from __future__ import annotations

import asyncio
import os
import random
import termios
import tty
from datetime import UTC, datetime

import pytest

from custom_components.ch_smart_meter.reader.model import RejectedFrame, SerialSettings, Standard
from custom_components.ch_smart_meter.reader.simulate.uart import (
    InputFlags,
    Received,
    UartReceiver,
    Wire,
    parse_format,
    through_line,
    transmit,
    tty_input,
)
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec
from custom_components.ch_smart_meter.reader.transport import open_stream
from tests.reader.simulated_lines import Meter, meter_on_line, source_on_line

ALL_BYTES = bytes(range(256))
TEXT = b"/ISK5\\2M550T-1012\r\n\r\n1-0:1.8.1(001234.567*kWh)\r\n!1A2B\r\n"


def fmt(text: str) -> SerialSettings:
    return parse_format(text)


# -- the bit-level model ---------------------------------------------------------------------


@pytest.mark.parametrize("serial", ["115200 8N1", "2400 8E1", "9600 8O1", "9600 8N2", "1200 8S1"])
def test_the_same_format_passes_every_byte(serial: str) -> None:
    assert through_line(ALL_BYTES * 2, fmt(serial), fmt(serial)) == ALL_BYTES * 2


def test_a_7_bit_line_carries_the_low_seven_bits() -> None:
    received = through_line(ALL_BYTES, fmt("9600 7E1"), fmt("9600 7E1"))
    assert received == bytes(value & 0x7F for value in ALL_BYTES)


def test_7e1_read_at_8n1_is_the_character_with_its_parity_bit_as_bit_7() -> None:
    received = through_line(TEXT, fmt("115200 7E1"), fmt("115200 8N1"))
    assert bytes(value & 0x7F for value in received) == TEXT
    # Even parity over all eight bits, so the DSMR CRC cannot match at 8N1.
    assert all(value.bit_count() % 2 == 0 for value in received)
    assert received != TEXT


def test_8n1_text_read_at_7e1_is_intact() -> None:
    """Why 8N1 is tried before 7E1: a DSMR 5 telegram also reads at 7E1."""
    assert through_line(TEXT, fmt("115200 8N1"), fmt("115200 7E1")) == TEXT


def test_8e1_read_at_8n1_breaks_at_the_first_zero_parity_bit() -> None:
    data = bytes(random.Random(3).randbytes(200))
    received = through_line(data, fmt("2400 8E1"), fmt("2400 8N1"))
    first_zero = next(i for i, value in enumerate(data) if value.bit_count() % 2 == 0)
    assert received[:first_zero] == data[:first_zero]
    assert received[first_zero + 1 : first_zero + 20] != data[first_zero + 1 : first_zero + 20]


def test_8n1_read_at_8e1_loses_the_framing() -> None:
    data = bytes(random.Random(4).randbytes(200))
    received = through_line(data, fmt("2400 8N1"), fmt("2400 8E1"))
    assert received[:1] == data[:1]  # the first character is whole, then the stop bits drift
    assert len(received) < len(data)
    assert received[1:] not in data


def test_a_slow_meter_read_fast_is_a_row_of_breaks() -> None:
    received = through_line(TEXT, fmt("2400 8N1"), fmt("115200 8N1"))
    assert len(received) > len(TEXT)
    assert received.count(0) > len(received) // 2
    flagged = through_line(TEXT, fmt("2400 8N1"), fmt("115200 8N1"), InputFlags(parmrk=True))
    assert b"\xff\x00\x00" in flagged
    assert through_line(TEXT, fmt("2400 8N1"), fmt("115200 8N1"), InputFlags(ignbrk=True)) != (
        received
    )


def test_a_fast_meter_read_slow_is_a_few_random_bytes() -> None:
    received = through_line(TEXT * 10, fmt("115200 8N1"), fmt("9600 8N1"))
    assert 0 < len(received) < len(TEXT)


def test_a_pulse_shorter_than_half_a_bit_is_not_a_start_bit() -> None:
    # 0xFF at 115200 is a start bit of 8.7 µs: at 9600 the middle of a start bit is 52 µs on.
    assert through_line(b"\xff" * 20, fmt("115200 8N1"), fmt("9600 8N1")) == b""


def test_the_receiver_delivers_only_characters_that_are_over() -> None:
    serial = fmt("9600 8N1")
    wire = Wire(serial.baudrate)
    wire.send(transmit(b"AB", serial), 0.0)
    uart = UartReceiver(serial)
    bit = 1 / 9600
    assert uart.receive(wire, 9 * bit) == []  # the first stop bit is sampled at 9.5 bits
    assert [c.value for c in uart.receive(wire, 10 * bit)] == [0x41]
    assert [c.value for c in uart.receive(wire, 20 * bit)] == [0x42]


# -- what the tty delivers -------------------------------------------------------------------


def test_parity_errors_reach_the_reader_as_received_unless_inpck() -> None:
    data = b"\x01\x02\x03"  # each has a parity error when 8O1 is read at 8E1
    sent, read = fmt("9600 8O1"), fmt("9600 8E1")
    assert through_line(data, sent, read) == data
    assert through_line(data, sent, read, InputFlags(inpck=True)) == b"\x00\x00\x00"
    assert through_line(data, sent, read, InputFlags(inpck=True, ignpar=True)) == b""
    marked = through_line(data, sent, read, InputFlags(inpck=True, parmrk=True))
    assert marked == b"\xff\x00\x01\xff\x00\x02\xff\x00\x03"
    # PARMRK alone asks for marks, but without INPCK the driver reports nothing.
    assert through_line(data, sent, read, InputFlags(parmrk=True)) == data


def test_breaks_and_cread() -> None:
    brk = [Received(0, parity_error=True, framing_error=True, brk=True)]
    assert tty_input(brk, InputFlags()) == b"\x00"
    assert tty_input(brk, InputFlags(inpck=True)) == b"\x00"  # BI clears FE and PE
    assert tty_input(brk, InputFlags(brkint=True)) == b""  # SIGINT, nothing queued
    assert tty_input(brk, InputFlags(ignbrk=True)) == b""
    assert tty_input(brk, InputFlags(parmrk=True)) == b"\xff\x00\x00"
    assert tty_input([Received(0x41)], InputFlags(cread=False)) == b""


def test_parse_format() -> None:
    assert parse_format("2400 8E1") == SerialSettings(2400, 8, "E", 1)
    assert parse_format("115200/7e1") == SerialSettings(115200, 7, "E", 1)
    assert parse_format("9600-8N2") == SerialSettings(9600, 8, "N", 2)
    for wrong in ("2400", "8E1 2400", "2400 9E1", "2400 8X1", "0 8N1", "2400 8E3"):
        with pytest.raises(ValueError):
            parse_format(wrong)


# -- the pseudo-terminal ---------------------------------------------------------------------


def test_a_pty_keeps_the_speed_but_forgets_parity_and_data_bits() -> None:
    """The environment fact the line is built around (see simulate/uart.py)."""
    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        attributes = termios.tcgetattr(slave)
        attributes[2] = termios.CREAD | termios.CLOCAL | termios.CS7 | termios.PARENB
        attributes[2] |= termios.PARODD | termios.CSTOPB
        attributes[4] = attributes[5] = termios.B2400
        termios.tcsetattr(slave, termios.TCSANOW, attributes)
        # tcgetattr on the master returns the slave's settings.
        seen = termios.tcgetattr(master)
        assert seen[4] == termios.B2400
        assert seen[2] & termios.CSIZE == termios.CS8
        assert not seen[2] & termios.PARENB
        assert seen[2] & termios.PARODD and seen[2] & termios.CSTOPB
        # The second identical request changes nothing the pty keeps: glibc refuses it here.
        try:
            termios.tcsetattr(slave, termios.TCSANOW, attributes)
        except termios.error:
            pass
        else:
            pytest.skip("this C library accepts a request that changes nothing")
    finally:
        os.close(master)
        os.close(slave)


LINE_METER = Meter(Standard.LG_MBUS, "lg-e450", "2400 8E1", "cii")


async def read_for(url: str, serial: SerialSettings, seconds: float) -> bytes:
    stream = await open_stream(url, serial)
    data = b""
    try:
        async with asyncio.timeout(seconds):
            while True:
                data += await stream.read()
    except TimeoutError:
        pass
    finally:
        await stream.close()
    return data


async def test_readers_may_reopen_the_line_any_number_of_times_with_any_format() -> None:
    formats = ["2400 8E1", "2400 8E1", "2400 8N1", "2400 8E1", "115200 8N1", "115200 7E1"] * 4
    async with meter_on_line(LINE_METER) as (line, _source):
        for serial in formats:
            await read_for(line.path, fmt(serial), 0.05)
        assert [s.describe() for s in line.stats.reader_formats] == formats
        assert line.reader is not None and line.reader.announced


async def test_only_the_meters_format_gives_readings() -> None:
    spec = get_spec(Standard.LG_MBUS)
    async with meter_on_line(LINE_METER) as (line, _source):
        outcomes = {}
        for serial in ("2400 8E1", "2400 8N1", "9600 8E1"):
            data = await read_for(line.path, fmt(serial), 1.2)
            decoder = spec.create_decoder(DecoderOptions())
            results = decoder.feed(data)
            readings = [r for r in results if not isinstance(r, RejectedFrame)]
            outcomes[serial] = (len(readings), len(data))
    assert outcomes["2400 8E1"][0] >= 1
    assert outcomes["2400 8N1"][0] == 0 and outcomes["2400 8N1"][1] > 0
    assert outcomes["9600 8E1"][0] == 0 and outcomes["9600 8E1"][1] > 0


async def test_a_reader_in_another_process_is_read_from_the_terminal() -> None:
    """Without the open being announced, the line sees speed, stop bits and odd parity, and
    assumes the meter's data bits and (even) parity."""
    async with meter_on_line(LINE_METER) as (line, _source):
        fd = os.open(line.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            attributes = termios.tcgetattr(fd)
            attributes[0] = attributes[1] = attributes[3] = 0
            attributes[2] = termios.CREAD | termios.CLOCAL | termios.CS8 | termios.CSTOPB
            attributes[4] = attributes[5] = termios.B9600
            termios.tcsetattr(fd, termios.TCSANOW, attributes)
            await asyncio.sleep(0.05)
            assert line.reader is not None
            assert line.reader.serial == SerialSettings(9600, 8, "E", 2)
            assert not line.reader.announced
            attributes[2] |= termios.PARODD
            attributes[4] = attributes[5] = termios.B2400
            termios.tcsetattr(fd, termios.TCSANOW, attributes)
            await asyncio.sleep(0.05)
            assert line.reader.serial == SerialSettings(2400, 8, "O", 2)
        finally:
            os.close(fd)


class EchoMeter:
    """A polled meter that answers ``ping`` with ``pong`` and remembers what it heard."""

    standard = Standard.DSMR

    def __init__(self) -> None:
        self.heard: list[bytes] = []

    def frame_at(self, moment: datetime) -> bytes:
        return b""

    def respond(self, request: bytes, moment: datetime) -> bytes:
        self.heard.append(request)
        return b"pong" if request == b"ping" else b""


async def test_requests_cross_the_line_at_the_readers_format() -> None:
    meter = EchoMeter()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with source_on_line(meter, fmt("9600 8N1"), start=start) as line:
        for serial, answer in (("9600 8N1", b"pong"), ("2400 8N1", b"")):
            stream = await open_stream(line.path, fmt(serial))
            try:
                await stream.write(b"ping")
                data = b""
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.3):
                        while True:
                            data += await stream.read()
            finally:
                await stream.close()
            assert data == answer
    assert meter.heard[0] == b"ping"
    assert meter.heard[1] != b"ping"  # sent at 2400, heard at 9600: a few wrong bytes
    assert line.stats.requests == 2

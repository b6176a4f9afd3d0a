"""The KMP poller against the simulated meter: cycle by cycle over the in-process stream,
then in a real MeterSession (simulator://kmp, pseudo-terminals at 1200 8N2 and 9600 8N1, an
echoing line), the connection test, and the command-line tool."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ch_smart_meter.reader import cli
from custom_components.ch_smart_meter.reader.errors import CrcError, FrameError, NoData
from custom_components.ch_smart_meter.reader.kmp import codec
from custom_components.ch_smart_meter.reader.kmp.codec import Command
from custom_components.ch_smart_meter.reader.kmp.poller import (
    OPTICAL_SERIAL,
    USB_SERIAL,
    KmpPoller,
    Step,
    register_steps,
)
from custom_components.ch_smart_meter.reader.kmp.registers import VALUE_REGISTERS
from custom_components.ch_smart_meter.reader.model import (
    DecodeResult,
    Reading,
    RejectedFrame,
    SerialSettings,
    Standard,
)
from custom_components.ch_smart_meter.reader.polling import DialogueStats, Link
from custom_components.ch_smart_meter.reader.session import MeterSession, probe
from custom_components.ch_smart_meter.reader.simulate import kmp_meter
from custom_components.ch_smart_meter.reader.simulate.kmp_meter import KmpMeter, serial_number
from custom_components.ch_smart_meter.reader.simulate.outputs import PtyOutput
from custom_components.ch_smart_meter.reader.simulate.source import Simulator, SourceOptions
from custom_components.ch_smart_meter.reader.simulate.stream import SimulatedStream
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec
from custom_components.ch_smart_meter.reader.transport import register_opener
from tests.reader.test_cli import start_simulator, stop

pytestmark = pytest.mark.usefixtures("socket_enabled")

SPEC = get_spec("kmp")
# Cycles back to back: the tests need not wait for the meter's minimum interval.
FAST = replace(SPEC, min_poll_interval=0.01)
MOMENT = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)
OPTIONS = DecoderOptions(clock=lambda: MOMENT)
L3_REGISTERS = ["0420", "0436", "043A", "0542"]


@dataclass
class Wire:
    """Between reader and meter: records the requests and the bytes both ways, and echoes
    each request first when ``echo`` (an optical head or RS-485 adapter that hears itself)."""

    meter: KmpMeter
    echo: bool = False
    requests: list[codec.Frame] = field(default_factory=list)
    written: int = 0
    answered: int = 0

    @property
    def standard(self) -> Standard:
        return Standard.KMP

    def frame_at(self, moment: datetime) -> bytes:
        return b""

    def respond(self, request: bytes, moment: datetime) -> bytes:
        self.written += len(request)
        with contextlib.suppress(FrameError):  # a piece of a request (pseudo-terminal)
            self.requests.append(codec.decode_frame(request))
        answer = self.meter.respond(request, moment)
        self.answered += len(answer)
        return (request if self.echo else b"") + answer

    def commands(self) -> list[tuple[int, int]]:
        """(command, registers asked) of each request so far; then forget them."""
        found = [(r.command, r.data[0] if r.data else 0) for r in self.requests]
        self.requests.clear()
        return found

    def asked(self) -> set[int]:
        registers = set()
        for request in self.requests:
            data = request.data[1:]
            registers |= {int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)}
        return registers


def expected(meter: KmpMeter) -> dict[str, float]:
    """What a reader must show of the meter's latest answers (high resolution preferred)."""
    latest = dict(meter.latest)
    if meter.high_resolution:
        latest = {r: v for r, v in latest.items() if r not in kmp_meter.LOW_RESOLUTION}
    latest.pop(kmp_meter.SERIAL_REGISTER, None)
    return {kmp_meter.FORMATS[r].code: float(v) for r, v in latest.items()}


@contextlib.asynccontextmanager
async def linked(source: Wire) -> AsyncIterator[Link]:
    """A :class:`Link` to the simulated meter over the in-process stream."""
    stream = SimulatedStream(Simulator(source), "test")
    link = Link(stream, DialogueStats())
    receiving = asyncio.create_task(stream.receive(link.feed))
    try:
        yield link
    finally:
        await stream.close()
        receiving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiving


async def cycle(poller: KmpPoller, link: Link) -> list[DecodeResult]:
    results: list[DecodeResult] = []
    async with asyncio.timeout(poller.cycle_timeout()):
        await poller.poll(link, results.append)
    return results


def only_reading(results: list[DecodeResult]) -> Reading:
    (reading,) = results
    assert isinstance(reading, Reading)
    return reading


# -- cycle by cycle ------------------------------------------------------------------------


async def test_first_cycle_identifies_the_meter_then_only_preferred_registers() -> None:
    meter = KmpMeter()
    wire = Wire(meter)
    poller = KmpPoller(OPTIONS)
    async with linked(wire) as link:
        reading = only_reading(await cycle(poller, link))
        g, s, t = Command.GET_REGISTER, Command.GET_SERIAL, Command.GET_TYPE
        assert wire.commands() == [(s, 0), (t, 0), (g, 8), (g, 8), (g, 2)]
        assert reading.values == expected(meter)
        assert reading.meter_id == str(meter.serial)
        assert (reading.manufacturer, reading.model) == ("Kamstrup", "KMP type 017E, software A3")
        assert reading.timestamp == MOMENT

        reading = only_reading(await cycle(poller, link))
        assert wire.asked() == {r.register for r in VALUE_REGISTERS if r.rank == 0}
        assert wire.commands() == [(g, 8), (g, 8)]
        assert reading.values == expected(meter)
        assert set(reading.values) == {r.code for r in VALUE_REGISTERS}
    diagnostics = poller.diagnostics()
    assert diagnostics["meter_serial"] == str(meter.serial)
    assert diagnostics["registers_missing"] == []
    assert diagnostics["registers_answered"]["000D"] == "kWh"
    assert diagnostics["registers_answered"]["03FF"] == "kW"
    assert link.stats.timeouts == link.stats.retries == 0


async def test_a_meter_without_phase_3_costs_no_request() -> None:
    meter = KmpMeter(missing_phase=3)
    wire = Wire(meter)
    poller = KmpPoller(OPTIONS)
    async with linked(wire) as link:
        first = only_reading(await cycle(poller, link))
        wire.commands()
        second = only_reading(await cycle(poller, link))
        missing = {int(r, 16) for r in L3_REGISTERS}
        assert not wire.asked() & missing
        assert wire.commands() == [(Command.GET_REGISTER, 8), (Command.GET_REGISTER, 4)]
    for reading in (first, second):
        assert not {"72.7.0", "71.7.0", "61.7.0", "62.7.0"} & set(reading.values)
    assert second.values == expected(meter)
    assert poller.diagnostics()["registers_missing"] == L3_REGISTERS
    poller.reset()  # another connection: maybe another meter
    assert poller.diagnostics()["registers_missing"] == []


async def test_without_high_resolution_the_energies_come_from_0001_and_0002() -> None:
    meter = KmpMeter(high_resolution=False)
    wire = Wire(meter)
    poller = KmpPoller(OPTIONS)
    async with linked(wire) as link:
        await cycle(poller, link)
        wire.commands()
        reading = only_reading(await cycle(poller, link))
        assert {0x0001, 0x0002} <= wire.asked()
        assert not {0x000D, 0x000E} & wire.asked()
    assert reading.values["1.8.0"] == float(meter.latest[0x0001])
    assert reading.values == expected(meter)


async def test_the_serial_number_register_stands_in_for_getserialno() -> None:
    meter = KmpMeter(ignored_commands={Command.GET_SERIAL, Command.GET_TYPE})
    wire = Wire(meter)
    poller = KmpPoller(OPTIONS, serial=USB_SERIAL)
    async with linked(wire) as link:
        reading = only_reading(await cycle(poller, link))
        assert reading.meter_id == str(meter.serial) and reading.model is None
        assert link.stats.timeouts == 3 and link.stats.retries == 1  # GetType: one try
        assert kmp_meter.SERIAL_REGISTER in wire.asked()
        wire.commands()
        await cycle(poller, link)
        assert kmp_meter.SERIAL_REGISTER not in wire.asked()  # known now


async def test_a_lost_and_a_corrupted_answer_are_asked_again() -> None:
    meter = KmpMeter(drop_answers=1)
    poller = KmpPoller(OPTIONS, serial=USB_SERIAL)
    async with linked(Wire(meter)) as link:
        reading = only_reading(await cycle(poller, link))
        assert reading.meter_id == str(meter.serial)
        assert (link.stats.timeouts, link.stats.retries) == (1, 1)
        meter.corrupt_answers = 1
        rejected, reading = await cycle(poller, link)
        assert isinstance(rejected, RejectedFrame) and isinstance(rejected.error, CrcError)
        assert isinstance(reading, Reading) and reading.values == expected(meter)
        assert (link.stats.timeouts, link.stats.retries) == (1, 2)
        # Garbled twice: that batch gives nothing this cycle, but is asked again.
        meter.corrupt_answers = 2
        *rejections, reading = await cycle(poller, link)
        assert len(rejections) == 2 and isinstance(reading, Reading)
        assert "1.8.0" not in reading.values and "21.7.0" in reading.values
        assert poller.diagnostics()["registers_missing"] == []
        assert poller.diagnostics()["last_error"] == "checksum mismatch: KMP CRC-16"
        assert "1.8.0" in only_reading(await cycle(poller, link)).values


async def test_the_echo_of_every_request_is_skipped() -> None:
    meter = KmpMeter()
    wire = Wire(meter, echo=True)
    poller = KmpPoller(OPTIONS)
    async with linked(wire) as link:
        for _ in range(2):
            assert only_reading(await cycle(poller, link)).values == expected(meter)
    assert link.stats.echoes == link.stats.requests == 7
    assert link.stats.timeouts == 0


def test_timeouts_follow_the_wire_time() -> None:
    (batch,) = register_steps(VALUE_REGISTERS[:8])
    assert 0.8 < batch.timeout(USB_SERIAL) <= 1.0
    assert 1.8 < batch.timeout(OPTICAL_SERIAL) < 2.5
    identify = Step(Command.GET_SERIAL, codec.request(Command.GET_SERIAL), 10)
    assert identify.timeout(OPTICAL_SERIAL) < batch.timeout(OPTICAL_SERIAL)
    poller = KmpPoller(OPTIONS)
    # First cycle: GetSerialNo (2 tries), GetType (1), three batches (2 each).
    assert 12 < poller.cycle_timeout() < 18


def test_the_minimum_poll_interval_is_the_wire_time_at_1200_baud() -> None:
    assert SPEC.min_poll_interval == 2.0
    assert SPEC.interval >= SPEC.min_poll_interval


# -- in a reading session ------------------------------------------------------------------

_TEST_METERS: dict[str, Wire] = {}


async def _open_test_meter(url: str) -> SimulatedStream:
    return SimulatedStream(Simulator(_TEST_METERS[url.partition("://")[2]]), url)


# simulator://kmp with the simulated meter in reach of the test.
register_opener("kmp-test", _open_test_meter)


@dataclass
class Collected:
    readings: list[Reading] = field(default_factory=list)
    rejected: list[RejectedFrame] = field(default_factory=list)
    expected: list[dict[str, float]] = field(default_factory=list)
    meter: KmpMeter | None = None

    def __call__(self, result: DecodeResult) -> None:
        if isinstance(result, Reading):
            self.readings.append(result)
            if self.meter is not None:  # what the meter said, at the moment of the reading
                self.expected.append(expected(self.meter))
        else:
            self.rejected.append(result)


async def run_session(url: str, collected: Collected, count: int, **kwargs: Any) -> dict[str, Any]:
    session = MeterSession(url, FAST, OPTIONS, on_result=collected, poll_interval=0.02, **kwargs)
    task = asyncio.create_task(session.run())
    try:
        async with asyncio.timeout(30):
            while len(collected.readings) < count:
                await asyncio.sleep(0.02)
    finally:
        await session.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return {"stats": session.stats, **session.diagnostics()}


async def test_session_over_simulator_url() -> None:
    collected = Collected()
    state = await run_session("simulator://kmp?seed=5", collected, 3)
    assert {r.meter_id for r in collected.readings} == {str(serial_number(5))}
    assert all(set(r.values) == {v.code for v in VALUE_REGISTERS} for r in collected.readings)
    assert state["meter_serial"] == str(serial_number(5))
    assert state["dialogue"]["cycles"] >= 3 and state["stats"].frames_rejected == 0


async def test_session_values_equal_the_meters_and_survive_lost_and_garbled_answers() -> None:
    meter = KmpMeter(drop_answers=1, corrupt_answers=1)
    _TEST_METERS["survive"] = Wire(meter)
    collected = Collected(meter=meter)
    state = await run_session("kmp-test://survive", collected, 4)
    assert [r.values for r in collected.readings] == collected.expected
    assert state["stats"].rejected_by_reason == {"crc_mismatch": 1}
    # GetSerialNo: the answer lost, then the retry's answer garbled; register 0x03E9 then
    # gave the serial number, in the same cycle.
    assert state["dialogue"]["timeouts"] == 1 and state["dialogue"]["retries"] == 1
    assert [type(r.error) for r in collected.rejected] == [CrcError]
    assert {r.meter_id for r in collected.readings} == {str(meter.serial)}


@pytest.mark.parametrize(
    ("settings", "echo"),
    [(OPTICAL_SERIAL, True), (USB_SERIAL, False)],
    ids=["1200-8N2", "9600-8N1"],
)
async def test_session_over_a_pseudo_terminal(settings: SerialSettings, echo: bool) -> None:
    meter = KmpMeter(SourceOptions(seed=2))
    wire = Wire(meter, echo=echo)
    pty = PtyOutput(Simulator(wire))
    collected = Collected(meter=meter)
    try:
        state = await run_session(pty.path, collected, 3, serial=settings)
    finally:
        await pty.close()
    assert [r.values for r in collected.readings] == collected.expected
    assert collected.readings[0].meter_id == str(meter.serial)
    dialogue = state["dialogue"]
    # Every echo skipped; the request in flight when the session closed may lack its own.
    if echo:
        assert dialogue["requests"] - 1 <= dialogue["echoes"] <= dialogue["requests"]
    else:
        assert dialogue["echoes"] == 0
    assert dialogue["timeouts"] == 0
    assert state["stats"].frames_rejected == 0


# -- connection test -----------------------------------------------------------------------


async def test_probe_reads_the_simulated_meter() -> None:
    reading = await probe("simulator://kmp", SPEC, DecoderOptions(), timeout=10)
    assert reading.meter_id == str(serial_number(1))
    assert {"1.8.0", "2.8.0", "1.7.0", "32.7.0"} <= set(reading.values)


async def test_probe_of_a_silent_pseudo_terminal_is_no_data(pty_pair: tuple[int, str]) -> None:
    _, path = pty_pair
    with pytest.raises(NoData):
        await probe(path, SPEC, DecoderOptions(), timeout=1.5)


# -- command-line tool ---------------------------------------------------------------------


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(args), stdout=out, stderr=err)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def meter_documents(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line)["meter"] for line in stdout.splitlines()]


def test_cli_reads_the_simulated_meter() -> None:
    result = invoke(
        "read", "--standard", "kmp", "--port", "simulator://kmp", "--count", "2", "--timeout", "30"
    )
    assert result.returncode == 0, result.stderr
    documents = meter_documents(result.stdout)
    assert len(documents) == 2
    assert {d["96.1.1"] for d in documents} == {str(serial_number(1))}


def test_cli_simulates_a_meter_on_tcp_and_reads_it() -> None:
    simulator, url = start_simulator("--standard", "kmp", "--tcp", "0", "--seed", "9")
    try:
        result = invoke(
            "read", "--standard", "kmp", "--port", url, "--count", "1", "--timeout", "30"
        )
    finally:
        assert stop(simulator) == 0
    assert result.returncode == 0, result.stderr
    (document,) = meter_documents(result.stdout)
    assert document["96.1.1"] == str(serial_number(9))
    assert document["1.8.0"] > 0


# -- what a cycle costs on the wire --------------------------------------------------------


def wire_seconds(byte_count: int, bits: int, baudrate: int) -> float:
    return byte_count * bits / baudrate


async def test_wire_time_of_a_cycle(capsys: pytest.CaptureFixture[str]) -> None:
    """Bytes exchanged in the first cycle after connecting (identification, every register,
    both energy resolutions) and in a steady cycle, and a Table 1 exchange alone."""
    meter = KmpMeter()
    wire = Wire(meter)
    poller = KmpPoller(OPTIONS)
    figures: dict[str, int] = {}
    async with linked(wire) as link:
        await cycle(poller, link)
        figures["first cycle"] = wire.written + wire.answered
        wire.written = wire.answered = 0
        await cycle(poller, link)
        figures["steady cycle (Tables 1 and 2)"] = wire.written + wire.answered
    table_1 = [r.register for r in VALUE_REGISTERS if r.table == 1 and r.rank == 0]
    requests = [codec.get_register_request(table_1[:8]), codec.get_register_request(table_1[8:])]
    table_1_bytes = 0
    for request in requests:
        table_1_bytes += len(request) + len(meter.respond(request, MOMENT))
    figures["Table 1 alone"] = table_1_bytes
    with capsys.disabled():
        print()
        for name, count in figures.items():
            fast = wire_seconds(count, 10, 9600)
            slow = wire_seconds(count, 11, 1200)
            print(f"KMP {name}: {count} bytes, {fast:.3f} s at 9600 8N1, {slow:.3f} s at 1200 8N2")
    assert all(wire_seconds(count, 10, 9600) <= 2.0 for count in figures.values())
    assert (
        wire_seconds(figures["steady cycle (Tables 1 and 2)"], 11, 1200) <= SPEC.min_poll_interval
    )

"""The MEP poller in a real reading session, against the simulated NES meter.

Over ``simulator://mep``, over a real pseudo-terminal (the simulator's PtyOutput) and over
TCP; with lost, corrupted and segmented answers, a meter that lost its sequence number, a
wrong key, no key, and a port that requires TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

import pytest
import serialx

from custom_components.ch_smart_meter.reader import transport
from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    KeyRejected,
    KeyRequired,
    TlsRequired,
)
from custom_components.ch_smart_meter.reader.mep.poller import (
    KEY_RETRY,
    MepPoller,
    answer_timeout,
)
from custom_components.ch_smart_meter.reader.model import (
    DecodeResult,
    Reading,
    RejectedFrame,
    Standard,
    TimeSource,
)
from custom_components.ch_smart_meter.reader.session import MeterSession, probe
from custom_components.ch_smart_meter.reader.simulate import stream as simulator_stream
from custom_components.ch_smart_meter.reader.simulate.mep_meter import DEMO_MBK, MepSource
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.outputs import PtyOutput, TcpOutput
from custom_components.ch_smart_meter.reader.simulate.source import Simulator, SourceOptions
from custom_components.ch_smart_meter.reader.spec import DecoderOptions, StandardSpec
from custom_components.ch_smart_meter.reader.standards import get_spec

pytestmark = pytest.mark.usefixtures("socket_enabled")

SPEC = get_spec(Standard.MEP)
OPTIONS = DecoderOptions(encryption_key=DEMO_MBK)
# The schedule of tests: the meter's minimum, not the five seconds of normal use.
FAST = dataclasses.replace(SPEC, min_poll_interval=0.2)
POLL_INTERVAL = 0.3


def as_floats(values: dict[str, Decimal]) -> dict[str, float]:
    return {code: float(value) for code, value in values.items()}


@dataclasses.dataclass
class Run:
    """What a session delivered, with the simulator's truth at each reading."""

    results: list[DecodeResult] = dataclasses.field(default_factory=list)
    expected: list[dict[str, float]] = dataclasses.field(default_factory=list)
    measured_at: list[datetime] = dataclasses.field(default_factory=list)
    session: MeterSession | None = None

    @property
    def readings(self) -> list[Reading]:
        return [r for r in self.results if isinstance(r, Reading)]

    @property
    def rejected(self) -> list[RejectedFrame]:
        return [r for r in self.results if isinstance(r, RejectedFrame)]


async def read_session(
    url: str,
    readings: int,
    *,
    source: MepSource | None = None,
    spec: StandardSpec = FAST,
    options: DecoderOptions = OPTIONS,
    on_reading: Callable[[int], None] | None = None,
    timeout: float = 20,
) -> Run:
    """Run a session until ``readings`` readings came; ``on_reading(n)`` after the n-th."""
    run = Run()

    def on_result(result: DecodeResult) -> None:
        run.results.append(result)
        if isinstance(result, Reading):
            if source is not None and source.measurement is not None:
                run.expected.append(as_floats(source.measurement.expected))
                run.measured_at.append(source.measurement.state.timestamp)
            if on_reading is not None:
                on_reading(len(run.readings))

    session = run.session = MeterSession(
        url, spec, options, on_result=on_result, poll_interval=POLL_INTERVAL
    )
    task = asyncio.create_task(session.run())
    try:
        async with asyncio.timeout(timeout):
            while len(run.readings) < readings:
                await asyncio.sleep(0.02)
    finally:
        await session.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return run


@contextlib.asynccontextmanager
async def on_pty(
    model: str | None = None, **options: object
) -> AsyncIterator[tuple[str, MepSource]]:
    source = create_source(Standard.MEP, SourceOptions(seed=7, model=model, **options))  # type: ignore[arg-type]
    assert isinstance(source, MepSource)
    output = PtyOutput(Simulator(source))
    try:
        yield output.path, source
    finally:
        await output.close()


def assert_readings_match(run: Run) -> None:
    assert run.readings and len(run.readings) == len(run.expected)
    for reading, expected in zip(run.readings, run.expected, strict=True):
        assert dict(reading.values) == expected


# -- normal operation ------------------------------------------------------------------------


async def test_simulator_url_with_a_real_session() -> None:
    """Readings over simulator://mep equal the simulated meter's state, exactly."""
    captured: list[MepSource] = []
    real_open = simulator_stream.open_simulated_stream

    def spying_open(url: str) -> simulator_stream.SimulatedStream:
        stream = real_open(url)
        assert isinstance(stream.simulator.source, MepSource)
        captured.append(stream.simulator.source)
        return stream

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(simulator_stream, "open_simulated_stream", spying_open)
        run = Run()

        def on_result(result: DecodeResult) -> None:
            run.results.append(result)
            measurement = captured[0].measurement
            if isinstance(result, Reading) and measurement is not None:
                run.expected.append(as_floats(measurement.expected))
                run.measured_at.append(measurement.state.timestamp)

        session = MeterSession(
            "simulator://mep", FAST, OPTIONS, on_result=on_result, poll_interval=POLL_INTERVAL
        )
        task = asyncio.create_task(session.run())
        try:
            async with asyncio.timeout(20):
                while len(run.readings) < 3:
                    await asyncio.sleep(0.02)
        finally:
            await session.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert_readings_match(run)
    reading = run.readings[0]
    assert reading.meter_id == captured[0].utility_serial
    assert (reading.manufacturer, reading.model) == ("NES", "83335-3I")
    assert reading.time_source is TimeSource.METER
    assert reading.timestamp == run.measured_at[0].replace(microsecond=0)  # BT52, whole seconds
    assert {"1.8.0", "2.8.0", "1.7.0", "32.7.0", "31.7.0", "21.7.0", "14.7.0"} <= set(
        reading.values
    )
    assert run.rejected == []
    diagnostics = session.diagnostics()
    assert diagnostics["firmware"] == "4.30.05" and diagnostics["meter_id"] == reading.meter_id
    assert diagnostics["dialogue"]["resynchronisations"] == 1  # the first guess
    assert diagnostics["dialogue"]["timeouts"] == 0
    assert DEMO_MBK.decode() not in repr(diagnostics) and DEMO_MBK.hex() not in repr(diagnostics)


async def test_session_on_a_real_pty() -> None:
    async with on_pty() as (path, source):
        run = await read_session(path, 2, source=source)
    assert_readings_match(run)
    assert run.readings[0].meter_id == source.utility_serial


@pytest.mark.parametrize("model", ["nes-ct", "nes-demand"])
async def test_transformer_and_demand_meters(model: str) -> None:
    """A CT meter reads the post-CT/VT sources and ET55's energy unit; a meter with
    demands has the count byte in BT23 and present demands before BT28's values."""
    async with on_pty(model) as (path, source):
        run = await read_session(path, 2, source=source)
    assert_readings_match(run)
    diagnostics = run.session.diagnostics()  # type: ignore[union-attr]
    if model == "nes-ct":
        assert (diagnostics["ct_ratio"], diagnostics["energy_unit"]) == (40, 10)


async def test_rc4_encrypted_dialogue() -> None:
    spec = dataclasses.replace(FAST, create_poller=partial(MepPoller, encrypt=True))
    async with on_pty() as (path, source):
        run = await read_session(path, 2, source=source, spec=spec)
    assert_readings_match(run)
    assert run.session.diagnostics()["encrypted"] is True  # type: ignore[union-attr]


# -- trouble -------------------------------------------------------------------------------------


async def test_a_lost_answer_is_resent_and_survived() -> None:
    async with on_pty() as (path, source):
        run = await read_session(
            path, 3, source=source, on_reading=lambda n: source.drop_answers() if n == 1 else None
        )
    assert_readings_match(run)
    dialogue = run.session.diagnostics()["dialogue"]  # type: ignore[union-attr]
    assert dialogue["timeouts"] == 1 and dialogue["retries"] == 1
    # The identical resend reused a number the meter had taken: one more 0x0C.
    assert dialogue["resynchronisations"] == 2
    assert run.rejected == []


async def test_a_meter_that_lost_its_sequence_number_is_followed() -> None:
    def reset_meter(count: int) -> None:
        if count == 1:
            source.sequence = 0x12345678

    async with on_pty() as (path, source):
        run = await read_session(path, 3, source=source, on_reading=reset_meter)
    assert run.session.diagnostics()["dialogue"]["resynchronisations"] == 2  # type: ignore[union-attr]
    assert run.rejected == [] and len(run.readings) == 3


async def test_a_corrupted_answer_is_dropped_and_counted() -> None:
    async with on_pty() as (path, source):
        run = await read_session(
            path,
            3,
            source=source,
            on_reading=lambda n: source.corrupt_answers() if n == 1 else None,
        )
    assert_readings_match(run)
    (rejected,) = run.rejected
    assert isinstance(rejected.error, CrcError) and "digest" in rejected.error.message
    session = run.session
    assert session is not None
    assert session.stats.rejected_by_reason == {"crc_mismatch": 1}
    assert session.diagnostics()["answers_dropped"] == 1


async def test_segmented_answers_over_tcp() -> None:
    """Answers in 117-byte pieces 25 ms apart, like the meter sends long ones."""
    source = create_source(Standard.MEP, SourceOptions(seed=7))
    assert isinstance(source, MepSource)
    pieces = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal pieces
        with contextlib.suppress(ConnectionError):
            while request := await reader.read(4096):
                answer = source.respond(request, datetime.now(UTC))
                for start in range(0, len(answer), 117):
                    writer.write(answer[start : start + 117])
                    await writer.drain()
                    pieces += 1
                    await asyncio.sleep(0.025)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        run = await read_session(f"socket://127.0.0.1:{port}", 2, source=source)
    assert_readings_match(run)
    assert pieces > 2 * 4  # BT28's answer alone takes several pieces
    assert answer_timeout(336) > 0.5 + 349 * 10 / 9600


async def test_tcp_output_two_cycles() -> None:
    source = create_source(Standard.MEP, SourceOptions(seed=2))
    assert isinstance(source, MepSource)
    output = TcpOutput(Simulator(source))
    port = await output.start()
    try:
        run = await read_session(f"socket://127.0.0.1:{port}", 2, source=source)
    finally:
        await output.close()
    assert_readings_match(run)


# -- keys and TLS: the live check ----------------------------------------------------------------


async def test_probe_reads_a_meter() -> None:
    reading = await probe("simulator://mep", SPEC, OPTIONS, timeout=10)
    assert reading.values["1.8.0"] > 0


async def test_probe_with_a_wrong_key_is_key_rejected() -> None:
    wrong = DecoderOptions(encryption_key=b"NOT-THE-METERS-KEY!!")
    with pytest.raises(KeyRejected, match="the MEP key is wrong"):
        await probe("simulator://mep", SPEC, wrong, timeout=10)
    with pytest.raises(KeyRequired):
        await probe("simulator://mep", SPEC, DecoderOptions(), timeout=10)


async def test_a_wrong_key_is_not_tried_again_at_once() -> None:
    """A meter may log each failed authentication: one try per KEY_RETRY seconds."""
    async with on_pty() as (path, source):
        run = Run()
        session = MeterSession(
            path,
            FAST,
            DecoderOptions(encryption_key=b"NOT-THE-METERS-KEY!!"),
            on_result=run.results.append,
            poll_interval=POLL_INTERVAL,
        )
        task = asyncio.create_task(session.run())
        await asyncio.sleep(1.5)
        await session.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert source.requests == 1 and KEY_RETRY >= 60
    (rejected,) = run.rejected
    assert isinstance(rejected.error, KeyRejected)
    assert session.diagnostics()["stopped_by"] == "key_rejected"


async def test_probe_of_a_tls_port_says_so() -> None:
    async with on_pty("nes-tls") as (path, _):
        with pytest.raises(TlsRequired) as caught:
            await probe(path, SPEC, OPTIONS, timeout=10)
    assert caught.value.reason == "tls_required"
    assert "requires TLS, which this integration does not support yet" in caught.value.message


async def test_the_port_is_opened_with_rts_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    """RTS is the MEP enable input; a pseudo-terminal has no modem lines and must not fail."""
    calls: list[dict[str, object]] = []
    real_open = serialx.create_serial_connection

    async def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return await real_open(*args, **kwargs)

    monkeypatch.setattr(transport.serialx, "create_serial_connection", spy)
    async with on_pty() as (path, _):
        reading = await probe(path, SPEC, OPTIONS, timeout=10)
    assert reading.values
    assert calls[0]["rts_on_open"] is serialx.PinState.HIGH
    assert (calls[0]["baudrate"], calls[0]["parity"]) == (9600, serialx.Parity.NONE)

"""The reading session (reconnects, stale connections, counters) and the connection test."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from custom_components.ch_smart_meter.reader.errors import (
    DecryptionFailed,
    KeyRequired,
    NoData,
    NoValidFrame,
    ReaderError,
    TransportError,
)
from custom_components.ch_smart_meter.reader.model import DecodeResult, Reading, RejectedFrame
from custom_components.ch_smart_meter.reader.session import (
    JITTER,
    MeterSession,
    probe,
    silence_timeout_for,
)
from custom_components.ch_smart_meter.reader.simulate.household import SWISS_TIME
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.outputs import TcpOutput, run
from custom_components.ch_smart_meter.reader.simulate.source import (
    DEMO_KEY,
    Simulator,
    SourceOptions,
)
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

pytestmark = pytest.mark.usefixtures("socket_enabled")

SESSION_LOGGER = "custom_components.ch_smart_meter.reader.session"


@pytest.fixture
def spec():
    return get_spec("dsmr")


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def telegram(seed: int = 1, second: int = 0) -> bytes:
    from datetime import datetime  # noqa: PLC0415

    source = create_source("dsmr", SourceOptions(seed=seed))
    return source.frame_at(datetime(2026, 6, 17, 12, 0, second, tzinfo=SWISS_TIME))


class Recorder:
    """Collects what a session reports."""

    def __init__(self) -> None:
        self.results: list[DecodeResult] = []
        self.connection: list[tuple[bool, ReaderError | None]] = []
        self.changed = asyncio.Event()

    def on_result(self, result: DecodeResult) -> None:
        self.results.append(result)
        self.changed.set()

    def on_connection(self, connected: bool, error: ReaderError | None) -> None:
        self.connection.append((connected, error))
        self.changed.set()

    @property
    def readings(self) -> list[Reading]:
        return [r for r in self.results if isinstance(r, Reading)]

    async def wait_for(self, condition, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def meter_on_tcp(
    port: int = 0, interval: float = 0.02, seed: int = 1, key: bytes | None = None
) -> AsyncIterator[TcpOutput]:
    """A simulated DSMR meter behind a TCP server (like ser2net), sending until closed."""
    simulator = Simulator(
        create_source("dsmr", SourceOptions(seed=seed, key=key)), interval=interval, acceleration=50
    )
    output = TcpOutput(simulator)
    await output.start(port=port)
    sender = asyncio.create_task(run(simulator, output))
    try:
        yield output
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        await output.close()


@contextlib.asynccontextmanager
async def running(session: MeterSession) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(session.run())
    try:
        yield task
    finally:
        await session.close()
        async with asyncio.timeout(5):
            await task


async def until_reading(master: int, recorder: Recorder, frame: bytes) -> None:
    """Write ``frame`` until the reader, which opens the port at its own pace, decodes one."""
    async with asyncio.timeout(5):
        while not recorder.readings:
            os.write(master, frame)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await recorder.wait_for(lambda: bool(recorder.readings))


async def until_reading_count(master: int, recorder: Recorder, frame: bytes, count: int) -> None:
    async with asyncio.timeout(5):
        while len(recorder.readings) < count:
            os.write(master, frame)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await recorder.wait_for(lambda: len(recorder.readings) >= count)


def keep_writing(master: int, data: bytes, every: float = 0.02) -> asyncio.Task[None]:
    """Write ``data`` again and again (a probe opens the port at its own pace)."""

    async def write() -> None:
        while True:
            with contextlib.suppress(BlockingIOError):
                os.write(master, data)
            await asyncio.sleep(every)

    return asyncio.create_task(write())


@contextlib.asynccontextmanager
async def writing(master: int, data: bytes) -> AsyncIterator[None]:
    task = keep_writing(master, data)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- the session -------------------------------------------------------------------------


async def test_session_delivers_readings_in_order(spec) -> None:
    recorder = Recorder()
    before = open_fds()
    async with meter_on_tcp() as meter:
        session = MeterSession(
            f"socket://127.0.0.1:{meter.port}",
            spec,
            DecoderOptions(),
            on_result=recorder.on_result,
            on_connection=recorder.on_connection,
            history=3,
        )
        async with running(session):
            await recorder.wait_for(lambda: len(recorder.readings) >= 6)
            stats = session.stats
            assert stats.connected
            frames = session.recent_frames
    stamps = [r.timestamp for r in recorder.readings]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert recorder.connection == [(True, None)]
    assert stats.frames_ok >= 6 and stats.frames_rejected == 0 and stats.reconnects == 0
    assert stats.bytes_received >= 6 * 700
    assert len(frames) == 3 and all(f.startswith(b"/ISK5") for f in frames)
    assert session.stats.connected is False  # after close
    assert open_fds() - before == set()


async def test_session_reconnects_with_backoff_after_the_server_drops(
    spec, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=SESSION_LOGGER)
    recorder = Recorder()
    port = free_port()
    session = MeterSession(
        f"socket://127.0.0.1:{port}",
        spec,
        DecoderOptions(),
        on_result=recorder.on_result,
        on_connection=recorder.on_connection,
        backoff_initial=0.05,
        backoff_max=0.4,
    )
    first_meter = meter_on_tcp(port)
    await first_meter.__aenter__()
    async with running(session):
        try:
            await recorder.wait_for(lambda: len(recorder.readings) >= 2)
        finally:
            await first_meter.__aexit__(None, None, None)
        # The server is gone: connection lost once, then refused attempts with growing delays.
        await recorder.wait_for(lambda: len(recorder.connection) >= 2)
        await asyncio.sleep(1.6)
        async with meter_on_tcp(port):
            count = len(recorder.readings)
            await recorder.wait_for(lambda: len(recorder.readings) >= count + 2)
            reconnects, connected = session.stats.reconnects, session.stats.connected
    assert [c for c, _ in recorder.connection] == [True, False, True]
    lost = recorder.connection[1][1]
    assert isinstance(lost, TransportError) and "closed by the remote side" in lost.message
    assert reconnects >= 1 and connected

    delays = [
        float(m[1])
        for m in re.finditer(r"Next connection attempt to \S+ in ([\d.]+) s", caplog.text)
    ]
    # After a loss that followed good frames the first retry comes after the initial delay,
    # then each delay doubles (plus at most 10 % jitter) up to the cap.
    assert delays[0] < 0.05 * (1 + JITTER) + 0.01
    assert delays[1] >= 0.1 and delays[2] >= 0.2
    assert max(delays) <= 0.4 * (1 + JITTER) + 0.01
    assert 4 <= len(delays) <= 12  # not a busy loop
    # One warning for the loss, one info for the comeback: no log flood.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "lost" in warnings[0].getMessage()
    assert sum("Reconnected" in r.getMessage() for r in caplog.records) == 1


async def test_backoff_resets_after_a_good_frame(spec, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=SESSION_LOGGER)
    recorder = Recorder()
    async with meter_on_tcp() as meter:
        session = MeterSession(
            f"socket://127.0.0.1:{meter.port}",
            spec,
            DecoderOptions(),
            on_result=recorder.on_result,
            backoff_initial=0.05,
            backoff_max=5,
        )
        async with running(session):
            for round_ in range(3):
                await recorder.wait_for(lambda r=round_: len(recorder.readings) >= 2 * (r + 1))
                await meter.disconnect_clients()
                await recorder.wait_for(lambda r=round_: len(recorder.readings) >= 2 * (r + 1) + 1)
    delays = [
        float(m[1])
        for m in re.finditer(r"Next connection attempt to \S+ in ([\d.]+) s", caplog.text)
    ]
    assert len(delays) >= 3 and all(d < 0.05 * (1 + JITTER) + 0.01 for d in delays)


async def test_a_silent_open_connection_is_reconnected(spec) -> None:
    """A ser2net socket that stays open but silent (dead Wi-Fi bridge) is dropped and reopened."""
    recorder = Recorder()
    simulator = Simulator(create_source("dsmr", SourceOptions(seed=2)), interval=1, acceleration=50)
    server = TcpOutput(simulator)
    port = await server.start()
    session = MeterSession(
        f"socket://127.0.0.1:{port}",
        spec,
        DecoderOptions(),
        on_result=recorder.on_result,
        on_connection=recorder.on_connection,
        backoff_initial=0.02,
        silence_timeout=0.3,
    )
    try:
        async with running(session):
            async with asyncio.timeout(2):
                while server.clients == 0:
                    await asyncio.sleep(0.01)
            server.send(simulator.next_frame())  # one telegram, then silence
            await recorder.wait_for(lambda: len(recorder.readings) == 1)
            await recorder.wait_for(lambda: len(recorder.connection) == 2)
            lost = recorder.connection[1][1]
            assert isinstance(lost, TransportError) and "no data for 0.3 s" in lost.message
            async with asyncio.timeout(2):
                while server.connections < 2 or server.clients == 0:
                    await asyncio.sleep(0.01)
            server.send(simulator.next_frame())  # the new connection works
            await recorder.wait_for(lambda: len(recorder.readings) == 2)
            assert [c for c, _ in recorder.connection] == [True, False, True]
    finally:
        await server.close()


async def test_silent_from_the_start_reports_no_data_once(spec) -> None:
    recorder = Recorder()
    simulator = Simulator(create_source("dsmr"), interval=1)
    server = TcpOutput(simulator)  # accepts, never sends
    port = await server.start()
    session = MeterSession(
        f"socket://127.0.0.1:{port}",
        spec,
        DecoderOptions(),
        on_result=recorder.on_result,
        on_connection=recorder.on_connection,
        backoff_initial=0.02,
        silence_timeout=0.1,
    )
    try:
        async with running(session):
            async with asyncio.timeout(3):
                while server.connections < 4:
                    await asyncio.sleep(0.01)
    finally:
        await server.close()
    assert len(recorder.connection) == 1
    connected, error = recorder.connection[0]
    assert not connected and isinstance(error, NoData)


def test_default_silence_timeout() -> None:
    """Never below a minute, and long enough for meters that push rarely (pain point 3)."""
    spec = get_spec("dsmr")
    assert silence_timeout_for(spec) == 60.0
    from dataclasses import replace  # noqa: PLC0415

    assert silence_timeout_for(replace(spec, interval=60.0)) == 360.0


async def test_open_failures_are_reported_once(spec) -> None:
    recorder = Recorder()
    session = MeterSession(
        f"socket://127.0.0.1:{free_port()}",
        spec,
        DecoderOptions(),
        on_result=recorder.on_result,
        on_connection=recorder.on_connection,
        backoff_initial=0.01,
        backoff_max=0.02,
    )
    async with running(session):
        await asyncio.sleep(0.3)
    assert len(recorder.connection) == 1
    connected, error = recorder.connection[0]
    assert (
        not connected
        and isinstance(error, TransportError)
        and "connection refused" in error.message
    )
    assert session.stats.last_error is not None and "connection refused" in session.stats.last_error
    assert session.stats.reconnects >= 0


async def test_rejected_frames_are_counted_and_kept(spec, pty_pair) -> None:
    master, path = pty_pair
    recorder = Recorder()
    session = MeterSession(path, spec, DecoderOptions(), on_result=recorder.on_result, history=5)
    good = telegram(second=0)
    bad = telegram(second=1).replace(b"1-0:1.7.0(0", b"1-0:1.7.0(9")  # CRC no longer matches
    async with running(session):
        await until_reading(master, recorder, good)
        for frame in (bad, b"line noise \x00\xff", good.replace(b"120000S", b"120002S"), good):
            os.write(master, frame)
        await recorder.wait_for(
            lambda: recorder.results[-1].frame == good.rstrip() and len(recorder.results) > 3
        )
        stats = session.stats
    assert [type(r) for r in recorder.results[-4:]] == [
        Reading,
        RejectedFrame,
        RejectedFrame,
        Reading,
    ]
    assert stats.frames_ok == len(recorder.results) - 2 and stats.frames_rejected == 2
    assert stats.rejected_by_reason == {"crc_mismatch": 2}
    assert stats.last_error is not None and "checksum" in stats.last_error
    # Frames as they came off the wire, "/" up to the CRC.
    expected = [bad, good.replace(b"120000S", b"120002S"), good]
    assert session.recent_frames[-3:] == [frame.rstrip() for frame in expected]
    assert len(session.recent_frames) == min(5, len(recorder.results))


async def test_a_failing_callback_does_not_stop_the_session(spec) -> None:
    seen: list[DecodeResult] = []

    def explode(result: DecodeResult) -> None:
        seen.append(result)
        raise RuntimeError("bug in the consumer")

    session = MeterSession(
        "simulator://dsmr?interval=0.01&acceleration=100", spec, DecoderOptions(), on_result=explode
    )
    async with running(session):
        async with asyncio.timeout(3):
            while len(seen) < 3:
                await asyncio.sleep(0.01)
    assert session.stats.frames_ok >= 3


async def test_cancelling_the_session_closes_the_connection(spec) -> None:
    recorder = Recorder()
    before = open_fds()
    async with meter_on_tcp() as meter:
        session = MeterSession(
            f"socket://127.0.0.1:{meter.port}", spec, DecoderOptions(), on_result=recorder.on_result
        )
        task = asyncio.create_task(session.run())
        await recorder.wait_for(lambda: len(recorder.readings) >= 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(2):
            while meter.clients:
                await asyncio.sleep(0.01)
    assert open_fds() - before == set()


async def test_the_decoder_starts_afresh_after_a_reconnect(spec, pty_pair) -> None:
    """Half a telegram before a reconnect must not glue onto the next connection's bytes."""
    master, path = pty_pair
    recorder = Recorder()
    session = MeterSession(
        path,
        spec,
        DecoderOptions(),
        on_result=recorder.on_result,
        backoff_initial=0.01,
        silence_timeout=0.2,
    )
    good = telegram()
    async with running(session):
        await until_reading(master, recorder, good)
        os.write(master, good[:300])
        await asyncio.sleep(0.5)  # silence: the session reconnects
        await until_reading_count(master, recorder, good, 2)
    assert all(isinstance(r, Reading) for r in recorder.results)
    assert session.stats.reconnects >= 1


# -- probe -----------------------------------------------------------------------------------


async def test_probe_returns_the_first_reading(spec) -> None:
    reading = await probe(
        "simulator://dsmr?interval=0.05&seed=8", spec, DecoderOptions(), timeout=3
    )
    assert reading.meter_id.startswith("E0025") and reading.values["1.8.0"] > 0


async def test_probe_cannot_open(spec) -> None:
    with pytest.raises(TransportError, match="no such device") as caught:
        await probe("/dev/ttyUSB-nothing-here", spec, DecoderOptions())
    assert type(caught.value) is TransportError


async def test_probe_silent_port_is_no_data(spec, pty_pair) -> None:
    before = open_fds()
    with pytest.raises(NoData) as caught:
        await probe(pty_pair[1], spec, DecoderOptions(), timeout=0.3)
    assert caught.value.reason == "no_data"
    assert open_fds() - before == set()


async def test_probe_garbage_is_no_valid_frame(spec, pty_pair) -> None:
    master, path = pty_pair
    # What a wrong baud rate looks like: bytes, but never a telegram.
    with pytest.raises(NoValidFrame) as caught:
        async with writing(master, bytes(range(0x80, 0x100))):
            await probe(path, spec, DecoderOptions(), timeout=0.3)
    assert caught.value.reason == "no_valid_frame"


async def test_probe_corrupted_telegrams_say_why(spec, pty_pair) -> None:
    master, path = pty_pair
    bad = telegram().replace(b"1-0:1.7.0(0", b"1-0:1.7.0(9")
    with pytest.raises(NoValidFrame, match=r"\d+ frames rejected, e.g. checksum mismatch"):
        async with writing(master, bad):
            await probe(path, spec, DecoderOptions(), timeout=0.3)


async def test_probe_encrypted_without_key(spec) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(KeyRequired):
        await probe(
            "simulator://dsmr?interval=0.05&encrypted=1", spec, DecoderOptions(), timeout=10
        )
    assert loop.time() - started < 2  # no need to wait for the timeout


async def test_probe_encrypted_with_the_wrong_key(spec) -> None:
    with pytest.raises(DecryptionFailed):
        await probe(
            "simulator://dsmr?interval=0.05&encrypted=1",
            spec,
            DecoderOptions(encryption_key=bytes(16)),
            timeout=10,
        )


async def test_probe_encrypted_with_the_right_key(spec) -> None:
    async with meter_on_tcp(key=DEMO_KEY, seed=9) as meter:
        reading = await probe(
            f"socket://127.0.0.1:{meter.port}",
            spec,
            DecoderOptions(encryption_key=DEMO_KEY),
            timeout=5,
        )
    assert reading.timestamp.tzinfo is not None
    assert reading.timestamp.utcoffset() in (timedelta(hours=1), timedelta(hours=2))


async def test_probe_connection_closed_before_data(spec) -> None:
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TransportError, match="closed by the remote side") as caught:
            await probe(f"socket://127.0.0.1:{port}", spec, DecoderOptions(), timeout=3)
        assert type(caught.value) is TransportError
    finally:
        server.close()
        await server.wait_closed()


async def test_logs_never_show_secrets_of_the_address(
    spec, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = Recorder()
    session = MeterSession(
        f"socket://127.0.0.1:{free_port()}?password=hunter2",
        spec,
        DecoderOptions(encryption_key=DEMO_KEY),
        on_result=recorder.on_result,
        on_connection=recorder.on_connection,
        backoff_initial=0.01,
    )
    async with running(session):
        await recorder.wait_for(lambda: bool(recorder.connection))
    assert "hunter2" not in caplog.text and DEMO_KEY.hex() not in caplog.text.lower()
    assert "password=REDACTED" in caplog.text


async def test_an_unexpected_error_does_not_end_the_session(
    spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custom_components.ch_smart_meter.reader import session as session_module  # noqa: PLC0415

    real_open = session_module.open_stream
    calls = 0

    async def flaky_open(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("a bug somewhere below")
        return await real_open(*args, **kwargs)

    monkeypatch.setattr(session_module, "open_stream", flaky_open)
    recorder = Recorder()
    session = MeterSession(
        "simulator://dsmr?interval=0.02&acceleration=50",
        spec,
        DecoderOptions(),
        on_result=recorder.on_result,
        on_connection=recorder.on_connection,
        backoff_initial=0.01,
    )
    async with running(session):
        await recorder.wait_for(lambda: len(recorder.readings) >= 2)
    assert [c for c, _ in recorder.connection] == [False, True]
    assert "unexpected ValueError" in recorder.connection[0][1].message

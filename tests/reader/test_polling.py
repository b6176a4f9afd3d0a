"""The seam of polled standards: the half-duplex link and the session's poll loop, with a toy
standard (ask ``?n``, the meter answers ``=<value>;``) played by a real TCP server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ch_smart_meter.reader.errors import (
    MalformedFrame,
    NoAnswer,
    NoData,
    TransportError,
)
from custom_components.ch_smart_meter.reader.model import (
    DecodeResult,
    Reading,
    RejectedFrame,
    SerialSettings,
    Standard,
    TimeSource,
)
from custom_components.ch_smart_meter.reader.polling import DialogueStats, Emit, Link
from custom_components.ch_smart_meter.reader.session import MeterSession, probe
from custom_components.ch_smart_meter.reader.spec import DecoderOptions, StandardSpec
from custom_components.ch_smart_meter.reader.standards.chsmr import ChSmrLineDecoder
from custom_components.ch_smart_meter.reader.transport import open_stream

pytestmark = pytest.mark.usefixtures("socket_enabled")

MOMENT = datetime(2026, 6, 1, 12, tzinfo=UTC)


def find_answer(buffer: bytearray) -> tuple[int, int] | None:
    """``=...;`` after any noise."""
    start = buffer.find(b"=")
    if start < 0:
        return None
    end = buffer.find(b";", start)
    return None if end < 0 else (start, end + 1)


@dataclass
class ToyPoller:
    """Asks ``?`` and turns ``=<number>;`` into a reading of 1.7.0."""

    timeout: float = 0.3
    asked: int = 0

    def cycle_timeout(self) -> float:
        return 4 * self.timeout

    async def poll(self, link: Link, emit: Emit) -> None:
        for attempt in range(2):
            self.asked += 1
            try:
                answer = await link.exchange(b"?", find_answer, self.timeout)
            except NoAnswer:
                if attempt:
                    return
                link.stats.retries += 1
                continue
            try:
                value = float(answer[1:-1])
            except ValueError:
                emit(RejectedFrame(MalformedFrame("not a number"), answer))
                return
            emit(Reading(MOMENT, "toy", {"1.7.0": value}, time_source=TimeSource.HOST))
            return

    def reset(self) -> None:
        pass

    def diagnostics(self) -> dict[str, Any]:
        return {"asked": self.asked}


def toy_spec(poller: ToyPoller) -> StandardSpec:
    return StandardSpec(
        standard=Standard.DSMR,  # any id: the registry is not involved
        title="toy",
        interval=0.1,
        create_decoder=ChSmrLineDecoder,  # captures of the toy: not used here
        create_poller=lambda options, serial: poller,
        min_poll_interval=0.05,
    )


@dataclass
class ToyMeter:
    """A TCP meter: answers each ``?`` with the next of ``answers`` (``None``: silence;
    bytes: sent as they are), echoing the request first when ``echo``."""

    answers: list[bytes | None] = field(default_factory=list)
    echo: bool = False
    value: int = 0
    port: int = 0
    requests: int = 0

    def next_answer(self) -> bytes | None:
        if self.answers:
            return self.answers.pop(0)
        self.value += 1
        return b"=%d;" % self.value

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while request := await reader.read(1):
                self.requests += 1
                if self.echo:
                    writer.write(request)
                answer = self.next_answer()
                if answer is not None:
                    writer.write(answer)
                await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def toy_meter(meter: ToyMeter) -> AsyncIterator[ToyMeter]:
    server = await asyncio.start_server(meter.serve, "127.0.0.1", 0)
    meter.port = server.sockets[0].getsockname()[1]
    async with server:
        yield meter


async def test_link_skips_the_echo_and_forgets_late_bytes() -> None:
    async with toy_meter(ToyMeter(echo=True, answers=[None, b"=7;"])) as meter:
        stream = await open_stream(f"socket://127.0.0.1:{meter.port}", SerialSettings())
        stats = DialogueStats()
        link = Link(stream, stats)
        receiving = asyncio.create_task(stream.receive(link.feed))
        try:
            with pytest.raises(NoAnswer):
                await link.exchange(b"?", find_answer, 0.2)
            assert await link.exchange(b"?", find_answer, 1.0) == b"=7;"
        finally:
            await stream.close()
            receiving.cancel()
    assert (stats.requests, stats.answers, stats.timeouts, stats.echoes) == (2, 1, 1, 2)


async def test_link_reports_a_lost_connection() -> None:
    async with toy_meter(ToyMeter(answers=[None])) as meter:
        stream = await open_stream(f"socket://127.0.0.1:{meter.port}", SerialSettings())
        link = Link(stream, DialogueStats())
        link.end(TransportError("gone"))
        with pytest.raises(TransportError):
            await link.exchange(b"?", find_answer, 1.0)
        await stream.close()


async def test_session_polls_and_survives_lost_and_garbled_answers() -> None:
    poller = ToyPoller()
    results: list[DecodeResult] = []
    meter = ToyMeter(answers=[b"=1;", None, b"=2;", b"=x;", b"=3;"], value=3)
    async with toy_meter(meter):
        session = MeterSession(
            f"socket://127.0.0.1:{meter.port}",
            toy_spec(poller),
            DecoderOptions(),
            on_result=results.append,
            poll_interval=0.05,
        )
        task = asyncio.create_task(session.run())
        try:
            async with asyncio.timeout(10):
                while sum(isinstance(r, Reading) for r in results) < 5:
                    await asyncio.sleep(0.02)
        finally:
            await session.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    values = [r.values["1.7.0"] for r in results if isinstance(r, Reading)]
    assert values[:5] == [1.0, 2.0, 3.0, 4.0, 5.0]  # the lost one retried, the garbled dropped
    assert [type(r.error) for r in results if isinstance(r, RejectedFrame)] == [MalformedFrame]
    assert session.stats.rejected_by_reason == {"malformed": 1}
    dialogue = session.diagnostics()["dialogue"]
    assert dialogue["timeouts"] == 1 and dialogue["retries"] == 1
    assert session.diagnostics()["asked"] == poller.asked


async def test_probe_asks_a_polled_meter() -> None:
    async with toy_meter(ToyMeter()) as meter:
        reading = await probe(
            f"socket://127.0.0.1:{meter.port}", toy_spec(ToyPoller()), DecoderOptions(), timeout=5
        )
    assert reading.values == {"1.7.0": 1.0}


async def test_probe_of_a_silent_polled_meter_is_no_data() -> None:
    async with toy_meter(ToyMeter(answers=[None] * 100)) as meter:
        with pytest.raises(NoData):
            await probe(
                f"socket://127.0.0.1:{meter.port}",
                toy_spec(ToyPoller(timeout=0.1)),
                DecoderOptions(),
                timeout=1,
            )

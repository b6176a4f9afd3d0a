"""Simulated meters behind a simulated serial line, for the detection and line tests."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from custom_components.ch_smart_meter.reader.model import SerialSettings, Standard
from custom_components.ch_smart_meter.reader.simulate.dlms_meters import DlmsSource
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.meters.dsmr import DsmrSource
from custom_components.ch_smart_meter.reader.simulate.outputs import run
from custom_components.ch_smart_meter.reader.simulate.source import (
    DEMO_KEY,
    FrameSource,
    Simulator,
    SourceOptions,
)
from custom_components.ch_smart_meter.reader.simulate.uart import SimulatedLine, parse_format

# The wire runs ten times faster than real time: an E450 push (2.3 s at 2400 8E1) takes
# 0.23 s, so a simulated meter can push every half second.
SPEED = 10.0
INTERVAL = 0.5


@dataclass(frozen=True, slots=True)
class Meter:
    """A simulated meter model, the format it really sends at, and what detection must say."""

    standard: Standard
    model: str | None
    serial: str
    preset: str
    encrypted: bool = False

    @property
    def settings(self) -> SerialSettings:
        return parse_format(self.serial)

    @property
    def id(self) -> str:
        key = "encrypted" if self.encrypted else "plain"
        return f"{self.model or self.standard.value}@{self.serial}/{key}"


def meter_id(source: FrameSource) -> str:
    """The identifier the simulated meter sends about itself."""
    if isinstance(source, DsmrSource):
        return source.meter_id
    assert isinstance(source, DlmsSource)
    meter = source.meter
    return meter.identity.text(meter.model.id_kind)


@contextlib.asynccontextmanager
async def meter_on_line(
    meter: Meter, *, interval: float = INTERVAL, speed: float = SPEED
) -> AsyncIterator[tuple[SimulatedLine, FrameSource]]:
    """The meter sending through a simulated line at its own format, until the block ends."""
    options = SourceOptions(model=meter.model, key=DEMO_KEY if meter.encrypted else None)
    source = create_source(meter.standard, options)
    async with source_on_line(source, meter.settings, interval=interval, speed=speed) as line:
        yield line, source


@contextlib.asynccontextmanager
async def source_on_line(
    source: FrameSource,
    serial: SerialSettings,
    *,
    interval: float = INTERVAL,
    speed: float = SPEED,
    start: datetime | None = None,
) -> AsyncIterator[SimulatedLine]:
    """Any frame source (a stub, a polled meter) behind a simulated line."""
    simulator = Simulator(source, interval=interval, start=start)
    line = SimulatedLine(simulator, serial, speed=speed)
    sending = asyncio.create_task(run(simulator, line))
    try:
        yield line
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        await line.close()


class PingMeter:
    """A polled meter (standing in for KMP and MEP): silent until asked ``ping``, then
    ``pong``; it remembers what it heard."""

    standard = Standard.CH_SMR

    def __init__(self) -> None:
        self.heard: list[bytes] = []

    def frame_at(self, moment: datetime) -> bytes:
        return b""

    def respond(self, request: bytes, moment: datetime) -> bytes:
        self.heard.append(request)
        return b"pong" if request == b"ping" else b""


class NoiseMeter:
    """Something that sends random bursts and never a frame."""

    standard = Standard.DSMR

    def __init__(self, seed: int = 7, size: int = 200) -> None:
        self._random = random.Random(seed)
        self._size = size

    def frame_at(self, moment: datetime) -> bytes:
        return self._random.randbytes(self._size)

    def respond(self, request: bytes, moment: datetime) -> bytes:
        return b""

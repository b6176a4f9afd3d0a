#!/usr/bin/env python3
"""How long "detect my meter" takes with its default timings, in real time.

    python scripts/bench/detect.py [--case NAME ...]

Each case puts a simulated meter (or silence, or noise) behind a simulated serial line
running at real wire speed, starts detection at the worst moment of the meter's cycle
(0.3 s before a push, so the first format sees only part of it and must wait for the
next), and prints how long detection took and what it found. The cases run side by side,
each on its own pseudo-terminal; the whole run takes about a minute.

Cases: DSMR 5 (every second), the L&G E450 CII (every 5 s, second opening), Kamstrup HAN
(every 10 s, third opening), the slowest meter at the last opening (DSMR 2.2 at 9600 7E1 every 10 s, heard through
the 9600 8N1 opening), the same position encrypted (L&G E360 at 9600 8N1 every 10 s: a
second frame confirms it), a silent port, and a port with only noise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from custom_components.ch_smart_meter.reader.detect import (  # noqa: E402
    NothingDetected,
    detect,
)
from custom_components.ch_smart_meter.reader.model import Standard  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.meters import create_source  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.outputs import run  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.source import (  # noqa: E402
    DEMO_KEY,
    FrameSource,
    Simulator,
    SourceOptions,
)
from custom_components.ch_smart_meter.reader.simulate.uart import (  # noqa: E402
    SimulatedLine,
    parse_format,
)

EARLY = 0.3  # detection starts this long before a push


class Noise:
    """Random bytes, back to back: a line that never falls quiet."""

    standard = Standard.DSMR

    def __init__(self) -> None:
        self._random = random.Random(1)

    def frame_at(self, moment: datetime) -> bytes:
        return self._random.randbytes(300)

    def respond(self, request: bytes, moment: datetime) -> bytes:
        return b""


class Silence(Noise):
    def frame_at(self, moment: datetime) -> bytes:
        return b""


@dataclass(frozen=True)
class Case:
    name: str
    source: Callable[[], FrameSource]
    serial: str
    interval: float


CASES = {
    case.name: case
    for case in (
        Case("dsmr5-115200-8n1", lambda: create_source(Standard.DSMR), "115200 8N1", 1.0),
        Case(
            "e450-2400-8e1",
            lambda: create_source(Standard.LG_MBUS, SourceOptions(model="lg-e450")),
            "2400 8E1",
            5.0,
        ),
        Case(
            "kamstrup-2400-8n1",
            lambda: create_source(Standard.KAMSTRUP_DLMS),
            "2400 8N1",
            10.0,
        ),
        Case("dsmr22-9600-7e1", lambda: create_source(Standard.DSMR), "9600 7E1", 10.0),
        Case(
            "e360-encrypted-9600-8n1",
            lambda: create_source(Standard.P1_DLMS, SourceOptions(model="lg-e360", key=DEMO_KEY)),
            "9600 8N1",
            10.0,
        ),
        Case("silent", Silence, "9600 8N1", 10.0),
        Case("noise-2400-8n1", Noise, "2400 8N1", 0.5),
    )
}


async def measure(case: Case) -> str:
    simulator = Simulator(case.source(), interval=case.interval)
    line = SimulatedLine(simulator, parse_format(case.serial))
    sending = asyncio.create_task(run(simulator, line))
    try:
        await asyncio.sleep(max(0.0, case.interval - EARLY))
        started = time.monotonic()
        try:
            found = await detect(line.path)
        except NothingDetected as err:
            outcome = f"nothing ({len(err.heard)} steps; untried {len(err.untried)})"
        else:
            serial = found.serial.describe() if found.serial else None
            outcome = f"{found.standard} {serial} encrypted={found.encrypted}"
        return f"{case.name:26} {time.monotonic() - started:5.1f} s  {outcome}"
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        await line.close()


async def main(names: list[str]) -> None:
    for line in await asyncio.gather(*(measure(CASES[name]) for name in names)):
        print(line, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), dest="cases")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.cases or list(CASES)))

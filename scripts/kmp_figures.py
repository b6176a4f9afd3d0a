#!/usr/bin/env python3
"""Figures of the KMP standard for the README: wire time of a reading cycle, register map.

    python scripts/kmp_figures.py

The poller reads the simulated Kamstrup 382 over the in-process stream; the bytes both ways
are counted for the first cycle after connecting (GetSerialNo, GetType, every register, both
energy resolutions) and for a steady cycle (the preferred registers of Tables 1 and 2), and
a Table 1 exchange alone (its ten registers in two GetRegister requests). Wire time = bytes x
bits per character / baud rate: 10 bits at 9600 8N1 (Kamstrup USB interface), 11 at 1200 8N2
(optical head). Then the register table, printed from ``reader/kmp/registers.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from custom_components.ch_smart_meter.reader.kmp import codec  # noqa: E402
from custom_components.ch_smart_meter.reader.kmp.poller import (  # noqa: E402
    OPTICAL_SERIAL,
    USB_SERIAL,
    KmpPoller,
)
from custom_components.ch_smart_meter.reader.kmp.registers import (  # noqa: E402
    REGISTERS,
    VALUE_REGISTERS,
)
from custom_components.ch_smart_meter.reader.model import Standard  # noqa: E402
from custom_components.ch_smart_meter.reader.polling import DialogueStats, Link  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.kmp_meter import KmpMeter  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.source import Simulator  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.stream import SimulatedStream  # noqa: E402
from custom_components.ch_smart_meter.reader.spec import DecoderOptions  # noqa: E402
from custom_components.ch_smart_meter.reader.standards import get_spec  # noqa: E402

MOMENT = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)


class Counting:
    """The simulated meter, counting the bytes both ways."""

    def __init__(self, meter: KmpMeter) -> None:
        self.meter = meter
        self.bytes = 0

    @property
    def standard(self) -> Standard:
        return Standard.KMP

    def frame_at(self, moment: datetime) -> bytes:
        return b""

    def respond(self, request: bytes, moment: datetime) -> bytes:
        answer = self.meter.respond(request, moment)
        self.bytes += len(request) + len(answer)
        return answer


async def measure() -> dict[str, int]:
    meter = KmpMeter()
    counting = Counting(meter)
    stream = SimulatedStream(Simulator(counting), "simulated")
    link = Link(stream, DialogueStats())
    receiving = asyncio.create_task(stream.receive(link.feed))
    poller = KmpPoller(DecoderOptions(clock=lambda: MOMENT))
    figures = {}
    try:
        for name in ("first cycle after connecting", "steady cycle, Tables 1 and 2"):
            counting.bytes = 0
            await poller.poll(link, lambda _: None)
            figures[name] = counting.bytes
    finally:
        await stream.close()
        receiving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiving
    table_1 = [r.register for r in VALUE_REGISTERS if r.table == 1 and r.rank == 0]
    total = 0
    for part in (table_1[:8], table_1[8:]):
        request = codec.get_register_request(part)
        total += len(request) + len(meter.respond(request, MOMENT))
    figures["Table 1 alone"] = total
    return figures


def main() -> None:
    print("| Cycle | Bytes | 9600 8N1 | 1200 8N2 |")
    print("| --- | ---: | ---: | ---: |")
    for name, count in asyncio.run(measure()).items():
        usb = USB_SERIAL.wire_seconds(count)
        optical = OPTICAL_SERIAL.wire_seconds(count)
        print(f"| {name} | {count} | {usb:.3f} s | {optical:.3f} s |")
    print(f"\nMinimum poll interval: {get_spec('kmp').min_poll_interval:g} s\n")
    print("| Register | CH-SMR | Meaning | Evidence | Sources |")
    print("| --- | --- | --- | --- | --- |")
    for register in REGISTERS:
        unit = f" ({register.unit})" if register.unit else ""
        name = register.name + (", used when high resolution is absent" if register.rank else "")
        print(
            f"| 0x{register.register:04X} | {register.code}{unit} | {name} | "
            f"{register.evidence.value} | {', '.join(register.sources)} |"
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""CPU cost of decoding one P1 DSMR telegram: this integration's decoder vs dsmr-parser.

    python scripts/bench/dsmr.py [--repeat N] [--simulated N]

Runs with any Python environment that has the integration's requirements (dsmr-parser,
cryptography); no pytest, no Home Assistant. Telegrams: every plaintext capture of
../shared/testdata/dsmr whose CRC passes or that has none (when that folder is present),
plus simulated DSMR 5.0.2 telegrams (three phases, import and export, status lines, gas).

For each telegram the median time of one call is measured (after warming up):

* ours: ``DsmrDecoder.feed`` of the telegram's bytes, i.e. framing, CRC and decoding to a
  ``Reading`` (what the integration does per telegram);
* dsmr-parser ``TelegramParser(V5).parse`` of the telegram text, CRC check included (what
  Home Assistant core's dsmr integration does per telegram, without its buffering);
* dsmr-parser with the specification of the recognised variant.

The table gives the median over the telegrams of each set, in microseconds, and how many
times cheaper ours is.
"""

from __future__ import annotations

import argparse
import logging
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from dsmr_parser import telegram_specifications  # noqa: E402
from dsmr_parser.exceptions import ParseError  # noqa: E402
from dsmr_parser.parsers import TelegramParser  # noqa: E402

from custom_components.ch_smart_meter.reader.crc import crc16_arc  # noqa: E402
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder  # noqa: E402
from custom_components.ch_smart_meter.reader.dsmr.variants import DsmrVariant  # noqa: E402
from custom_components.ch_smart_meter.reader.framing.dsmr import DsmrFramer  # noqa: E402
from custom_components.ch_smart_meter.reader.model import Reading  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (  # noqa: E402
    encode_telegram,
)
from custom_components.ch_smart_meter.reader.spec import DecoderOptions  # noqa: E402
from tests.reader.dsmr_oracle import dsmr_parser_specification  # noqa: E402

CAPTURES = REPO.parent / "shared" / "testdata" / "dsmr"


def median_us(call: Callable[[], object], repeat: int) -> float:
    """Median wall time of one call in microseconds (single-threaded: ~ CPU time)."""
    for _ in range(max(10, repeat // 10)):
        call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def capture_telegrams() -> list[bytes]:
    """Plaintext captures that decode (CRC pass or no CRC), each from '/' with CRLF."""
    telegrams = []
    for path in sorted(CAPTURES.glob("*.txt")):
        framed = DsmrFramer().feed(path.read_bytes() + b"\r\n")
        if len(framed) != 1 or not isinstance(framed[0], bytes):
            continue
        telegram = framed[0] + b"\r\n"  # what the meter sends: '/' .. CRC CRLF
        results = DsmrDecoder(DecoderOptions()).feed(telegram)
        if len(results) == 1 and isinstance(results[0], Reading):
            telegrams.append(telegram)
    return telegrams


def simulated_telegrams(count: int) -> list[bytes]:
    rng = random.Random(2026)

    def milli(top: int) -> Decimal:
        return Decimal(rng.randrange(top)).scaleb(-3)

    summer = timezone(timedelta(hours=2))
    telegrams = []
    for index in range(count):
        values: dict[str, Decimal] = {
            code: milli(10**9) for code in ("1.8.1", "1.8.2", "2.8.1", "2.8.2")
        }
        values |= {code: milli(10**5) for code in ("1.7.0", "2.7.0")}
        for c in (0, 20, 40):
            values[f"{32 + c}.7.0"] = Decimal(rng.randrange(2200, 2450)).scaleb(-1)
            values[f"{31 + c}.7.0"] = Decimal(rng.randrange(40))
            values[f"{21 + c}.7.0"] = milli(10**4)
            values[f"{22 + c}.7.0"] = milli(10**4)
        telegrams.append(
            encode_telegram(
                values,
                timestamp=datetime(2026, 6, 1, 12, 0, index % 60, tzinfo=summer),
                equipment_id="E0025000000000001",
                gas_m3=milli(10**8),
            )
        )
    return telegrams


def variant_of(telegram: bytes) -> DsmrVariant:
    decoder = DsmrDecoder(DecoderOptions())
    decoder.feed(telegram)
    assert decoder.variant is not None
    return decoder.variant


def _parses(parser: TelegramParser, text: str) -> bool:
    try:
        parser.parse(text)
    except ParseError:  # e.g. dsmr-parser < 1.5 and a 3-digit CRC
        return False
    return True


def measure(telegrams: list[bytes], repeat: int) -> dict[str, list[float]]:
    """Median microseconds per telegram, per decoder; telegrams dsmr-parser refuses (stock
    V5 needs a CRC) are left out of its lists."""
    ours: list[float] = []
    stock_v5: list[float] = []
    matching: list[float] = []
    v5 = TelegramParser(telegram_specifications.V5)
    for telegram in telegrams:
        decoder = DsmrDecoder(DecoderOptions())
        ours.append(median_us(partial(decoder.feed, telegram), repeat))
        text = telegram.decode("latin-1")
        has_crc = telegram.rstrip(b"\r\n")[-1:] != b"!"
        parser = TelegramParser(
            dsmr_parser_specification(variant_of(telegram), extended=False),
            apply_checksum_validation=has_crc,
        )
        if _parses(parser, text):
            matching.append(median_us(partial(parser.parse, text), repeat))
        if has_crc and _parses(v5, text):
            stock_v5.append(median_us(partial(v5.parse, text), repeat))
    return {"ours": ours, "dsmr_parser V5": stock_v5, "dsmr_parser variant": matching}


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--repeat", type=int, default=300, help="calls per telegram")
    arguments.add_argument("--simulated", type=int, default=40, help="simulated telegrams")
    options = arguments.parse_args()
    logging.disable(logging.CRITICAL)  # dsmr-parser logs lines its specification rejects

    print(
        f"Python {platform.python_version()}, dsmr-parser {version('dsmr-parser')}, "
        f"{options.repeat} calls per telegram, median microseconds per telegram"
    )
    sets = {"simulated DSMR 5.0.2": simulated_telegrams(options.simulated)}
    if CAPTURES.is_dir():
        sets["captures"] = capture_telegrams()
    else:
        print(f"(captures skipped: {CAPTURES} is absent)")

    header = f"{'set':<22}{'n':>4}{'bytes':>7}{'ours':>9}{'V5':>9}{'variant':>9}{'V5/ours':>9}{'var/ours':>9}"
    print(header)
    for name, telegrams in sets.items():
        results = measure(telegrams, options.repeat)
        ours = statistics.median(results["ours"])
        v5 = statistics.median(results["dsmr_parser V5"]) if results["dsmr_parser V5"] else 0.0
        variant = statistics.median(results["dsmr_parser variant"])
        size = statistics.median(len(t) for t in telegrams)
        print(
            f"{name:<22}{len(telegrams):>4}{size:>7.0f}{ours:>9.1f}{v5:>9.1f}{variant:>9.1f}"
            f"{v5 / ours:>8.1f}x{variant / ours:>8.1f}x"
        )

    sample = simulated_telegrams(1)[0]
    body = sample[: sample.rindex(b"!") + 1]
    per_kb = 1024 / len(body)
    text = body.decode("latin-1")
    theirs = median_us(lambda: TelegramParser.crc16(text), options.repeat) * per_kb
    ours = median_us(lambda: crc16_arc(body), options.repeat) * per_kb
    print(
        f"CRC-16/ARC per KB: dsmr-parser {theirs:.1f} us, ours (parity masks) {ours:.1f} us "
        f"({theirs / ours:.1f}x)"
    )


if __name__ == "__main__":
    main()

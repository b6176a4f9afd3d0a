"""Soak the reading session: 10^5 frames of each standard through a real ``MeterSession``.

    scripts/soak                  100,000 frames per standard (a few minutes)
    scripts/soak --frames N       N frames per standard; --only NAME: only that case
    scripts/soak --json FILE      also write the figures as JSON

Each case runs in a fresh process: an in-process TCP server (``socket://127.0.0.1:port``,
as a ser2net or Wi-Fi bridge) sends simulated frames as fast as the session takes them
(flow control of the socket), and the session hands every result to a callback that keeps
a bounded amount of state (counts, the last reading, a ring of 100 values). Frames come
from a pool made beforehand (the simulators are slower than the decoders); the Smarty case
encrypts each frame with the next invocation counter on the way out.

Reported per case: frames, readings, rejections, frames per second, resident memory (RSS
from /proc/self/status) at the start, after the warm-up (the first tenth of the frames) and
at the end, which must stay within 1 MiB of the warm-up figure, and the change of Python's
allocated memory blocks over the same span (a leak of objects shows there first); and
what could grow: the
session's counters and its ``recent_frames`` ring, the decoder's buffers, every
``functools.lru_cache`` of the library (size and bound) and its module-level memo tables.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import json
import multiprocessing
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import cycle
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from custom_components.ch_smart_meter.reader import chsmr  # noqa: E402
from custom_components.ch_smart_meter.reader.dlms import cipher, cosem_time, identity, scaling  # noqa: E402  # noqa: E402
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder  # noqa: E402
from custom_components.ch_smart_meter.reader.model import (  # noqa: E402
    DecodeResult,
    Reading,
    Standard,
)
from custom_components.ch_smart_meter.reader.session import MeterSession  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.dlms_meters import (  # noqa: E402
    create_dlms_source,
)
from custom_components.ch_smart_meter.reader.simulate.dlms_models import MODELS  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (  # noqa: E402
    encrypt_smarty,
)
from custom_components.ch_smart_meter.reader.simulate.meters import dsmr as dsmr_meter  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.source import SourceOptions  # noqa: E402
from custom_components.ch_smart_meter.reader.spec import DecoderOptions  # noqa: E402
from custom_components.ch_smart_meter.reader.standards import get_spec  # noqa: E402

START = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
POOL = 1_000  # distinct frames per case, sent over and over
WARM_UP_SHARE = 0.1
FLAT_KIB = 1024  # RSS may move this much between the warm-up and the end
RING = 100
BATCH = 32 * 1024  # bytes written before waiting for the socket to drain


def _moments(interval: float) -> Iterator[datetime]:
    return (START + timedelta(seconds=interval * n) for n in range(POOL))


def _dsmr_pool() -> list[bytes]:
    source = dsmr_meter.DsmrSource(SourceOptions(seed=7))
    return [source.frame_at(moment) for moment in _moments(1.0)]


def _smarty_frames() -> Iterator[bytes]:
    pool, title = _dsmr_pool(), dsmr_meter.system_title(7)
    return (
        encrypt_smarty(telegram, KEY, title, counter)
        for counter, telegram in enumerate(cycle(pool), start=1)
    )


def _dlms_pool(model: str) -> list[bytes]:
    source = create_dlms_source(MODELS[model], seed=7)
    return [source.frame_at(moment) for moment in _moments(MODELS[model].interval)]


def _chsmr_pool() -> list[bytes]:
    decoder = DsmrDecoder()
    lines = []
    for telegram in _dsmr_pool():
        reading = decoder.decode_frame(telegram)
        assert isinstance(reading, Reading)
        lines.append(chsmr.encode_payload(reading).encode() + b"\n")
    return lines


@dataclass(frozen=True)
class Case:
    """One standard fed through a session."""

    name: str
    standard: Standard
    frames: Callable[[], Iterator[bytes]]
    key: bytes | None = None


CASES = (
    Case("dsmr", Standard.DSMR, lambda: cycle(_dsmr_pool())),
    Case("dsmr-smarty", Standard.DSMR, _smarty_frames, key=KEY),
    Case("p1-dlms", Standard.P1_DLMS, lambda: cycle(_dlms_pool("iskra-am550"))),
    Case("lg-mbus", Standard.LG_MBUS, lambda: cycle(_dlms_pool("lg-e450"))),
    Case("kamstrup-dlms", Standard.KAMSTRUP_DLMS, lambda: cycle(_dlms_pool("kamstrup-omnipower"))),
    Case("ch-smr", Standard.CH_SMR, lambda: cycle(_chsmr_pool())),
)
BY_NAME = {case.name: case for case in CASES}


@dataclass
class Outcome:
    """What one case measured."""

    name: str
    frames: int = 0
    readings: int = 0
    rejected: int = 0
    seconds: float = 0.0
    rss_kib: dict[str, int] = field(default_factory=dict)
    blocks: dict[str, int] = field(default_factory=dict)  # Python's allocated memory blocks
    bounded: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def growth_kib(self) -> int:
        """RSS at the end minus RSS after the warm-up."""
        return self.rss_kib.get("end", 0) - self.rss_kib.get("warm", 0)


def _measure(outcome: Outcome, moment: str) -> None:
    gc.collect()
    outcome.rss_kib[moment] = rss_kib()
    outcome.blocks[moment] = sys.getallocatedblocks()


def rss_kib() -> int:
    """Resident memory of this process (kiB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class BoundedCallback:
    """The session's callback: counts, the last reading and a ring of values, nothing more."""

    def __init__(self, expected: int, warm_up: int) -> None:
        self.expected = expected
        self.warm_up = warm_up
        self.readings = 0
        self.rejected = 0
        self.last: Reading | None = None
        self.ring: deque[float] = deque(maxlen=RING)
        self.warm = asyncio.Event()
        self.done = asyncio.Event()

    def __call__(self, result: DecodeResult) -> None:
        if isinstance(result, Reading):
            self.readings += 1
            self.last = result
            self.ring.append(next(iter(result.values.values()), 0.0))
        else:
            self.rejected += 1
        seen = self.readings + self.rejected
        if seen >= self.warm_up:
            self.warm.set()
        if seen >= self.expected:
            self.done.set()


async def _serve(frames: Iterator[bytes], count: int, ready: asyncio.Future[int]) -> None:
    """A TCP server that sends ``count`` frames to its client, then waits for it to go."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        batch = bytearray()
        for _, frame in zip(range(count), frames, strict=False):
            batch += frame
            if len(batch) >= BATCH:
                writer.write(bytes(batch))
                batch.clear()
                await writer.drain()
        writer.write(bytes(batch))
        await writer.drain()
        await reader.read()  # keep the connection open until the session closes it
        writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


async def _soak(case: Case, count: int) -> Outcome:
    outcome = Outcome(case.name, frames=count)
    frames = case.frames()  # the pool is made before the first measurement
    _measure(outcome, "start")
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[int] = loop.create_future()
    server = asyncio.create_task(_serve(frames, count, ready))
    port = await ready
    spec = get_spec(case.standard)
    callback = BoundedCallback(count, int(count * WARM_UP_SHARE))
    history = 5
    session = MeterSession(
        f"socket://127.0.0.1:{port}",
        spec,
        DecoderOptions(encryption_key=case.key),
        on_result=callback,
        history=history,
    )
    started = time.perf_counter()
    running = asyncio.create_task(session.run())
    try:
        await asyncio.wait_for(callback.warm.wait(), timeout=600)
        _measure(outcome, "warm")
        await asyncio.wait_for(callback.done.wait(), timeout=3600)
        outcome.seconds = time.perf_counter() - started
        _measure(outcome, "end")
        _check_bounds(session, history, outcome)
    finally:
        await session.close()
        for task in (running, server):
            task.cancel()
        await asyncio.gather(running, server, return_exceptions=True)
    outcome.readings, outcome.rejected = callback.readings, callback.rejected
    if outcome.growth_kib > FLAT_KIB:
        outcome.problems.append(f"RSS grew {outcome.growth_kib} kiB after the warm-up")
    return outcome


def _caches() -> Iterator[tuple[str, Any]]:
    """Every ``functools.lru_cache`` of the library's loaded modules."""
    for name, module in sorted(sys.modules.items()):
        if not name.startswith("custom_components.ch_smart_meter.reader") or module is None:
            continue
        for attribute, value in vars(module).items():
            if hasattr(value, "cache_info") and getattr(value, "__module__", "") == name:
                yield f"{name.rsplit('.', 1)[-1]}.{attribute}", value


# Module-level memo tables (dicts) and their bounds (each clears itself or is small by
# construction).
_MEMO_TABLES: dict[str, tuple[Callable[[], int], str]] = {
    "scaling._PLANS": (lambda: sum(len(p) for p in scaling._PLANS.values()), "clears at 1024"),
    "identity._VALUE_MAPS": (lambda: len(identity._VALUE_MAPS), "profiles x list lengths"),
    "cosem_time._LOCAL_OFFSETS": (lambda: len(cosem_time._LOCAL_OFFSETS), "clears at 256"),
    "cosem_time._OFFSETS": (lambda: len(cosem_time._OFFSETS), "UTC offsets seen"),
    "cipher._AEADS": (lambda: len(cipher._AEADS), "clears at 8"),
}


def _check_bounds(session: MeterSession, history: int, outcome: Outcome) -> None:
    bounded = outcome.bounded
    recent = session.recent_frames
    bounded["recent_frames"] = f"{len(recent)} (ring of {history})"
    if len(recent) > history:
        outcome.problems.append("recent_frames grew past its ring")
    stats = session.stats
    bounded["stats.rejected_by_reason"] = f"{len(stats.rejected_by_reason)} reasons"
    decoder = session.decoder
    held = _held(decoder) if decoder is not None else 0
    bounded["decoder buffers"] = f"{held} bytes"
    if held > 64 * 1024:
        outcome.problems.append(f"the decoder holds {held} bytes")
    for name, function in _caches():
        info = function.cache_info()
        bounded[name] = f"{info.currsize}/{info.maxsize}"
        if info.maxsize is None:
            outcome.problems.append(f"{name} is an unbounded cache")
    for name, (size, bound) in _MEMO_TABLES.items():
        bounded[name] = f"{size()} ({bound})"


def _held(obj: Any, depth: int = 2) -> int:
    total = 0
    for value in vars(obj).values():
        if isinstance(value, bytes | bytearray):
            total += len(value)
        elif isinstance(value, list | deque):
            total += sum(len(item) for item in value if isinstance(item, bytes | bytearray))
        elif depth and hasattr(value, "__dict__") and not callable(value):
            total += _held(value, depth - 1)
    return total


def run_case(name: str, count: int) -> Outcome:
    """One case (in its own process, so that its memory figures are its own)."""
    return asyncio.run(_soak(BY_NAME[name], count))


def run(names: list[str], count: int) -> list[Outcome]:
    """Every case, one after the other, each in a fresh process."""
    context = multiprocessing.get_context("fork")
    outcomes = []
    for name in names:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            outcome = pool.submit(run_case, name, count).result()
        outcomes.append(outcome)
        print(_row(outcome), flush=True)
    return outcomes


HEADER = (
    f"{'case':<14} {'frames':>8} {'readings':>9} {'rejected':>8} {'frames/s':>9} "
    f"{'RSS start':>10} {'warm':>8} {'end':>8} {'growth':>9} {'blocks +':>9}"
)


def _row(outcome: Outcome) -> str:
    rate = outcome.frames / outcome.seconds if outcome.seconds else 0.0
    rss = outcome.rss_kib
    return (
        f"{outcome.name:<14} {outcome.frames:>8,} {outcome.readings:>9,} {outcome.rejected:>8,} "
        f"{rate:>9,.0f} {rss.get('start', 0) / 1024:>8.1f}Mi {rss.get('warm', 0) / 1024:>6.1f}Mi "
        f"{rss.get('end', 0) / 1024:>6.1f}Mi {outcome.growth_kib:>+7}ki "
        f"{outcome.blocks.get('end', 0) - outcome.blocks.get('warm', 0):>+9,}"
    )


def main(argv: list[str] | None = None) -> int:
    """The command line of ``scripts/soak``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames per standard")
    parser.add_argument("--only", help="only this case")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    names = [case.name for case in CASES if args.only is None or args.only == case.name]
    print(HEADER)
    outcomes = run(names, args.frames)
    print("\nwhat could grow, at the end of each case:")
    for outcome in outcomes:
        print(f"  {outcome.name}:")
        for name, size in outcome.bounded.items():
            print(f"    {name:<34} {size}")
    problems = [f"{o.name}: {problem}" for o in outcomes for problem in o.problems]
    problems += [
        f"{o.name}: {o.readings + o.rejected} results for {o.frames} frames"
        for o in outcomes
        if o.readings < o.frames
    ]
    if args.json:
        document = [asdict(outcome) | {"growth_kib": outcome.growth_kib} for outcome in outcomes]
        args.json.write_text(json.dumps(document, indent=1), encoding="utf-8")
    print(
        "\n" + ("\n".join(problems) if problems else f"flat: within {FLAT_KIB} kiB after warm-up")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Fuzz the reader library's stream decoders with damaged streams; see ``scripts/fuzz``.

    scripts/fuzz                  a quick run (2,000 cases per decoder)
    scripts/fuzz --long           1,000,000 cases per decoder, on every core
    scripts/fuzz --cases N        N cases per decoder; --jobs J worker processes
    scripts/fuzz --only NAME      only the targets whose name contains NAME
    scripts/fuzz --replay NAME:N  stream N of target NAME again, result by result

A *case* is one unit (a telegram, a push with all its frames, a CH-SMR message, a KMP
GetRegister request and answer, a MEP reading cycle's lines) fed to a decoder inside a
stream of units of the same meter; a polled meter's stream starts with its identification
exchanges, undamaged (the unit's context). Half of the units of a stream are
damaged, each by one mutation (bit flips, inserted or deleted bytes, a cut, a duplicated
or dropped frame, segments or blocks in another order, the tail of the next push in place
of its own); random garbage lies between some units; some units are valid frames with
absurd values. The stream is fed in chunks as a port delivers them, in random chunks, or
byte by byte, either live (with an arrival clock: units seconds apart, as meters send) or
as a capture (no time). Units come from the simulators (``reader/simulate``) and from the
real captures of ../shared/testdata (read in place; a damaged copy, then the original).

The oracle, per stream: nothing but the library's typed rejections comes out of ``feed``
or ``flush`` (an exception is a failure); every reading equals the reading of an undamaged
unit of the stream (decoded alone beforehand); every undamaged unit gives its reading
whatever happened to its neighbours (survival); the decoder's buffers stay bounded. A
wrong reading is *explained* when the unit's protection cannot catch the damage (a
checksum that happens to match the damaged frame, a format without any checksum, HDLC
segments that carry no sequence number) and counted under that heading; any other wrong
reading is a failure. The targets are a table (``scripts/fuzz_targets.py``): a standard is
one entry there.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import multiprocessing
import os
import random
import resource
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_targets import (
    BY_NAME,
    TARGETS,
    TESTDATA,
    Link,
    Target,
    Unit,
    host_time,
)

from custom_components.ch_smart_meter.reader.crc import crc16_arc, crc16_x25
from custom_components.ch_smart_meter.reader.errors import FrameError
from custom_components.ch_smart_meter.reader.kmp import codec as kmp_codec
from custom_components.ch_smart_meter.reader.model import (
    DecodeResult,
    Reading,
    RejectedFrame,
    Standard,
)
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

STREAM_UNITS = 16
MAX_RETAINED = 64 * 1024  # what a decoder may hold between chunks (largest frame bound)


# --------------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------------


class Mutation(StrEnum):
    """How a unit is damaged."""

    BIT_FLIPS = "bit flips"
    INSERTED = "inserted bytes"
    DELETED = "deleted bytes"
    CUT = "cut short"
    DUPLICATED = "duplicated frame"
    DROPPED = "dropped frame or span"
    REORDERED = "reordered segments"
    SPLICED = "spliced with the next unit"


MUTATIONS = tuple(Mutation)


def _mutate(rng: random.Random, frames: list[bytes], kind: Mutation) -> list[bytes]:
    """``frames`` damaged by one mutation of ``kind`` (SPLICED is done by the stream)."""
    frames = list(frames)
    index = rng.randrange(len(frames))
    frame = bytearray(frames[index])
    several = len(frames) > 1
    if kind is Mutation.BIT_FLIPS:
        for _ in range(rng.randint(1, 3)):
            frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
    elif kind is Mutation.INSERTED:
        pos = rng.randrange(len(frame) + 1)
        frame[pos:pos] = rng.randbytes(rng.randint(1, 8))
    elif kind is Mutation.DELETED:
        pos = rng.randrange(len(frame))
        del frame[pos : pos + rng.randint(1, 8)]
    elif kind is Mutation.CUT:
        del frame[rng.randrange(1, max(2, len(frame))) :]
        del frames[index + 1 :]
    elif kind is Mutation.DUPLICATED:
        frames.insert(index, bytes(frame))
    elif kind is Mutation.DROPPED and several:
        del frames[index]
        return frames
    elif kind is Mutation.DROPPED:
        pos = rng.randrange(len(frame))
        del frame[pos : pos + rng.randint(9, 80)]
    elif several:  # REORDERED
        other = rng.choice([i for i in range(len(frames)) if i != index])
        frames[index], frames[other] = frames[other], frames[index]
        return frames
    else:
        cuts = sorted(rng.sample(range(1, len(frame)), 2)) if len(frame) > 3 else [1, 2]
        head, middle, tail = frame[: cuts[0]], frame[cuts[0] : cuts[1]], frame[cuts[1] :]
        frame = head + tail + middle
    frames[index] = bytes(frame)
    return [f for f in frames if f]


_START_BYTES = b"/!\r\n\x7e\xa0\x68\xdb\x08\x0f\xe6\xe7\x00\xe0\x16"


def _garbage(rng: random.Random, frame_bytes: bytes = b"") -> bytes:
    """Noise between frames: random bytes, or bytes that look like frame starts (of every
    format, and ``frame_bytes``: the target's own)."""
    size = rng.randint(1, 40)
    if rng.random() < 0.5:
        return rng.randbytes(size)
    return bytes(rng.choice(_START_BYTES + frame_bytes) for _ in range(size))


# --------------------------------------------------------------------------------------------
# One stream: build, feed, judge
# --------------------------------------------------------------------------------------------

type ReadingKey = tuple[Any, ...]


def reading_key(reading: Reading) -> ReadingKey:
    """What makes two readings the same (the frame and notices aside)."""
    return (
        reading.timestamp.isoformat(),
        reading.meter_id,
        reading.id_obis,
        reading.time_source,
        reading.manufacturer,
        reading.model,
        tuple(sorted(reading.values.items())),
    )


def _options(target: Target, unit: Unit, arrival: Callable[[], float] | None) -> DecoderOptions:
    base = unit.options or DecoderOptions(
        encryption_key=target.key, authentication_key=target.authentication_key, clock=host_time
    )
    return dataclasses.replace(base, arrival_clock=arrival)


def _decoder(target: Target, unit: Unit, arrival: Callable[[], float] | None = None) -> Any:
    return get_spec(target.standard).create_decoder(_options(target, unit, arrival))


_PRIMED: dict[tuple[str, bytes, DecoderOptions | None], tuple[Any, list[DecodeResult]]] = {}


def _primed(target: Target, unit: Unit) -> tuple[Any, list[DecodeResult]]:
    """A decoder that has been fed the unit's context, and what the context gave (a copy
    of one made once: a polled meter's identification costs many digests)."""
    if not unit.context:
        return _decoder(target, unit), []
    key = (target.name, unit.context, unit.options)
    if key not in _PRIMED:
        decoder = _decoder(target, unit)
        _PRIMED[key] = (decoder, decoder.feed(unit.context))
    decoder, results = _PRIMED[key]
    return copy.deepcopy(decoder), list(results)


def _decode_alone(target: Target, unit: Unit) -> list[DecodeResult]:
    decoder, results = _primed(target, unit)
    return results + decoder.feed(b"".join(unit.frames) + target.separator) + decoder.flush()


@dataclass(frozen=True)
class Pool:
    """A target's units and, per unit, the readings it gives when decoded alone."""

    units: list[Unit]
    references: list[frozenset[ReadingKey]]


@cache
def pool(name: str, seed: int) -> Pool:
    """The units of a target (generated once per process)."""
    target = BY_NAME[name]
    units = [unit for unit in target.units(seed) if unit.frames]
    references = [
        frozenset(reading_key(r) for r in _decode_alone(target, unit) if isinstance(r, Reading))
        for unit in units
    ]
    return Pool(units, references)


@dataclass
class Piece:
    """Bytes that arrive together, and when (seconds; live streams)."""

    at: float
    data: bytes


class Clock:
    """The arrival clock of a live stream: the feeding loop sets the time of each chunk."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Stats:
    """What the runs of one target gave (summed over tasks and processes)."""

    streams: int = 0
    cases: int = 0
    damaged: int = 0
    mutations: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    readings: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    escaped: int = 0
    wrong: Counter[str] = field(default_factory=Counter)  # by explanation; "" unexplained
    wrong_live: Counter[str] = field(default_factory=Counter)  # of those, in live streams
    undamaged: int = 0
    survived: int = 0
    # Undamaged raw APDUs (no link layer) lost next to a damaged one in a capture: without
    # a checksum or time nothing tells where the damaged one ends (not counted above).
    lost_raw: int = 0
    # Undamaged units of a capture rejected as replays: the damaged copy before them got
    # through a checksum's limits and took their invocation counter (not counted above).
    lost_replayed: int = 0
    splits: int = 0
    split_mismatches: int = 0
    max_retained: int = 0
    rss_kib: list[int] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def merge(self, other: Stats) -> None:
        """Add another run's counts."""
        for item in dataclasses.fields(self):
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if item.name == "max_retained":
                self.max_retained = max(mine, theirs)
            elif item.name == "examples":
                mine.extend(theirs[: max(0, 10 - len(mine))])
            elif isinstance(mine, Counter):
                mine.update(theirs)
            elif isinstance(mine, list):
                mine.extend(theirs)
            else:
                setattr(self, item.name, mine + theirs)

    @property
    def unexplained(self) -> int:
        """Wrong readings no protection limit explains: failures."""
        return self.wrong[""]

    @property
    def failed(self) -> bool:
        """Whether the oracle failed."""
        return bool(
            self.escaped
            or self.unexplained
            or self.split_mismatches
            or self.max_retained > MAX_RETAINED
            or (self.undamaged and self.survived < 0.99 * self.undamaged)
        )


def _retained(obj: Any, depth: int = 2) -> int:
    """Bytes a decoder holds (its buffers and pending segments, one level down)."""
    total = 0
    for value in vars(obj).values():
        if isinstance(value, bytes | bytearray):
            total += len(value)
        elif isinstance(value, list):
            total += sum(len(item) for item in value if isinstance(item, bytes | bytearray))
        elif depth and hasattr(value, "__dict__") and not callable(value):
            total += _retained(value, depth - 1)
    return total


def _split_link_frames(frame: bytes) -> list[tuple[str, bytes]]:
    """A DLMS reading's frame as the link frames it was made of."""
    parts, pos = [], 0
    while pos < len(frame):
        if frame[pos] == 0x7E and pos + 2 < len(frame):
            end = pos + ((frame[pos + 1] & 0x07) << 8 | frame[pos + 2]) + 2
            kind = "hdlc-s" if frame[pos + 1] & 0x08 else "hdlc"
        elif frame[pos] == 0x68 and pos + 1 < len(frame):
            end, kind = pos + frame[pos + 1] + 6, "mbus"
        else:
            end, kind = len(frame), "raw"
        parts.append((kind, frame[pos:end]))
        pos = end
    return parts


_COLLISIONS = {
    "hdlc": "CRC-16/X.25 (HDLC FCS) matched a damaged frame",
    "hdlc-s": "CRC-16/X.25 (HDLC FCS) matched a damaged frame",
    "mbus": "8-bit sum (M-Bus) matched a damaged frame",
    "raw": "no checksum: APDU without link layer",
}


def explain(target: Target, reading: Reading, originals: set[bytes]) -> str:
    """Why a wrong reading got through: a protection limit, or "" (a failure)."""
    frame = reading.frame
    if target.link is Link.LINE:
        return "no checksum: CH-SMR message"
    if target.link is Link.DSMR:
        if frame[:1] != b"/":
            return ""  # a Smarty envelope: the GCM tag verified
        bang = frame.rfind(b"!")
        if not frame[bang + 1 :].strip():
            return "no checksum: DSMR 2.2/3 telegram"
        given = frame[bang + 1 :].strip()
        if frame.rstrip(b"\r\n") not in originals and int(given, 16) == crc16_arc(
            frame[: bang + 1]
        ):
            return "CRC-16/ARC (DSMR) matched a damaged telegram"
        return ""
    if target.link is Link.KMP:
        if frame in originals:
            return ""  # an undamaged answer gave another reading
        try:
            kmp_codec.decode_frame(frame)
        except FrameError:
            return ""  # a frame that fails its own checks was taken
        return "CRC-16/XMODEM (KMP) matched a damaged frame"
    if target.link is Link.MEP:
        sent = {_mep_message(line) for line in originals}
        if all(message in sent for message in _mep_messages(frame)):
            return ""  # undamaged answers gave another reading
        return "MEP digest (8 bytes, keyed) matched a damaged answer"
    if target.authenticated:
        return ""  # the GCM tag verified
    parts = _split_link_frames(frame)
    for kind, data in parts:
        if data in originals:
            continue
        if kind.startswith("hdlc") and not _fcs_ok(data):
            return ""  # a frame with a bad FCS was taken
        return _COLLISIONS[kind]
    if any(kind == "hdlc-s" for kind, _ in parts):
        return "HDLC S-bit segments recombined (they carry no sequence number)"
    return ""


def _mep_message(line: bytes) -> bytes:
    """The message of a dialogue line (``> hex`` or ``< hex``); b"" for other lines."""
    try:
        return bytes.fromhex(line[1:].decode("ascii"))
    except ValueError:
        return b""


def _mep_messages(frame: bytes) -> list[bytes]:
    """A MEP reading's frame as the answers it was made of (each starts with its length)."""
    messages, pos = [], 0
    while pos + 2 <= len(frame):
        end = pos + 2 + int.from_bytes(frame[pos : pos + 2], "big")
        messages.append(frame[pos:end])
        pos = end
    return messages


def _fcs_ok(frame: bytes) -> bool:
    body = frame[1:-1]
    return len(body) > 2 and crc16_x25(body[:-2]) == int.from_bytes(body[-2:], "little")


def _pieces(target: Target, wires: list[list[bytes]], rng: random.Random) -> list[Piece]:
    """The stream as it arrives: unit after unit, ``interval`` apart, at the line's speed;
    garbage after some units."""
    pieces = []
    for index, frames in enumerate(wires):
        moment = index * target.interval
        for frame in frames:
            pieces.append(Piece(moment, frame))
            moment += len(frame) * 11 / target.baud
        if target.separator:
            pieces.append(Piece(moment, target.separator))
        if rng.random() < 0.3:
            pieces.append(Piece(moment, _garbage(rng, target.frame_bytes) + target.separator))
    return pieces


def _chunks(pieces: list[Piece], mode: str, rng: random.Random) -> list[Piece]:
    if mode == "frames":
        return pieces
    out: list[Piece] = []
    for piece in pieces:
        data, pos = piece.data, 0
        while pos < len(data):
            size = 1 if mode == "bytes" else rng.randint(1, 512)
            out.append(Piece(piece.at, data[pos : pos + size]))
            pos += size
    return out


def _describe(result: DecodeResult) -> tuple[Any, ...]:
    if isinstance(result, Reading):
        return ("reading", reading_key(result))
    return (type(result.error).__name__, result.frame)


def run_stream(name: str, seed: int, number: int, stats: Stats, *, verbose: bool = False) -> None:
    """Build stream ``number`` of target ``name``, feed it, judge it into ``stats``."""
    started = time.perf_counter()
    target = BY_NAME[name]
    units_pool = pool(name, seed)
    rng = random.Random(f"{seed}/{name}/{number}")
    if target.captures:
        pick = rng.randrange(len(units_pool.units))
        indices = [pick, pick]
        damaged = [True, False]
    else:
        start = rng.randrange(len(units_pool.units) - STREAM_UNITS + 1)
        indices = list(range(start, start + STREAM_UNITS))
        damaged = [rng.random() < 0.5 for _ in indices]
    units = [units_pool.units[i] for i in indices]
    wires = [list(unit.frames) for unit in units]
    kinds: list[str] = [""] * len(units)
    for position, unit in enumerate(units):
        if kinds[position] or not damaged[position] or unit.absurd:
            damaged[position] = bool(kinds[position])
            continue
        kind = rng.choice(MUTATIONS)
        if kind is Mutation.SPLICED and (
            len(unit.frames) < 2 or position + 1 == len(units) or len(wires[position + 1]) < 2
        ):
            kind = Mutation.REORDERED  # a splice needs two multi-frame units
        stats.mutations[kind] += 1
        kinds[position] = kind
        if kind is Mutation.SPLICED:
            cut = rng.randrange(1, min(len(unit.frames), len(wires[position + 1])))
            wires[position] = wires[position][:cut]
            wires[position + 1] = wires[position + 1][cut:]
            damaged[position + 1] = True
            kinds[position + 1] = "spliced (its head lost)"
        else:
            wires[position] = _mutate(rng, wires[position], kind)
    live = rng.random() < 0.5
    mode = rng.choices(("frames", "random", "bytes"), (0.49, 0.5, 0.01))[0]
    clock = Clock() if live else None
    decoder = _decoder(target, units[0], clock)
    results: list[DecodeResult] = []
    try:
        if units[0].context:  # the dialogue's identification, a unit's time before it
            if clock is not None:
                clock.now = 1000.0 - target.interval
            results += decoder.feed(units[0].context)
        for count, piece in enumerate(_chunks(_pieces(target, wires, rng), mode, rng)):
            if clock is not None:
                clock.now = 1000.0 + piece.at
            results += decoder.feed(piece.data)
            if count % 16 == 0:  # sampled: a buffer grows by at most a chunk at a time
                stats.max_retained = max(stats.max_retained, _retained(decoder))
        stats.max_retained = max(stats.max_retained, _retained(decoder))
        results += decoder.flush()
    except Exception:  # the oracle: nothing but typed rejections may come out
        stats.escaped += 1
        stats.examples.append(f"{name}:{number} escaped: {traceback.format_exc(limit=-6)}")
    stats.streams += 1
    stats.cases += len(units)
    stats.damaged += sum(damaged)
    judge(target, units_pool, indices, damaged, results, stats, f"{name}:{number}", live=live)
    if verbose:
        print(f"{name}:{number} live={live} chunks={mode}")
        for position, index in enumerate(indices):
            reference = units_pool.references[index]
            found = (
                "gives its reading"
                if reference <= {reading_key(r) for r in results if isinstance(r, Reading)}
                else "NO READING"
            )
            print(f"  unit {position}: {kinds[position] or 'undamaged'}, {found}")
        for result in results:
            print("  ", _describe(result)[0], getattr(result, "values", ""), end="")
            print("" if isinstance(result, Reading) else result.error.message)
    if rng.random() < 1 / 200 or verbose:
        _split_everywhere(target, units[damaged.index(False)] if False in damaged else None, stats)
    stats.seconds += time.perf_counter() - started


def judge(
    target: Target,
    units_pool: Pool,
    indices: list[int],
    damaged: list[bool],
    results: list[DecodeResult],
    stats: Stats,
    where: str,
    *,
    live: bool,
) -> None:
    """Count a stream's results into ``stats``: rejections by reason, wrong readings (by
    explanation), and whether each undamaged unit gave its reading."""
    expected: set[ReadingKey] = set()
    originals: set[bytes] = set()
    for index in indices:
        expected |= units_pool.references[index]
        for frame in units_pool.units[index].frames:
            originals.add(frame)
            originals.add(frame.rstrip(b"\r\n"))
    got = set()
    explained: list[str] = []
    for result in results:
        if isinstance(result, RejectedFrame):
            stats.rejections[result.error.reason.value] += 1
            continue
        stats.readings += 1
        key = reading_key(result)
        got.add(key)
        if key not in expected:
            why = explain(target, result, originals)
            explained.append(why)
            stats.wrong[why] += 1
            if live:
                stats.wrong_live[why] += 1
            if not why:
                stats.examples.append(f"{where} wrong reading {dict(result.values)}")
    for index, hurt in zip(indices, damaged, strict=True):
        reference = units_pool.references[index]
        if hurt or not reference:
            continue
        if reference <= got:
            stats.undamaged += 1
            stats.survived += 1
        elif not live and _raw(units_pool.units[index]):
            stats.lost_raw += 1  # see WHAT_IS_CAUGHT
        elif any(why for why in explained) and _replayed(results, units_pool.units[index]):
            stats.lost_replayed += 1  # see WHAT_IS_CAUGHT
        else:
            stats.undamaged += 1
            stats.examples.append(f"{where} lost an undamaged unit")


def _replayed(results: list[DecodeResult], unit: Unit) -> bool:
    """Whether ``unit`` was rejected as a replay (a damaged copy took its counter)."""
    wire = b"".join(unit.frames)
    return any(
        isinstance(r, RejectedFrame) and r.error.reason.value == "replayed" and r.frame in wire
        for r in results
    )


def _raw(unit: Unit) -> bool:
    """An APDU without link layer (a captured .llcpdu)."""
    return unit.frames[0][:1] not in (b"\x7e", b"\x68", b"/", b"\xdb", b"{", b"\x80", b">")


def _split_everywhere(target: Target, unit: Unit | None, stats: Stats) -> None:
    """The unit fed in two chunks, split at every byte boundary: always the same result."""
    if unit is None:
        return
    wire = b"".join(unit.frames)
    reference = [_describe(r) for r in _decode_alone(target, unit)]
    for cut in range(1, len(wire)):
        decoder, results = _primed(target, unit)
        try:
            results += decoder.feed(wire[:cut]) + decoder.feed(wire[cut:]) + decoder.flush()
        except Exception:
            stats.escaped += 1
            continue
        stats.splits += 1
        if [_describe(r) for r in results] != reference:
            stats.split_mismatches += 1
            stats.examples.append(f"{target.name} {unit.name}: split at {cut} differs")


# --------------------------------------------------------------------------------------------
# Running: tasks over processes, progress, summary
# --------------------------------------------------------------------------------------------

STREAMS_PER_TASK = 40


@dataclass(frozen=True)
class Task:
    """Streams ``first`` .. ``first + count - 1`` of one target."""

    name: str
    seed: int
    first: int
    count: int


# A worker process stops a stream that runs away: memory (a decoder that allocates without
# bound fails with MemoryError) and time (one that does not end is interrupted); either
# counts as an escaped exception of that stream.
WORKER_MEMORY = 2 * 1024**3
STREAM_SECONDS = 60


class StreamTimeout(Exception):
    """A stream took longer than :data:`STREAM_SECONDS`."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise StreamTimeout(f"a stream took longer than {STREAM_SECONDS} s")


def _limit_worker() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    signal.signal(signal.SIGALRM, _on_alarm)


def work(task: Task, *, limited: bool = False) -> tuple[str, Stats]:
    """Run one task (in a worker process: ``limited``, see :data:`STREAM_SECONDS`)."""
    stats = Stats()
    for number in range(task.first, task.first + task.count):
        if limited:
            signal.alarm(STREAM_SECONDS)
        try:
            run_stream(task.name, task.seed, number, stats)
        except (StreamTimeout, MemoryError) as err:
            stats.escaped += 1
            stats.examples.append(f"{task.name}:{number} escaped: {err!r}")
        finally:
            if limited:
                signal.alarm(0)
    stats.rss_kib.append(_rss_kib())
    return task.name, stats


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def available_targets(only: str | None = None) -> list[Target]:
    """The targets to run (capture targets only where ../shared/testdata is)."""
    chosen = [t for t in TARGETS if only is None or only in t.name]
    return [t for t in chosen if not t.captures or TESTDATA.is_dir()]


def plan(targets: list[Target], cases_per_decoder: int, seed: int) -> list[Task]:
    """Tasks giving at least ``cases_per_decoder`` cases to every decoder, shared out
    evenly between that decoder's targets."""
    by_standard: dict[Standard, list[Target]] = {}
    for target in targets:
        by_standard.setdefault(target.standard, []).append(target)
    tasks = []
    for group in by_standard.values():
        share = -(-cases_per_decoder // len(group))
        for target in group:
            per_stream = 2 if target.captures else STREAM_UNITS
            streams = -(-share // per_stream)
            for first in range(0, streams, STREAMS_PER_TASK):
                tasks.append(Task(target.name, seed, first, min(STREAMS_PER_TASK, streams - first)))
    random.Random(seed).shuffle(tasks)  # mix slow and fast targets over the run
    return tasks


def run(
    targets: list[Target],
    cases_per_decoder: int,
    *,
    seed: int = 1,
    jobs: int = 1,
    progress: Callable[[dict[str, Stats], float], None] | None = None,
) -> tuple[dict[str, Stats], float]:
    """Run the plan; the stats per target and the wall time."""
    tasks = plan(targets, cases_per_decoder, seed)
    totals = {target.name: Stats() for target in targets}
    started = time.perf_counter()
    if jobs <= 1:
        results: Iterator[tuple[str, Stats]] = map(work, tasks)
        for name, stats in results:
            totals[name].merge(stats)
            if progress:
                progress(totals, len(tasks))
    else:
        context = multiprocessing.get_context("fork")
        with context.Pool(jobs, initializer=_limit_worker) as workers:
            for name, stats in workers.imap_unordered(partial(work, limited=True), tasks):
                totals[name].merge(stats)
                if progress:
                    progress(totals, len(tasks))
    return totals, time.perf_counter() - started


class ProgressBar:
    """One line on stderr: done/total tasks, cases, cases per second, time left."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.done = 0

    def __call__(self, totals: dict[str, Stats], tasks: float) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.started
        cases = sum(stats.cases for stats in totals.values())
        failed = sum(1 for stats in totals.values() if stats.failed)
        share = self.done / tasks
        left = elapsed / share - elapsed if share else 0
        bar = "#" * int(30 * share) + "." * (30 - int(30 * share))
        print(
            f"\r[{bar}] {share:4.0%} {cases:>10,} cases {cases / elapsed:>7,.0f}/s "
            f"{left / 60:4.1f} min left{'  FAILURES' if failed else ''}",
            end="",
            file=sys.stderr,
            flush=True,
        )


WHAT_IS_CAUGHT = {
    "CRC-16/ARC (DSMR) matched a damaged telegram": (
        "DSMR CRC-16/ARC: catches every burst of up to 16 bits and any odd number of "
        "flipped bits; other damage that still frames passes 1 time in 65,536."
    ),
    "CRC-16/X.25 (HDLC FCS) matched a damaged frame": (
        "HDLC FCS (CRC-16/X.25, and the HCS over the header): the same guarantees; other "
        "damage passes 1 time in 65,536 per frame."
    ),
    "8-bit sum (M-Bus) matched a damaged frame": (
        "M-Bus long frames: an 8-bit sum catches one damaged byte, not two changes that "
        "cancel nor bytes in another order; other damage passes about 1 time in 256."
    ),
    "CRC-16/XMODEM (KMP) matched a damaged frame": (
        "KMP answers: byte stuffing keeps start and stop bytes out of a frame, and "
        "CRC-16/XMODEM over the unstuffed body catches every burst of up to 16 bits and any "
        "three flipped bits; other damage that still frames passes 1 time in 65,536."
    ),
    "MEP digest (8 bytes, keyed) matched a damaged answer": (
        "MEP answers: the 8-byte digest keyed with the MBK runs over the request and the "
        "answer, so a damaged, foreign or misplaced answer fails it (not a cryptographic "
        "MAC, but 64 bits against random damage); a line is taken only when its length "
        "field matches too."
    ),
    "no checksum: DSMR 2.2/3 telegram": (
        "DSMR 2.2/3 has no CRC: damage that leaves a well-formed line gives a wrong value; "
        "only the framing and the line syntax catch anything."
    ),
    "no checksum: CH-SMR message": (
        "CH-SMR JSON has no checksum: a changed digit that leaves valid JSON is taken."
    ),
    "no checksum: APDU without link layer": (
        "Captured APDUs without link layer (.llcpdu) carry no checksum of their own."
    ),
    "HDLC S-bit segments recombined (they carry no sequence number)": (
        "HDLC S-bit segments (Iskra AM550) have no number: segments of one push in another "
        "order are caught only when the push no longer parses; across pushes, silence "
        "(live) or the header/clock check (when the push has a clock object) catches them."
    ),
}


def summary(totals: dict[str, Stats], wall: float) -> str:
    """The table of the run, per target and per decoder, and what protection allowed."""
    lines = [
        f"{'target':<18} {'cases':>10} {'damaged':>9} {'cases/s':>8} {'readings':>9} "
        f"{'rejected':>9} {'escaped':>7} {'wrong':>5} {'explained':>9} {'survival':>9} "
        f"{'buffer':>7}",
    ]
    by_standard: dict[str, Stats] = {}
    for name, stats in totals.items():
        by_standard.setdefault(BY_NAME[name].standard.value, Stats()).merge(stats)
        lines.append(_row(name, stats))
    lines.append("-" * len(lines[0]))
    lines += [_row(f"= {name}", stats) for name, stats in by_standard.items()]
    overall = Stats()
    for stats in totals.values():
        overall.merge(stats)
    lines.append(_row("= all", overall))
    lines.append(
        f"\nwall time {wall:.0f} s, {overall.cases / wall:,.0f} cases/s; "
        f"{overall.splits:,} more cases split at every byte boundary "
        f"({overall.split_mismatches} differ)"
    )
    if overall.rss_kib:
        rss = overall.rss_kib
        lines.append(
            f"resident memory per worker task: {min(rss) / 1024:.1f} to {max(rss) / 1024:.1f} MiB"
        )
    lines.append("\nrejections by reason:")
    for name, stats in by_standard.items():
        reasons = ", ".join(
            f"{reason} {count:,}" for reason, count in stats.rejections.most_common()
        )
        lines.append(f"  {name}: {reasons}")
    lines.append(
        "\nwrong readings let through by a protection's limits (not failures), in all "
        "streams / in live streams:"
    )
    for why, text in WHAT_IS_CAUGHT.items():
        lines.append(f"  {overall.wrong[why]:>7,} / {overall.wrong_live[why]:<7,} {text}")
    lines.append(
        f"  {overall.lost_raw:>7,}  undamaged APDUs without link layer lost next to a damaged "
        "one in a capture (no checksum, no time: not counted in the survival rate; live, "
        "the silence between pushes separates them)"
    )
    lines.append(
        f"  {overall.lost_replayed:>7,}  undamaged copies of a capture rejected as replays: "
        "the damaged copy before them got through a checksum's limits and took their "
        "invocation counter (not counted in the survival rate)"
    )
    examples = [example for stats in totals.values() for example in stats.examples]
    if examples:
        lines.append("\nexamples of failures:")
        lines += [f"  {example.strip()}" for example in examples[:10]]
    return "\n".join(lines)


def _row(name: str, stats: Stats) -> str:
    rate = stats.cases / stats.seconds if stats.seconds else 0.0
    survival = 100 * stats.survived / stats.undamaged if stats.undamaged else 100.0
    explained = sum(count for why, count in stats.wrong.items() if why)
    return (
        f"{name:<18} {stats.cases:>10,} {stats.damaged:>9,} {rate:>8,.0f} {stats.readings:>9,} "
        f"{sum(stats.rejections.values()):>9,} {stats.escaped:>7} {stats.unexplained:>5} "
        f"{explained:>9,} {survival:>8.2f}% {stats.max_retained:>7,}"
    )


def as_json(totals: dict[str, Stats], wall: float) -> str:
    """The run's figures as JSON (for the README and later comparisons)."""
    document = {"wall_seconds": round(wall, 1), "targets": {}}
    for name, stats in totals.items():
        row = dataclasses.asdict(stats)
        row["mutations"] = dict(stats.mutations)
        row["rejections"] = dict(stats.rejections)
        row["wrong"] = {why or "UNEXPLAINED": count for why, count in stats.wrong.items()}
        row["wrong_live"] = {why or "UNEXPLAINED": n for why, n in stats.wrong_live.items()}
        row["rss_kib"] = [min(stats.rss_kib, default=0), max(stats.rss_kib, default=0)]
        document["targets"][name] = row
    return json.dumps(document, indent=1)


def main(argv: list[str] | None = None) -> int:
    """The command line of ``scripts/fuzz``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="1,000,000 cases per decoder")
    parser.add_argument("--cases", type=int, help="cases per decoder (default 2,000)")
    parser.add_argument("--jobs", type=int, help="worker processes (default: every core)")
    parser.add_argument("--only", help="only the targets whose name contains this")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--replay", help="NAME:N: run stream N of target NAME, verbosely")
    args = parser.parse_args(argv)
    if args.replay:
        name, number = args.replay.rsplit(":", 1)
        stats = Stats()
        run_stream(name, args.seed, int(number), stats, verbose=True)
        print("\n".join(stats.examples) or "no failure")
        return int(stats.failed)
    cases = args.cases or (1_000_000 if args.long else 2_000)
    jobs = args.jobs or (os.cpu_count() or 1)
    targets = available_targets(args.only)
    if not TESTDATA.is_dir():
        print(f"note: {TESTDATA} is absent: the capture targets are left out", file=sys.stderr)
    print(
        f"{cases:,} cases per decoder over {len(targets)} targets, {jobs} processes",
        file=sys.stderr,
    )
    totals, wall = run(targets, cases, seed=args.seed, jobs=jobs, progress=ProgressBar())
    print(file=sys.stderr)
    print(summary(totals, wall))
    if args.json:
        args.json.write_text(as_json(totals, wall), encoding="utf-8")
    failed = [name for name, stats in totals.items() if stats.failed]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Captured MEP dialogues (``> request`` / ``< answer`` lines) decode to the poller's readings.

Dialogues come from the guide's example 1 (read in place from ../shared/testdata/mep and
written to a temporary file, never into the repository) and from recordings of the poller
talking to the simulated meter. The command-line tool decodes them, reads a simulated
meter and runs one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from custom_components.ch_smart_meter.reader import cli
from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    KeyRejected,
    KeyRequired,
    MalformedFrame,
    RequestRefused,
    TruncatedFrame,
)
from custom_components.ch_smart_meter.reader.mep.dialogue import MepDialogueDecoder
from custom_components.ch_smart_meter.reader.mep.message import (
    ResponseCode,
    open_answer,
    read_body,
    seal,
)
from custom_components.ch_smart_meter.reader.mep.meter import (
    DEFAULT_LAYOUT_NOTICE,
    Gathered,
    MeterKnowledge,
)
from custom_components.ch_smart_meter.reader.mep.poller import MepPoller
from custom_components.ch_smart_meter.reader.mep.tables import Read
from custom_components.ch_smart_meter.reader.model import (
    DecodeResult,
    Reading,
    RejectedFrame,
    Standard,
    TimeSource,
)
from custom_components.ch_smart_meter.reader.session import MeterSession
from custom_components.ch_smart_meter.reader.simulate.mep_meter import DEMO_MBK, MepSource
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.source import Simulator, SourceOptions
from custom_components.ch_smart_meter.reader.simulate.stream import SimulatedStream
from custom_components.ch_smart_meter.reader.spec import DecoderOptions, StandardSpec
from custom_components.ch_smart_meter.reader.standards import get_spec
from custom_components.ch_smart_meter.reader.transport import register_opener
from tests.conftest import testdata_dir as capture_folder

from .test_cli import start_simulator, stop, tool

pytestmark = pytest.mark.usefixtures("socket_enabled")

SPEC = get_spec(Standard.MEP)
GUIDE_KEY = "01" * 16
HOST_TIME = datetime(2026, 6, 17, 12, 0, tzinfo=UTC)
FAST = dataclasses.replace(SPEC, min_poll_interval=0.2)


def example_dialogue() -> str:
    """The guide's example 1 as a dialogue: wrong sequence number, 0x0C, retry, data."""
    folder = capture_folder("mep")
    lines = []
    for part, direction in zip("abcd", "><><", strict=True):
        (path,) = folder.glob(f"osgp_mepdg__rc4_ex1_{part}_*.hex")
        lines.append(f"{direction} {path.read_text().strip()}")
    return "\n".join(lines) + "\n"


def decode(text: str, key: bytes | None, *, bytewise: bool = False) -> list[DecodeResult]:
    decoder = MepDialogueDecoder(DecoderOptions(encryption_key=key, clock=lambda: HOST_TIME))
    data = text.encode()
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    results = [r for chunk in chunks for r in decoder.feed(chunk)]
    return results + decoder.flush()


def readings(results: list[DecodeResult]) -> list[Reading]:
    return [r for r in results if isinstance(r, Reading)]


def rejected(results: list[DecodeResult]) -> list[RejectedFrame]:
    return [r for r in results if isinstance(r, RejectedFrame)]


# -- the guide's example -----------------------------------------------------------------------


@pytest.mark.parametrize("bytewise", [False, True])
def test_the_guides_example_1_dialogue(bytewise: bool) -> None:
    results = decode(example_dialogue(), bytes.fromhex(GUIDE_KEY), bytewise=bytewise)
    (reading,) = results  # the 0x0C is a resynchronisation, not an error
    assert isinstance(reading, Reading)
    assert dict(reading.values) == {"1.8.0": 0.0, "2.8.0": 0.0, "3.8.0": 0.0, "4.8.0": 0.0}
    assert reading.time_source is TimeSource.HOST and reading.timestamp == HOST_TIME
    assert reading.notices == (DEFAULT_LAYOUT_NOTICE,)
    assert reading.meter_id == "unknown"


def test_a_wrong_key_is_said_on_every_message() -> None:
    results = decode(example_dialogue(), bytes(16))
    assert readings(results) == []
    assert [r.position for r in results] == ["line 1", "line 3"]
    for result in rejected(results):
        assert isinstance(result.error, KeyRejected)
        assert "the MEP key is wrong" in result.error.message


def test_without_a_key_nothing_is_trusted() -> None:
    results = decode(example_dialogue(), None)
    assert len(results) == 2 and all(isinstance(r.error, KeyRequired) for r in rejected(results))


def test_malformed_lines_and_noise() -> None:
    good = example_dialogue().splitlines()
    broken = [
        "> zz",
        "> 0005 3f",
        "< 0000",  # an alert sequence
        good[1],  # an answer without its request
    ]
    text = "\n".join(["# a comment", "", "hello", *good, *broken])
    results = decode(text, bytes.fromhex(GUIDE_KEY))
    errors = [(r.position, type(r.error)) for r in rejected(results)]
    assert errors == [
        ("line 3", MalformedFrame),
        ("line 8", MalformedFrame),
        ("line 9", MalformedFrame),
        ("line 11", MalformedFrame),
    ]
    assert len(readings(results)) == 1
    # Before a cycle without clock read, a broken request may have been one of its reads.
    results = decode("\n".join(["hello", *broken, *good]), bytes.fromhex(GUIDE_KEY))
    assert readings(results) == []
    assert isinstance(results[-1], RejectedFrame)
    assert isinstance(results[-1].error, TruncatedFrame)


def test_a_corrupted_answer_after_good_ones_is_corruption_not_a_wrong_key() -> None:
    lines = example_dialogue().splitlines()
    lines[3] = lines[3][:-4] + ("00" if lines[3][-2:] != "00" else "11") + lines[3][-2:]
    results = decode("\n".join(lines), bytes.fromhex(GUIDE_KEY))
    (result,) = results
    assert isinstance(result, RejectedFrame) and isinstance(result.error, CrcError)


# -- dialogues recorded from the simulated meter ------------------------------------------------


class Recorder:
    """A simulated meter that writes down the dialogue, one message per line."""

    def __init__(self, source: MepSource) -> None:
        self.source = source
        self.lines: list[str] = []

    @property
    def standard(self) -> Standard:
        return Standard.MEP

    def frame_at(self, moment: datetime) -> bytes:
        return b""

    def respond(self, request: bytes, moment: datetime) -> bytes:
        answer = self.source.respond(request, moment)
        self.lines.append(f"> {request.hex()}")
        if answer:
            self.lines.append(f"< {answer.hex(' ')}")
        return answer


_RECORDERS: dict[str, Recorder] = {}


async def _open_recorded(url: str) -> SimulatedStream:
    return SimulatedStream(Simulator(_RECORDERS[url]), url)


register_opener("mep-recorded", _open_recorded)


def record(
    readings_wanted: int, *, model: str | None = None, spec: StandardSpec = FAST
) -> tuple[list[Reading], Recorder]:
    """A session's readings and the dialogue that gave them."""
    source = create_source(Standard.MEP, SourceOptions(seed=11, model=model))
    assert isinstance(source, MepSource)
    url = f"mep-recorded://{len(_RECORDERS)}"
    recorder = _RECORDERS[url] = Recorder(source)
    got: list[Reading] = []

    async def run() -> None:
        session = MeterSession(
            url,
            spec,
            DecoderOptions(encryption_key=DEMO_MBK),
            on_result=lambda r: got.append(r) if isinstance(r, Reading) else None,
            poll_interval=0.25,
        )
        task = asyncio.create_task(session.run())
        try:
            async with asyncio.timeout(20):
                while len(got) < readings_wanted:
                    await asyncio.sleep(0.02)
        finally:
            await session.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(run())
    return got[:readings_wanted], recorder


def same_reading(decoded: Reading, polled: Reading) -> None:
    assert dict(decoded.values) == dict(polled.values)
    assert decoded.timestamp == polled.timestamp and decoded.time_source is TimeSource.METER
    fields = ("meter_id", "manufacturer", "model", "notices")
    assert [getattr(decoded, f) for f in fields] == [getattr(polled, f) for f in fields]


@pytest.fixture(scope="module")
def recorded() -> tuple[list[Reading], Recorder]:
    return record(3)


@pytest.mark.parametrize("bytewise", [False, True])
def test_a_recorded_dialogue_decodes_to_the_polled_readings(
    recorded: tuple[list[Reading], Recorder], bytewise: bool
) -> None:
    polled, recorder = recorded
    results = decode("\n".join(recorder.lines) + "\n", DEMO_MBK, bytewise=bytewise)
    assert rejected(results) == []
    decoded = readings(results)
    assert len(decoded) == len(polled)
    for mine, theirs in zip(decoded, polled, strict=True):
        same_reading(mine, theirs)
    assert recorder.lines[1].startswith("< 00 0d 0c")  # the first guess was resynchronised


def test_a_recorded_rc4_dialogue_and_a_ct_meter() -> None:
    spec = dataclasses.replace(FAST, create_poller=partial(MepPoller, encrypt=True))
    polled, recorder = record(2, model="nes-ct", spec=spec)
    results = decode("\n".join(recorder.lines), DEMO_MBK)
    assert rejected(results) == []
    for mine, theirs in zip(readings(results), polled, strict=True):
        same_reading(mine, theirs)
    assert any(line.startswith("> ") and "3f" not in line[:12] for line in recorder.lines)


def test_refused_reads_are_reported(recorded: tuple[list[Reading], Recorder]) -> None:
    source = create_source(Standard.MEP, SourceOptions(seed=11))
    assert isinstance(source, MepSource)
    sent = seal(DEMO_MBK, read_body(0x0999, 0, 4, source.sequence + 1))
    answer = source.respond(sent.wire, HOST_TIME)
    results = decode(f"> {sent.wire.hex()}\n< {answer.hex()}\n", DEMO_MBK)
    (result,) = results
    assert isinstance(result, RejectedFrame) and isinstance(result.error, RequestRefused)
    assert "(0x05)" in result.error.message


def _message_sizes(lines: list[str]) -> Iterator[int]:
    for line in lines:
        yield len(bytes.fromhex(line[2:]))


def test_wire_time_of_a_cycle_at_9600_baud(recorded: tuple[list[Reading], Recorder]) -> None:
    """One steady-state cycle (BT52, BT28, BT23: three requests, three answers)."""
    _, recorder = recorded
    cycle = recorder.lines[-6:]
    assert [line[0] for line in cycle] == [">", "<"] * 3
    sent = sum(_message_sizes(cycle[0::2]))
    received = sum(_message_sizes(cycle[1::2]))
    seconds = (sent + received) * 10 / 9600  # 8N1: ten bits a byte
    print(f"MEP cycle: {sent} bytes sent, {received} received, {seconds:.3f} s at 9600 baud")
    assert seconds <= 2.0
    assert sent == 3 * 22


# -- the command-line tool ---------------------------------------------------------------------


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(args), stdout=out, stderr=err)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_cli_decodes_a_dialogue(tmp_path: Path) -> None:
    path = tmp_path / "example1.txt"
    path.write_text(example_dialogue())
    result = invoke("decode", "--standard", "mep", "--key", GUIDE_KEY, str(path))
    assert result.returncode == 0, result.stderr
    assert '"1.8.0":0.0' in result.stdout and '"96.1.1":"unknown"' in result.stdout
    assert "notice: the meter's register layout" in result.stderr
    wrong = invoke("decode", "--standard", "mep", "--key", "02" * 16, str(path))
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert "rejected answer (line 1): the meter rejects the key: the MEP key is wrong" in (
        wrong.stderr
    )
    bad = invoke("decode", "--standard", "mep", "--key", "SECRET-TOO-SHORT", str(path))
    assert bad.returncode == 2 and "20-character MBK" in bad.stderr
    assert "SECRET-TOO-SHORT" not in bad.stderr


def test_cli_reads_the_simulated_meter() -> None:
    key = DEMO_MBK.decode()
    result = invoke(
        "read", "--standard", "mep", "--port", "simulator://mep", "--key", key, "--count", "1"
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r'"1\.8\.0":\d+\.\d+', result.stdout)
    assert key not in result.stdout + result.stderr
    wrong = invoke(
        "read",
        "--standard",
        "mep",
        "--port",
        "simulator://mep",
        "--key",
        "NOT-THE-METERS-KEY!!",
        "--timeout",
        "1.5",
    )
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert "the MEP key is wrong" in wrong.stderr and "NOT-THE-METERS-KEY" not in wrong.stderr


@pytest.mark.parametrize("where", [["--tcp", "0"], ["--pty"]])
def test_cli_simulates_a_meter_that_cli_reads(where: list[str]) -> None:
    key = "ABCDEFGHIJ0123456789"
    simulator, url = start_simulator("--standard", "mep", *where, "--key", key)
    try:
        result = tool(
            "read",
            "--standard",
            "mep",
            "--port",
            url,
            "--key",
            key.encode().hex(),
            "--count",
            "1",
            "--timeout",
            "20",
        )
        assert result.returncode == 0, result.stderr
        assert '"96.1.1":"CH' in result.stdout
    finally:
        assert stop(simulator) == 0


# -- damaged cycles: no reading that the poller would not make ---------------------------------


class Asker:
    """Asks the simulated meter as the poller does, without its timing, and writes the
    dialogue's lines."""

    def __init__(self, seed: int) -> None:
        self.source = MepSource(SourceOptions(seed=seed))
        self.knowledge = MeterKnowledge()
        self.sequence = self.source.sequence

    def exchange(self, read: Read, moment: datetime) -> tuple[list[str], bytes]:
        """One read: its two lines and the answer's table data (b"" unless OK)."""
        self.sequence += 1
        body = read_body(read.table, read.offset, read.length, self.sequence)
        sent = seal(DEMO_MBK, body)
        answer = self.source.respond(sent.wire, moment)
        lines = [f"> {sent.wire.hex()}", f"< {answer.hex(' ')}"]
        try:
            opened = open_answer(DEMO_MBK, sent, answer)
        except CrcError:
            return lines, b""
        return lines, opened.data if opened.code == ResponseCode.OK else b""

    def identification(self) -> list[str]:
        lines: list[str] = []
        while reads := self.knowledge.identification_reads():
            exchanged, data = self.exchange(reads[0], HOST_TIME)
            lines += exchanged
            self.knowledge.learn(reads[0], data, Gathered())
        return lines

    def cycle(self, index: int) -> list[str]:
        """The six lines of a reading cycle (BT52, BT28, BT23), ten seconds after the last."""
        moment = HOST_TIME + timedelta(seconds=10 * index)
        reads = self.knowledge.cycle_reads()
        return [line for read in reads for line in self.exchange(read, moment)[0]]


def decode_lines(*parts: list[str]) -> list[DecodeResult]:
    return decode("\n".join(line for part in parts for line in part), DEMO_MBK)


@pytest.fixture(scope="module")
def dialogue() -> tuple[list[str], list[list[str]], list[Reading]]:
    """Identification, four cycles, and each cycle's reading decoded alone."""
    asker = Asker(seed=5)
    identification = asker.identification()
    cycles = [asker.cycle(index) for index in range(4)]
    alone = []
    for cycle in cycles:
        (reading,) = decode_lines(identification, cycle)
        assert isinstance(reading, Reading) and reading.time_source is TimeSource.METER
        alone.append(reading)
    return identification, cycles, alone


def test_a_cycle_that_lost_a_message_gives_no_reading(
    dialogue: tuple[list[str], list[list[str]], list[Reading]],
) -> None:
    """A cycle that lost its BT23 answer gave a reading of its present values alone; one
    whose BT52 request was broken, a reading stamped with the host's time; lines lost
    across two cycles joined one's clock with the other's values. The poller makes none of
    these, nor does the decoder any more; the cycles around them still give theirs."""
    identification, (first, second, third, fourth), alone = dialogue
    lost_energies = first[:5]
    lost_clock = ["> zz" + second[0][4:], *second[1:]]
    joined = third[:2] + fourth[2:]
    for damaged in (lost_energies, lost_clock, joined):
        results = decode_lines(identification, damaged, fourth)
        assert readings(results) == [alone[3]]
        (lost,) = [r for r in rejected(results) if isinstance(r.error, TruncatedFrame)]
        assert "lost" in lost.error.message
    # At the start of a capture too: no cycle before has shown that cycles read the clock.
    results = decode_lines(identification, lost_clock, fourth)
    assert readings(results) == [alone[3]]
    # And at its end: a request whose answer the capture does not hold, or a cycle whose
    # energies read is not in it at all.
    assert readings(decode_lines(identification, first, fourth[:5])) == [alone[0]]
    assert readings(decode_lines(identification, first, fourth[:4])) == [alone[0]]


def test_a_retried_read_and_a_resent_request_lose_nothing() -> None:
    """The poller's retry after a damaged answer (a new request, the next number) and the
    guide's resend of identical bytes after a timeout leave the cycle whole."""
    asker = Asker(seed=6)
    identification = asker.identification()
    clock, bt28, bt23 = asker.knowledge.cycle_reads()
    lines = asker.exchange(clock, HOST_TIME)[0]
    asker.source.corrupt_answers()
    lines += asker.exchange(bt28, HOST_TIME)[0]
    lines += asker.exchange(bt28, HOST_TIME)[0]
    bt23_lines = asker.exchange(bt23, HOST_TIME)[0]
    lines += [bt23_lines[0], *bt23_lines]
    results = decode_lines(identification, lines)
    assert len(readings(results)) == 1
    assert [type(r.error) for r in rejected(results)] == [CrcError]

"""End to end: simulated DLMS meters -> wire bytes -> the library's decoders.

The simulators (``simulate/dlms_meters.py``) and the decoders (``standards/lg_mbus.py``,
``p1_dlms.py``, ``kamstrup_dlms.py``) share no code, so a push that decodes to exactly the
values, meter id and timestamp the simulator put in proves both sides. Every check is exact:
values are compared as the floats of the simulator's ``Decimal`` values, timestamps with
their UTC offset.

Covered: random pushes of every model (plain, AES-GCM with EK only, AES-GCM with EK and
AK), fed in one chunk and byte by byte; the ``decode`` command of the CLI with right, wrong
and missing keys; a real pseudo-terminal read through a ``MeterSession``; the
``simulator://`` transport; and the ``simulate`` command in a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from custom_components.ch_smart_meter.reader import cli
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame, Standard
from custom_components.ch_smart_meter.reader.session import MeterSession
from custom_components.ch_smart_meter.reader.simulate import dlms_meters as meters
from custom_components.ch_smart_meter.reader.simulate import dlms_models as models
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.outputs import PtyOutput, run
from custom_components.ch_smart_meter.reader.simulate.source import Simulator, SourceOptions
from custom_components.ch_smart_meter.reader.spec import DecoderOptions, StandardSpec
from custom_components.ch_smart_meter.reader.standards import get_spec

SWISS = ZoneInfo("Europe/Zurich")
EK = bytes.fromhex("5C316162209EBB790B52EB0E7FC5B11C")
AK = bytes.fromhex("92705C5C97286064EABAE38D190F87A4")
REPO = Path(__file__).resolve().parents[2]


def spec_or_skip(standard: Standard) -> StandardSpec:
    """The decoder's spec."""
    return get_spec(standard)


def expected_values(push: meters.SimulatedPush) -> dict[str, float]:
    return {code: float(value) for code, value in push.values.items()}


def assert_reading_is(reading: Reading, push: meters.SimulatedPush) -> None:
    """The reading says exactly what the simulated meter sent."""
    assert reading.meter_id == push.meter_id
    assert reading.id_obis == push.id_obis
    assert reading.timestamp == push.timestamp
    assert reading.timestamp.utcoffset() == push.timestamp.utcoffset()
    assert dict(reading.values) == expected_values(push)


# -- random pushes of every model --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """A simulated meter and how its pushes are protected."""

    model: models.DlmsMeterModel
    ciphering: meters.Ciphering | None = None

    @property
    def id(self) -> str:
        protection = "plain"
        if self.ciphering is not None:
            protection = f"sc{self.ciphering.control:02x}"
        return f"{self.model.id}-{protection}"


CASES = [
    Case(models.LG_E450),
    Case(models.LG_E450, meters.Ciphering(EK, AK)),
    Case(models.LG_E450, meters.Ciphering(EK)),
    Case(models.LG_E450_MBUS),
    Case(models.LG_E450_MBUS, meters.Ciphering(EK, AK)),
    Case(models.LG_E360),
    Case(models.LG_E360, meters.Ciphering(EK, AK)),
    Case(models.ISKRA_AM550),
    Case(models.ISKRA_AM550, meters.Ciphering(EK)),
    Case(models.KAMSTRUP_OMNIPOWER),
    Case(models.KAMSTRUP_OMNIPOWER, meters.Ciphering(EK, AK)),
    Case(models.KAMSTRUP_OMNIPOWER_1PH),
]


def _ambiguous(moment: datetime) -> bool:
    """Local times of the repeated October hour cannot be told apart without a deviation."""
    local = moment.astimezone(SWISS).replace(tzinfo=None)
    return (
        local.replace(tzinfo=SWISS, fold=0).utcoffset()
        != local.replace(tzinfo=SWISS, fold=1).utcoffset()
    )


def random_pushes(case: Case, rng: random.Random, count: int = 12) -> list[meters.SimulatedPush]:
    """``count`` pushes of one meter at its interval from a random instant of 2025/2026.

    The start is a random day at hh:59:xx so that a Kamstrup meter also sends an hourly list.
    """
    while True:
        start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
            days=rng.randrange(2 * 365), hours=rng.randrange(24)
        )
        start = start.astimezone(SWISS).replace(minute=59, second=rng.randrange(60 - 25))
        # Arithmetic in UTC: wall-clock arithmetic in a zone would skip or repeat DST hours.
        instants = [
            start.astimezone(UTC) + timedelta(seconds=case.model.interval * k) for k in range(count)
        ]
        if not any(_ambiguous(moment) for moment in instants):
            break
    meter = meters.SimulatedDlmsMeter(
        case.model, seed=rng.randrange(10_000), ciphering=case.ciphering
    )
    return [meter.push_at(moment) for moment in instants]


def decoder_for(case: Case):
    spec = spec_or_skip(case.model.standard)
    keys = case.ciphering
    return spec.create_decoder(
        DecoderOptions(
            encryption_key=keys.encryption_key if keys else None,
            authentication_key=keys.authentication_key if keys else None,
        )
    )


def _chunks(data: bytes, how: str, rng: random.Random) -> Iterator[bytes]:
    if how == "one-chunk":
        yield data
    elif how == "byte-by-byte":
        for index in range(len(data)):
            yield data[index : index + 1]
    else:  # random slices, as a serial port delivers them
        position = 0
        while position < len(data):
            size = rng.randrange(1, 300)
            yield data[position : position + size]
            position += size


@pytest.mark.parametrize("how", ["one-chunk", "byte-by-byte", "random-slices"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_random_pushes_decode_exactly(case: Case, how: str) -> None:
    rng = random.Random(f"{case.id}/{how}")
    pushes = random_pushes(case, rng)
    decoder = decoder_for(case)
    results = []
    for chunk in _chunks(b"".join(push.wire for push in pushes), how, rng):
        results += decoder.feed(chunk)
    results += decoder.flush()
    rejected = [r.error.message for r in results if isinstance(r, RejectedFrame)]
    assert rejected == []
    assert len(results) == len(pushes)
    for reading, push in zip(results, pushes, strict=True):
        assert isinstance(reading, Reading)
        assert_reading_is(reading, push)
    if case.model.hourly_objects:
        assert any(push.hourly for push in pushes)


# -- the decode command ------------------------------------------------------------------


@dataclass(slots=True)
class CliRun:
    code: int
    payloads: list[dict[str, object]] = field(default_factory=list)
    stderr: str = ""


def run_decode(path: Path, standard: Standard, *extra: str) -> CliRun:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(
        ["decode", "--standard", standard.value, *extra, str(path)], stdout=out, stderr=err
    )
    payloads = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return CliRun(code, payloads, err.getvalue())


def assert_payload_is(payload: dict[str, object], push: meters.SimulatedPush) -> None:
    """A CH-SMR payload printed by the CLI says exactly what the meter sent."""
    meter = payload["meter"]
    assert isinstance(meter, dict)
    timestamp = datetime.fromisoformat(meter.pop("ts"))
    assert timestamp == push.timestamp
    assert timestamp.utcoffset() == push.timestamp.utcoffset()
    assert meter.pop(push.id_obis) == push.meter_id
    assert meter == expected_values(push)


def _write(tmp_path: Path, pushes: Sequence[meters.SimulatedPush]) -> Path:
    path = tmp_path / "capture.bin"
    path.write_bytes(b"".join(push.wire for push in pushes))
    return path


KEY_CASES = [
    Case(models.LG_E450, meters.Ciphering(EK, AK)),
    Case(models.KAMSTRUP_OMNIPOWER, meters.Ciphering(EK, AK)),
    Case(models.LG_E360, meters.Ciphering(EK)),
]


def _key_arguments(ciphering: meters.Ciphering | None) -> list[str]:
    if ciphering is None:
        return []
    arguments = ["--key", ciphering.encryption_key.hex()]
    if ciphering.authentication_key is not None:
        arguments += ["--auth-key", ciphering.authentication_key.hex()]
    return arguments


@pytest.mark.parametrize(
    "case",
    [Case(models.LG_E450), Case(models.KAMSTRUP_OMNIPOWER), Case(models.ISKRA_AM550), *KEY_CASES],
    ids=lambda case: case.id,
)
def test_cli_decode_prints_exact_chsmr_payloads(case: Case, tmp_path: Path) -> None:
    spec_or_skip(case.model.standard)
    pushes = random_pushes(case, random.Random(f"cli/{case.id}"), count=8)
    result = run_decode(
        _write(tmp_path, pushes), case.model.standard, *_key_arguments(case.ciphering)
    )
    assert result.code == 0, result.stderr
    assert "rejected" not in result.stderr
    assert len(result.payloads) == len(pushes)
    for payload, push in zip(result.payloads, pushes, strict=True):
        assert_payload_is(payload, push)


def test_cli_decode_reads_hex_text(tmp_path: Path) -> None:
    spec_or_skip(Standard.LG_MBUS)
    pushes = random_pushes(Case(models.LG_E450), random.Random("hex"), count=3)
    path = tmp_path / "capture.hex"
    path.write_text("\n".join(frame.hex() for push in pushes for frame in push.frames) + "\n")
    result = run_decode(path, Standard.LG_MBUS, "--hex")
    assert result.code == 0, result.stderr
    for payload, push in zip(result.payloads, pushes, strict=True):
        assert_payload_is(payload, push)


# Which key is wrong; encryption without authentication (SC 0x20) has no tag to check.
WRONG_KEYS = [
    pytest.param(case, wrong, id=f"{case.id}-wrong-{wrong}")
    for case in KEY_CASES
    for wrong in ("encryption-key", "authentication-key")
    if wrong == "encryption-key" or (case.ciphering and case.ciphering.authentication_key)
]


@pytest.mark.parametrize(("case", "wrong"), WRONG_KEYS)
def test_cli_decode_with_a_wrong_key_gives_no_reading_and_says_why(
    case: Case, wrong: str, tmp_path: Path
) -> None:
    spec_or_skip(case.model.standard)
    assert case.ciphering is not None
    pushes = random_pushes(case, random.Random(f"wrong/{case.id}"), count=3)
    bad = bytes.fromhex("0F0E0D0C0B0A09080706050403020100")
    keys = meters.Ciphering(
        bad if wrong == "encryption-key" else case.ciphering.encryption_key,
        bad if wrong == "authentication-key" else case.ciphering.authentication_key,
    )
    result = run_decode(_write(tmp_path, pushes), case.model.standard, *_key_arguments(keys))
    assert result.code == 1
    assert result.payloads == []
    assert "decryption failed" in result.stderr
    # The keys are never printed.
    for key in (bad, EK, AK):
        assert key.hex() not in result.stderr.lower()


@pytest.mark.parametrize("case", KEY_CASES, ids=lambda case: case.id)
def test_cli_decode_without_a_key_says_that_a_key_is_needed(case: Case, tmp_path: Path) -> None:
    spec_or_skip(case.model.standard)
    pushes = random_pushes(case, random.Random(f"nokey/{case.id}"), count=2)
    result = run_decode(_write(tmp_path, pushes), case.model.standard)
    assert result.code == 1
    assert result.payloads == []
    assert "encrypted" in result.stderr and "key is needed" in result.stderr


# -- real byte streams: pseudo-terminal, simulator://, the simulate command -----------------


class RecordingSource:
    """A frame source that keeps every push it sent (to compare with what was read)."""

    def __init__(self, source: meters.DlmsSource) -> None:
        self.source = source
        self.pushes: dict[datetime, meters.SimulatedPush] = {}

    @property
    def standard(self) -> Standard:
        return self.source.standard

    def frame_at(self, moment: datetime) -> bytes:
        wire = self.source.frame_at(moment)
        push = self.source.last_push
        assert push is not None
        self.pushes[push.timestamp] = push
        return wire

    def respond(self, request: bytes, moment: datetime) -> bytes:
        return self.source.respond(request, moment)


async def read_readings(
    url: str, spec: StandardSpec, options: DecoderOptions, count: int, timeout: float = 10
) -> list[Reading]:
    """Read ``count`` readings from ``url`` with a real :class:`MeterSession`.

    A reader that opens a port while a meter is sending may see the end of a push first:
    rejected frames are allowed before the first reading, never after it.
    """
    results: list[Reading | RejectedFrame] = []
    enough = asyncio.Event()

    def on_result(result: Reading | RejectedFrame) -> None:
        results.append(result)
        if sum(isinstance(item, Reading) for item in results) >= count:
            enough.set()

    session = MeterSession(url, spec, options, on_result=on_result, backoff_initial=0.05)
    task = asyncio.create_task(session.run())
    try:
        async with asyncio.timeout(timeout):
            await enough.wait()
    finally:
        await session.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    first = next(index for index, item in enumerate(results) if isinstance(item, Reading))
    after = [item.error.message for item in results[first:] if isinstance(item, RejectedFrame)]
    assert after == []
    return [item for item in results if isinstance(item, Reading)]


PTY_CASES = [
    (Standard.LG_MBUS, meters.Ciphering(EK, AK)),
    (Standard.P1_DLMS, None),
    (Standard.KAMSTRUP_DLMS, meters.Ciphering(EK, AK)),
]


@pytest.mark.parametrize(
    ("standard", "ciphering"),
    PTY_CASES,
    ids=["lg-mbus-sc30", "p1-dlms-plain", "kamstrup-dlms-sc30"],
)
async def test_simulated_meter_on_a_pty_reads_exactly(
    standard: Standard, ciphering: meters.Ciphering | None
) -> None:
    spec = spec_or_skip(standard)
    source = create_source(
        standard,
        SourceOptions(
            seed=21,
            key=ciphering.encryption_key if ciphering else None,
            authentication_key=ciphering.authentication_key if ciphering else None,
        ),
    )
    assert isinstance(source, meters.DlmsSource)
    recording = RecordingSource(source)
    # 10 simulated seconds every 50 ms, through the top of an hour (Kamstrup hourly list).
    simulator = Simulator(
        recording,
        interval=0.05,
        acceleration=200,
        start=datetime(2025, 7, 3, 13, 59, 20, tzinfo=SWISS).astimezone(UTC),
    )
    output = PtyOutput(simulator)
    sender = asyncio.create_task(run(simulator, output))
    options = DecoderOptions(
        encryption_key=ciphering.encryption_key if ciphering else None,
        authentication_key=ciphering.authentication_key if ciphering else None,
    )
    try:
        readings = await read_readings(output.path, spec, options, count=8)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        await output.close()
    for reading in readings:
        assert_reading_is(reading, recording.pushes[reading.timestamp])
    if standard is Standard.KAMSTRUP_DLMS:
        assert any("1.8.0" in reading.values for reading in readings)


async def test_simulator_url_reads_exactly() -> None:
    spec = spec_or_skip(Standard.LG_MBUS)
    start = datetime(2025, 12, 24, 18, 0, 0, tzinfo=SWISS)
    url = (
        "simulator://lg-mbus?interval=0.02&acceleration=250&seed=33"
        f"&key={EK.hex()}&auth_key={AK.hex()}&start={start.isoformat().replace('+', '%2B')}"
    )
    readings = await read_readings(
        url, spec, DecoderOptions(encryption_key=EK, authentication_key=AK), count=6
    )
    # The same seed at the same instants gives the same pushes.
    meter = meters.SimulatedDlmsMeter(models.LG_E450, seed=33, ciphering=meters.Ciphering(EK, AK))
    expected = [
        meter.push_at(start.astimezone(UTC) + timedelta(seconds=5 * k))
        for k in range(len(readings))
    ]
    for reading, push in zip(readings, expected, strict=True):
        assert_reading_is(reading, push)


def test_simulate_command_on_a_pty(tmp_path: Path) -> None:
    """``python -m custom_components.ch_smart_meter.cli simulate --standard lg-mbus --pty``."""
    spec = spec_or_skip(Standard.LG_MBUS)
    start = datetime(2026, 3, 29, 1, 59, 50, tzinfo=SWISS)  # across the spring DST change
    command = [
        sys.executable, "-m", "custom_components.ch_smart_meter.cli", "simulate",
        "--standard", "lg-mbus", "--pty", "--seed", "5", "--interval", "0.1",
        "--acceleration", "50", "--start", start.isoformat(), "--count", "60",
        "--key", EK.hex(), "--auth-key", AK.hex(),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line.startswith("listening on "), line
        path = line.removeprefix("listening on ").strip()
        readings = asyncio.run(
            read_readings(
                path, spec, DecoderOptions(encryption_key=EK, authentication_key=AK), count=5
            )
        )
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
    meter = meters.SimulatedDlmsMeter(models.LG_E450, seed=5, ciphering=meters.Ciphering(EK, AK))
    expected = {}
    for tick in range(60):
        push = meter.push_at(start.astimezone(UTC) + timedelta(seconds=5 * tick))
        expected[push.timestamp] = push
    assert len(readings) == 5
    for reading in readings:
        assert_reading_is(reading, expected[reading.timestamp])

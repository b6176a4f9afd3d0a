"""Detect my meter: every simulated meter through a simulated serial line at its true
format, found with the right standard, format and encryption; silence, noise, a port that
cannot be opened, cancellation, the budget, progress, polled standards."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ch_smart_meter.reader.detect import (
    FORMATS,
    Detection,
    Heard,
    NothingDetected,
    Phase,
    Progress,
    Rejection,
    Timing,
    detect,
    plan,
)
from custom_components.ch_smart_meter.reader.detect_report import (
    Diagnosis,
    Finding,
    diagnose,
    summarise,
)
from custom_components.ch_smart_meter.reader.errors import (
    KeyRequired,
    NoAnswer,
    Reason,
    TransportError,
)
from custom_components.ch_smart_meter.reader.model import (
    Reading,
    RejectedFrame,
    SerialSettings,
    Standard,
)
from custom_components.ch_smart_meter.reader.polling import Emit, Link
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.outputs import TcpOutput, run
from custom_components.ch_smart_meter.reader.simulate.source import Simulator, SourceOptions
from custom_components.ch_smart_meter.reader.spec import DecoderOptions, SerialPreset, StandardSpec
from custom_components.ch_smart_meter.reader.standards import get_spec, meter_specs
from custom_components.ch_smart_meter.reader.transport import open_stream
from tests.reader.simulated_lines import (
    INTERVAL,
    Meter,
    NoiseMeter,
    PingMeter,
    meter_id,
    meter_on_line,
    source_on_line,
)

S = Standard
# Detection timings that fit these meters: one push interval and a little more per format;
# the longest burst (an E450 push, ~550 characters) at a tenth of its real duration.
FAST = Timing(cadence=INTERVAL * 1.3, quiet=0.1, burst_chars=100)
METERS = [
    Meter(S.DSMR, None, "115200 8N1", "dsmr5"),
    Meter(S.DSMR, None, "115200 8N1", "dsmr5", encrypted=True),  # Smarty
    Meter(S.DSMR, None, "115200 7E1", "dsmr4"),
    Meter(S.DSMR, None, "9600 7E1", "dsmr22"),
    Meter(S.LG_MBUS, "lg-e450", "2400 8E1", "cii"),
    Meter(S.LG_MBUS, "lg-e450", "2400 8E1", "cii", encrypted=True),
    Meter(S.LG_MBUS, "lg-e450-mbus", "2400 8E1", "cii"),
    Meter(S.LG_MBUS, "lg-e450-mbus", "2400 8E1", "cii", encrypted=True),
    Meter(S.P1_DLMS, "lg-e360", "9600 8N1", "e360"),
    Meter(S.P1_DLMS, "lg-e360", "9600 8N1", "e360", encrypted=True),
    Meter(S.P1_DLMS, "iskra-am550", "115200 8N1", "am550"),
    Meter(S.P1_DLMS, "iskra-am550", "115200 8N1", "am550", encrypted=True),
    Meter(S.KAMSTRUP_DLMS, "kamstrup-omnipower", "2400 8N1", "han"),
    Meter(S.KAMSTRUP_DLMS, "kamstrup-omnipower", "2400 8N1", "han", encrypted=True),
    Meter(S.KAMSTRUP_DLMS, "kamstrup-omnipower-1ph", "2400 8N1", "han"),
]
# The standards that push (tests about listening leave the polled ones out: asking them
# after listening has its own tests below).
PUSHED = [spec for spec in meter_specs() if not spec.polled]
# Polled meters, found by asking after nothing pushed (the MEP meter wants its key).
POLLED = [
    Meter(S.KMP, None, "9600 8N1", "usb"),
    Meter(S.KMP, None, "1200 8N2", "optical"),
    Meter(S.MEP, None, "9600 8N1", "mep", encrypted=True),
]
# The port is opened in this order; 7E1 is heard through the 8N1 opening of its speed.
OPENINGS = ["115200 8N1", "2400 8E1", "2400 8N1", "9600 8N1"]


def openings_until(serial: str) -> list[str]:
    carrier = {"115200 7E1": "115200 8N1", "9600 7E1": "9600 8N1"}.get(serial, serial)
    return OPENINGS[: OPENINGS.index(carrier) + 1]


@pytest.mark.parametrize("meter", METERS, ids=lambda meter: meter.id)
async def test_every_simulated_meter_is_recognised_at_its_format(meter: Meter) -> None:
    async with meter_on_line(meter) as (line, source):
        detection = await detect(line.path, timing=FAST)
    assert (detection.standard, detection.serial, detection.preset, detection.encrypted) == (
        meter.standard,
        meter.settings,
        meter.preset,
        meter.encrypted,
    )
    assert detection.meter_id == (None if meter.encrypted else meter_id(source))
    assert detection.frames == (2 if meter.encrypted else 1)
    # Tried in order, and each opening was a real reconfiguration of the line.
    assert [s.describe() for s in line.stats.reader_formats] == openings_until(meter.serial)
    assert detection.seconds < 5


@pytest.mark.parametrize("meter", POLLED, ids=lambda meter: meter.id)
async def test_every_polled_meter_is_found_by_asking(meter: Meter) -> None:
    """KMP and MEP meters are silent until asked: found after the listening, at the
    preset they answer at; a MEP meter without its key answers "authentication failed",
    which proves it and says that the key is needed."""
    async with meter_on_line(meter) as (line, source):
        detection = await detect(line.path, timing=FAST)
    assert (detection.standard, detection.serial, detection.preset, detection.encrypted) == (
        meter.standard,
        meter.settings,
        meter.preset,
        meter.encrypted,
    )
    assert detection.heard[0].phase is Phase.LISTEN and detection.heard[-1].answers > 0
    assert source.requests >= 1
    assert detection.seconds < FAST.window(FORMATS[0]) + 3 * FAST.ask + 1


def test_7_bit_formats_ride_on_the_8n1_opening_of_their_speed() -> None:
    listenings = plan(FORMATS)
    assert [listening.serial.describe() for listening in listenings if listening.serial] == (
        OPENINGS
    )
    views = {
        listening.serial.describe(): [(v.serial.describe(), v.mask) for v in listening.views]
        for listening in listenings
        if listening.serial
    }
    assert views["115200 8N1"] == [("115200 8N1", 0xFF), ("115200 7E1", 0x7F)]
    assert views["9600 8N1"] == [("9600 8N1", 0xFF), ("9600 7E1", 0x7F)]
    assert views["2400 8E1"] == [("2400 8E1", 0xFF)]


@pytest.mark.usefixtures("socket_enabled")
@pytest.mark.parametrize(
    ("standard", "model"),
    [(S.LG_MBUS, "lg-e450"), (S.KAMSTRUP_DLMS, "kamstrup-omnipower"), (S.DSMR, None)],
)
async def test_a_network_bridge_has_no_serial_format(standard: Standard, model: str | None) -> None:
    """Over ser2net in raw mode every format hears the same bytes: one listening, no
    format, and the DLMS standards told apart by the meter's profile."""
    simulator = Simulator(create_source(standard, SourceOptions(model=model)), interval=0.2)
    server = TcpOutput(simulator)
    port = await server.start()
    sending = asyncio.create_task(run(simulator, server))
    try:
        detection = await detect(f"socket://127.0.0.1:{port}", timing=FAST)
    finally:
        sending.cancel()
        await server.close()
    assert (detection.standard, detection.serial, detection.preset) == (standard, None, None)
    assert [item.formats for item in detection.heard] == [()]  # its only listening


async def test_a_silent_port_is_heard_at_one_format_only(pty_pair: tuple[int, str]) -> None:
    _master, path = pty_pair
    started = time.monotonic()
    with pytest.raises(NothingDetected) as caught:
        await detect(path, timing=FAST)
    elapsed = time.monotonic() - started
    # One listening (silent at one format, silent at all), then the polled standards asked.
    assert [(item.phase, item.received) for item in caught.value.heard] == [
        (Phase.LISTEN, 0),
        (Phase.ASK, 0),
        (Phase.ASK, 0),
        (Phase.ASK, 0),
    ]
    listening = caught.value.heard[0].seconds
    assert listening == pytest.approx(FAST.window(FORMATS[0]), abs=0.3)
    assert elapsed < listening + 3 * FAST.ask
    assert "Nothing arrived at all" in caught.value.message
    assert caught.value.reason is Reason.NOTHING_DETECTED


async def test_noise_is_heard_at_every_format_and_summarised() -> None:
    async with source_on_line(NoiseMeter(), SerialSettings(2400, 8, "N", 1)) as line:
        with pytest.raises(NothingDetected) as caught:
            await detect(line.path, timing=FAST)
    heard = caught.value.heard
    listened = [item for item in heard if item.phase is Phase.LISTEN]
    assert [item.formats[0].describe() for item in listened] == OPENINGS
    # Then each polled standard was asked at each of its formats; noise never answers.
    asked = [(item.standard, item.formats[0].describe()) for item in heard if item not in listened]
    assert asked == [(S.KMP, "9600 8N1"), (S.KMP, "1200 8N2"), (S.MEP, "9600 8N1")]
    heard = listened
    assert all(item.received > 0 and item.bursts >= 1 for item in heard)
    assert caught.value.message.startswith("no meter recognised: 115200 8N1 and 115200 7E1: ")
    assert "no valid frame" in caught.value.message


async def test_the_budget_bounds_detection() -> None:
    async with source_on_line(NoiseMeter(), SerialSettings(2400, 8, "N", 1)) as line:
        started = time.monotonic()
        with pytest.raises(NothingDetected) as caught:
            await detect(line.path, timing=FAST, budget=1.0)
        assert time.monotonic() - started < 1.5
    assert SerialSettings(9600, 7, "E", 1) in caught.value.untried
    assert "Not tried in the time given: " in caught.value.message


async def test_one_encrypted_frame_does_when_the_time_is_up() -> None:
    """A second frame confirms an encrypted one (a Smarty envelope has no checksum); when
    none comes before the end, the single frame is still better than nothing."""
    meter = Meter(S.LG_MBUS, "lg-e450", "2400 8E1", "cii", encrypted=True)
    async with meter_on_line(meter, interval=60.0) as (line, source):
        search = asyncio.create_task(
            detect(line.path, timing=FAST, budget=2.0, formats=[meter.settings], specs=PUSHED)
        )
        async with asyncio.timeout(2):
            while not line.stats.reader_formats:
                await asyncio.sleep(0.01)
        line.send(source.frame_at(datetime.now(UTC)))
        detection = await search
    assert (detection.standard, detection.preset, detection.encrypted) == (S.LG_MBUS, "cii", True)
    assert detection.frames == 1
    assert detection.seconds == pytest.approx(2.0, abs=0.3)


async def test_a_port_that_cannot_be_opened_fails_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        await detect("/dev/ttyUSB-nothing-here")
    assert time.monotonic() - started < 1.0
    assert caught.value.reason is Reason.CANNOT_OPEN_PORT
    assert "no such device" in caught.value.message


async def test_cancelling_releases_the_port_at_once() -> None:
    slow = Meter(S.DSMR, None, "9600 7E1", "dsmr22")
    async with meter_on_line(slow, interval=30.0) as (line, _source):
        descriptors = len(os.listdir("/proc/self/fd"))
        search = asyncio.create_task(detect(line.path))
        async with asyncio.timeout(2):
            while not line.stats.reader_formats:
                await asyncio.sleep(0.01)
        search.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await search
        assert time.monotonic() - started < 0.5
        assert len(os.listdir("/proc/self/fd")) == descriptors
        # serialx locks the port: it would be "in use" if the detection had kept it.
        stream = await open_stream(line.path, slow.settings)
        await stream.close()


async def test_progress_names_each_step() -> None:
    steps: list[Progress] = []
    meter = Meter(S.KAMSTRUP_DLMS, "kamstrup-omnipower", "2400 8N1", "han")
    async with meter_on_line(meter) as (line, _source):
        await detect(line.path, timing=FAST, on_progress=steps.append)
    # Four openings to listen, then three to ask KMP (two presets) and MEP: none needed.
    assert [step.describe() for step in steps] == [
        "listening at 115200 8N1 and 115200 7E1 (step 1 of 7)",
        "listening at 2400 8E1 (step 2 of 7)",
        "listening at 2400 8N1 (step 3 of 7)",
    ]
    assert all(step.phase is Phase.LISTEN and step.budget == 60.0 for step in steps)
    assert [round(step.elapsed, 1) <= 5 for step in steps] == [True] * 3


async def test_a_failing_progress_callback_does_not_stop_detection() -> None:
    def broken(step: Progress) -> None:
        raise RuntimeError("display gone")

    async with meter_on_line(METERS[0]) as (line, _source):
        detection = await detect(line.path, timing=FAST, on_progress=broken)
    assert detection.standard is S.DSMR


# -- polled standards ------------------------------------------------------------------------


def _find_pong(buffer: bytearray) -> tuple[int, int] | None:
    start = buffer.find(b"pong")
    return None if start < 0 else (start, start + 4)


class PingPoller:
    """One cycle: ``ping``, and a reading (or a key error) when ``pong`` comes back."""

    def __init__(self, key_needed: bool) -> None:
        self._key_needed = key_needed

    def cycle_timeout(self) -> float:
        return 0.5

    async def poll(self, link: Link, emit: Emit) -> None:
        try:
            answer = await link.exchange(b"ping", _find_pong, 0.3)
        except NoAnswer:
            return
        if self._key_needed:
            emit(RejectedFrame(KeyRequired(), answer))
            return
        moment = datetime(2026, 6, 17, 12, tzinfo=UTC)
        emit(Reading(moment, "PING-1", {"1.8.0": 1.0}, frame=answer))

    def reset(self) -> None:
        pass

    def diagnostics(self) -> dict[str, Any]:
        return {}


def polled_spec(*, key_needed: bool = False, needs_no_answer: bool = False) -> StandardSpec:
    """A polled standard standing in for KMP and MEP (being added in parallel)."""

    def create_poller(options: DecoderOptions, serial: SerialSettings | None = None) -> PingPoller:
        return PingPoller(key_needed)

    return StandardSpec(
        standard=S.CH_SMR,
        title="Ping",
        interval=10.0,
        create_decoder=get_spec(S.DSMR).create_decoder,  # never used for a polled standard
        serial_presets=(
            SerialPreset("optical", "Optical head", SerialSettings(1200, 8, "N", 2)),
            SerialPreset("usb", "USB interface", SerialSettings(9600, 8, "N", 1)),
        ),
        create_poller=create_poller,
    )


@pytest.mark.parametrize("key_needed", [False, True])
async def test_a_polled_meter_is_asked_when_nothing_pushes(key_needed: bool) -> None:
    meter = PingMeter()
    specs = [*PUSHED, polled_spec(key_needed=key_needed)]
    steps: list[Progress] = []
    async with source_on_line(meter, SerialSettings(9600, 8, "N", 1)) as line:
        detection = await detect(line.path, timing=FAST, specs=specs, on_progress=steps.append)
    assert (detection.standard, detection.preset, detection.encrypted) == (
        S.CH_SMR,
        "usb",
        key_needed,
    )
    assert detection.serial == SerialSettings(9600, 8, "N", 1)
    assert detection.meter_id == (None if key_needed else "PING-1")
    # Nothing pushed: one listening (silence), then the optical preset, whose request the
    # meter heard garbled at 1200 8N2, then the USB one.
    assert [step.phase for step in steps] == [Phase.LISTEN, Phase.ASK, Phase.ASK]
    assert steps[1].describe() == "asking a ch-smr meter at 1200 8N2 (step 5 of 6)"
    assert meter.heard[-1] == b"ping" and all(request != b"ping" for request in meter.heard[:-1])


async def test_a_polled_meter_that_never_answers(pty_pair: tuple[int, str]) -> None:
    _master, path = pty_pair
    with pytest.raises(NothingDetected) as caught:
        await detect(path, timing=FAST, specs=[*PUSHED, polled_spec(key_needed=True)])
    asked = [item for item in caught.value.heard if item.phase is Phase.ASK]
    assert [(item.standard, item.answers) for item in asked] == [(S.CH_SMR, 0), (S.CH_SMR, 0)]
    assert "ch-smr at 1200 8N2: nothing" in caught.value.message


# -- the summary -----------------------------------------------------------------------------


def heard_at(serial: str, received: int, *rejections: Rejection) -> Heard:
    settings = SerialSettings(*_parts(serial))
    return Heard(Phase.LISTEN, (settings,), 10.6, received, 1, rejections)


def _parts(serial: str) -> tuple[int, int, str, int]:
    speed, shape = serial.split()
    return int(speed), int(shape[0]), shape[1], int(shape[2])


def test_the_summary_explains_what_was_heard() -> None:
    crc = Rejection(Reason.CRC_MISMATCH, 3, (S.LG_MBUS, S.KAMSTRUP_DLMS))
    key = Rejection(Reason.KEY_REQUIRED, 1, (S.P1_DLMS,))
    assert "Nothing arrived at all" in summarise([heard_at("115200 8N1", 0)])
    checksums = summarise([heard_at("115200 8N1", 900), heard_at("2400 8N1", 1546, crc)])
    assert checksums.startswith(
        "115200 8N1: 900 bytes, no valid frame; 2400 8N1: 1546 bytes, no valid frame "
        "(3 crc mismatch (lg-mbus, kamstrup-dlms))."
    )
    assert "Frames with bad checksums at 2400 8N1" in checksums
    assert "A single encrypted frame (p1-dlms) at 9600 8N1" in summarise(
        [heard_at("9600 8N1", 400, key)]
    )
    assert "an inverted data line" in summarise([heard_at("115200 8N1", 12)])


def test_the_diagnosis_is_data_for_a_user_interface() -> None:
    """The explanation behind the summary's last sentence, for a translated display."""
    crc = Rejection(Reason.CRC_MISMATCH, 3, (S.LG_MBUS, S.KAMSTRUP_DLMS))
    key = Rejection(Reason.KEY_REQUIRED, 1, (S.P1_DLMS,))
    at_2400 = heard_at("2400 8N1", 1546, crc)
    assert diagnose([heard_at("115200 8N1", 0)]) == Diagnosis(Finding.SILENT)
    assert diagnose([heard_at("115200 8N1", 900), at_2400]) == Diagnosis(
        Finding.BAD_CHECKSUMS, at_2400.formats, (S.LG_MBUS, S.KAMSTRUP_DLMS)
    )
    # One encrypted frame explains more than bad checksums elsewhere.
    at_9600 = heard_at("9600 8N1", 400, key)
    assert diagnose([at_2400, at_9600]) == Diagnosis(
        Finding.SINGLE_ENCRYPTED, at_9600.formats, (S.P1_DLMS,)
    )
    assert diagnose([heard_at("115200 8N1", 12)]) == Diagnosis(Finding.NO_FRAME)
    error = NothingDetected([at_2400], 12.0)
    assert error.diagnosis.finding is Finding.BAD_CHECKSUMS


def test_a_detection_as_json() -> None:
    detection = Detection(
        S.LG_MBUS, SerialSettings(2400, 8, "E", 1), "cii", True, None, seconds=12.5
    )
    assert detection.as_dict() == {
        "standard": "lg-mbus",
        "serial": "2400 8E1",
        "encrypted": True,
        "preset": "cii",
        "meter_id": None,
    }

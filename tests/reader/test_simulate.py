"""The simulated meters: physics of the household model, the DSMR meter, schedule, outputs."""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame, Standard
from custom_components.ch_smart_meter.reader.simulate import dsmr_telegram
from custom_components.ch_smart_meter.reader.simulate.household import (
    SWISS_TIME,
    HouseholdModel,
    split_watts,
    tariff_at,
)
from custom_components.ch_smart_meter.reader.simulate.meters import (
    available_standards,
    create_source,
)
from custom_components.ch_smart_meter.reader.simulate.meters.dsmr import DSMR_CODES
from custom_components.ch_smart_meter.reader.simulate.outputs import PtyOutput, TcpOutput, run
from custom_components.ch_smart_meter.reader.simulate.replay import (
    ReplaySource,
    parse_hex_text,
    split_frames,
)
from custom_components.ch_smart_meter.reader.simulate.source import (
    DEMO_KEY,
    Simulator,
    SourceOptions,
)
from custom_components.ch_smart_meter.reader.simulate.stream import (
    parse_simulator_url,
    simulator_url,
)
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

pytestmark = pytest.mark.usefixtures("socket_enabled")

WUS_PER_WH = 3_600_000_000
SUMMER_DAY = datetime(2026, 6, 17, 0, 0, tzinfo=SWISS_TIME)  # a Wednesday
WINTER_DAY = datetime(2026, 1, 14, 0, 0, tzinfo=SWISS_TIME)  # a Wednesday


def day_of_states(model: HouseholdModel, day: datetime, step: timedelta) -> list:
    return [model.step(day + k * step) for k in range(int(timedelta(days=1) / step))]


# -- physics -----------------------------------------------------------------------------


def test_energy_registers_integrate_the_power_exactly() -> None:
    """Register increase = sum of power x time of each step, to the watt-microsecond."""
    model = HouseholdModel(seed=7)
    moment = SUMMER_DAY
    first = model.step(moment)
    start = model.energy_wus
    expected = dict.fromkeys(start, 0)
    # Irregular steps, sub-second ones included, over a whole day.
    steps = [timedelta(seconds=s) for s in (1, 7, 13.25, 60, 299.5, 0.4)]
    k = 0
    while moment < SUMMER_DAY + timedelta(days=1):
        elapsed = steps[k % len(steps)]
        moment += elapsed
        k += 1
        state = model.step(moment)
        micros = round(elapsed.total_seconds() * 1_000_000)
        tariff = state.tariff
        expected[f"1.8.{tariff}"] += state.import_w * micros
        expected[f"2.8.{tariff}"] += state.export_w * micros
    end = model.energy_wus
    assert {code: end[code] - start[code] for code in end} == expected
    # The registers shown are the exact contents truncated to watt-hours.
    assert state.import_wh == (end["1.8.1"] // WUS_PER_WH, end["1.8.2"] // WUS_PER_WH)
    assert state.export_wh == (end["2.8.1"] // WUS_PER_WH, end["2.8.2"] // WUS_PER_WH)
    assert state.import_wh[0] >= first.import_wh[0] and state.export_wh[1] > first.export_wh[1]


def test_a_summer_day_has_import_and_export_periods() -> None:
    states = day_of_states(HouseholdModel(seed=1), SUMMER_DAY, timedelta(minutes=5))
    night = [s for s in states if s.timestamp.hour < 4]
    noon = [s for s in states if 11 <= s.timestamp.hour < 15]
    assert all(s.import_w > 0 and s.export_w == 0 and s.solar_w == 0 for s in night)
    assert sum(s.export_w > 0 for s in noon) > len(noon) // 2
    assert all(s.import_w == 0 or s.export_w == 0 for s in states)
    # The power balance: net grid power = load - solar, to the watt.
    assert all(s.import_w - s.export_w == s.load_w - s.solar_w for s in states)
    # Summer sun rises earlier and sets later than winter sun.
    winter = day_of_states(HouseholdModel(seed=1), WINTER_DAY, timedelta(minutes=5))
    assert sum(s.solar_w > 0 for s in states) > sum(s.solar_w > 0 for s in winter) + 24


def test_phases_add_up_and_currents_follow_ohm() -> None:
    for state in day_of_states(HouseholdModel(seed=2), SUMMER_DAY, timedelta(minutes=10)):
        assert sum(p.import_w for p in state.phases) == state.import_w
        assert sum(p.export_w for p in state.phases) == state.export_w
        for phase in state.phases:
            assert Decimal("224") < phase.voltage < Decimal("236")
            assert phase.voltage == phase.voltage.quantize(Decimal("0.1"))
            power = phase.import_w + phase.export_w
            assert abs(phase.current - Decimal(power) / phase.voltage) <= Decimal("0.005")
        values = state.values()
        assert sum(values[c] for c in ("21.7.0", "41.7.0", "61.7.0")) == values["1.7.0"]
        assert sum(values[c] for c in ("22.7.0", "42.7.0", "62.7.0")) == values["2.7.0"]
        assert values["1.8.0"] == values["1.8.1"] + values["1.8.2"]


def test_split_watts_is_exact() -> None:
    for total in (0, 1, 2, 3, 1000, 12345):
        parts = split_watts(total, (0.42, 0.33, 0.25))
        assert sum(parts) == total and all(p >= 0 for p in parts)


def test_tariff_follows_the_time_of_day_and_the_week() -> None:
    # Numbered as Swiss grid operators do: 1 the high tariff, 2 the low one.
    assert tariff_at(datetime(2026, 6, 17, 12, 0, tzinfo=SWISS_TIME)) == 1  # Wednesday noon
    assert tariff_at(datetime(2026, 6, 17, 6, 59, tzinfo=SWISS_TIME)) == 2
    assert tariff_at(datetime(2026, 6, 17, 20, 0, tzinfo=SWISS_TIME)) == 2
    assert tariff_at(datetime(2026, 6, 20, 12, 0, tzinfo=SWISS_TIME)) == 2  # Saturday
    model = HouseholdModel(seed=3)
    night = model.step(datetime(2026, 6, 17, 2, 0, tzinfo=SWISS_TIME))
    later = model.step(datetime(2026, 6, 17, 3, 0, tzinfo=SWISS_TIME))
    # At night the low tariff's register (tariff 2) counts, the high one's stands still.
    assert later.import_wh[1] > night.import_wh[1] and later.import_wh[0] == night.import_wh[0]


def test_the_model_is_deterministic() -> None:
    moments = [SUMMER_DAY + timedelta(seconds=37 * k) for k in range(50)]
    model = HouseholdModel(seed=11)
    first = [model.step(m) for m in moments]
    again = HouseholdModel(seed=11)
    assert [again.step(m) for m in moments] == first
    other = HouseholdModel(seed=12)
    assert [other.step(m) for m in moments] != first


def test_time_going_back_adds_no_energy() -> None:
    model = HouseholdModel(seed=4)
    model.step(SUMMER_DAY + timedelta(hours=1))
    before = model.energy_wus
    model.step(SUMMER_DAY)
    assert model.energy_wus == before


# -- the DSMR meter ------------------------------------------------------------------------


def decode(frames: list[bytes], options: DecoderOptions | None = None) -> list:
    decoder = get_spec("dsmr").create_decoder(options or DecoderOptions())
    results = []
    for frame in frames:
        results += decoder.feed(frame)
    return results


def test_dsmr_meter_telegrams_decode_to_the_model_values() -> None:
    source = create_source(Standard.DSMR, SourceOptions(seed=5))
    model = HouseholdModel(seed=5)  # the same meter, to know the exact values
    moments = [SUMMER_DAY + timedelta(hours=h, seconds=s) for h in (3, 12, 19) for s in (0, 1)]
    frames = [source.frame_at(m) for m in moments]
    readings = decode(frames)
    assert len(readings) == len(moments)
    for moment, reading in zip(moments, readings, strict=True):
        assert isinstance(reading, Reading)
        state = model.step(moment)
        values = state.values()
        assert reading.timestamp == moment
        assert reading.timestamp.utcoffset() == timedelta(hours=2)  # the S flag
        assert reading.meter_id == source.meter_id
        for code in DSMR_CODES:
            expected = values[code]
            if code in ("31.7.0", "51.7.0", "71.7.0"):  # DSMR 5.0.2: whole amps
                expected = expected.quantize(Decimal(1), rounding="ROUND_HALF_UP")
            assert reading.values[code] == float(expected), code
        assert reading.values["1.8.0"] == float(values["1.8.0"])


def test_winter_telegrams_carry_the_w_flag() -> None:
    source = create_source(Standard.DSMR, SourceOptions(seed=5))
    frame = source.frame_at(WINTER_DAY + timedelta(hours=9))
    assert b"0-0:1.0.0(260114090000W)" in frame
    (reading,) = decode([frame])
    assert reading.timestamp.utcoffset() == timedelta(hours=1)


def test_encrypted_dsmr_meter_is_a_smarty() -> None:
    source = create_source(Standard.DSMR, SourceOptions(seed=6, key=DEMO_KEY))
    frames = [source.frame_at(SUMMER_DAY + timedelta(seconds=k)) for k in range(3)]
    assert all(frame[:2] == b"\xdb\x08" for frame in frames)
    counters = [int.from_bytes(frame[14:18], "big") for frame in frames]
    assert counters[1] == counters[0] + 1 and counters[2] == counters[1] + 1
    readings = decode(frames, DecoderOptions(encryption_key=DEMO_KEY))
    assert all(isinstance(r, Reading) for r in readings)
    wrong = decode(frames[:1], DecoderOptions(encryption_key=bytes(16)))
    assert isinstance(wrong[0], RejectedFrame) and wrong[0].error.reason == "decryption_failed"
    missing = decode(frames[:1])
    assert isinstance(missing[0], RejectedFrame) and missing[0].error.reason == "key_required"


def test_registry() -> None:
    assert Standard.DSMR in available_standards()
    assert Standard.CH_SMR not in available_standards()
    with pytest.raises(KeyError):
        create_source(Standard.CH_SMR)
    for standard in available_standards():  # every simulated meter decodes with its standard
        source = create_source(standard, SourceOptions(seed=1))
        assert source.standard == standard
        with contextlib.suppress(KeyError):
            spec = get_spec(standard)
            if spec.polled:
                continue  # a polled meter pushes nothing; its poller's tests read it
            frames = [source.frame_at(SUMMER_DAY + timedelta(seconds=10 * k)) for k in range(3)]
            decoder = spec.create_decoder(DecoderOptions())
            results = [r for f in frames for r in decoder.feed(f)]
            assert any(isinstance(r, Reading) for r in results), standard


# -- schedule ------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_simulated_time_and_schedule() -> None:
    clock = FakeClock()
    simulator = Simulator(
        create_source(Standard.DSMR, SourceOptions(seed=1)),
        interval=2.0,
        acceleration=30.0,
        start=SUMMER_DAY,
        clock=clock,
    )
    assert simulator.due_in() == 0.0
    assert b"0-0:1.0.0(260617000000S)" in simulator.next_frame()
    assert simulator.due_in() == 2.0
    clock.now += 2.0
    assert b"0-0:1.0.0(260617000100S)" in simulator.next_frame()  # 2 s x 30 = 1 simulated minute
    assert simulator.simulated_time(10) == SUMMER_DAY + timedelta(minutes=10)
    clock.now += 1.0
    assert simulator.simulated_time() == SUMMER_DAY + timedelta(seconds=90)
    clock.now += 3600  # suspended for an hour: no burst of stale frames afterwards
    assert simulator.due_in() == 0.0
    frame = simulator.next_frame()
    assert simulator.due_in() < 2.0
    clock.now += simulator.due_in()
    assert simulator.due_in() == 0.0
    simulator.next_frame()
    assert simulator.due_in() == 2.0
    # Simulated time kept pace with the clock during the pause (2 s x 30 = 1 min per tick).
    assert b"0-0:1.0.0(260618060100S)" in frame  # 3603 s later x 30 = 30 h 1 min, whole ticks


def test_simulator_rejects_nonsense() -> None:
    source = create_source(Standard.DSMR)
    for kwargs in ({"interval": 0}, {"acceleration": -1}, {"start": datetime(2026, 1, 1)}):
        with pytest.raises(ValueError):
            Simulator(source, **kwargs)


async def test_frames_are_paced_by_the_interval() -> None:
    simulator = Simulator(create_source(Standard.DSMR), interval=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    frames = [frame async for frame in simulator.frames(count=5)]
    elapsed = loop.time() - started
    assert len(frames) == 5
    assert 0.18 <= elapsed < 1.0  # the first at once, then four intervals


# -- outputs -------------------------------------------------------------------------------


async def test_tcp_output_serves_several_clients() -> None:
    simulator = Simulator(create_source(Standard.DSMR, SourceOptions(seed=2)), interval=0.02)
    output = TcpOutput(simulator)
    port = await output.start()
    clients = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    async with asyncio.timeout(2):
        while output.clients < 3:
            await asyncio.sleep(0.01)
    sent = await run(simulator, output, count=3)
    received = []
    for reader, _ in clients:
        data = b""
        async with asyncio.timeout(2):
            while data.count(b"\r\n!") < 3 or not data.endswith(b"\r\n"):
                data += await reader.read(4096)
        received.append(data)
    assert sent == 3 and len(set(received)) == 1
    assert len(decode([received[0]])) == 3
    for _, writer in clients:
        writer.close()
        await writer.wait_closed()
    await output.close()
    assert output.connections == 3


async def test_pty_output_drops_frames_nobody_reads() -> None:
    """A meter does not wait: without a reader the pty fills up and frames are dropped."""
    simulator = Simulator(create_source(Standard.DSMR, SourceOptions(seed=2)), interval=1)
    output = PtyOutput(simulator)
    assert os.path.exists(output.path)
    for _ in range(400):  # ~300 kB, far more than the kernel buffers
        output.send(simulator.next_frame())
    assert output.dropped > 0
    await output.close()
    output.send(b"after close: ignored")


# -- replay and URLs ----------------------------------------------------------------------


def test_split_frames_finds_the_telegrams() -> None:
    source = create_source(Standard.DSMR, SourceOptions(seed=3))
    telegrams = [source.frame_at(SUMMER_DAY + timedelta(seconds=k)) for k in range(3)]
    corrupted = telegrams[1].replace(b"1-0:1.7.0(0", b"1-0:1.7.0(9")
    data = b"noise\r\n" + telegrams[0] + corrupted + telegrams[2] + b"\r\n"
    pieces = split_frames(data, get_spec("dsmr"))
    assert b"".join(pieces) == data
    assert len(pieces) == 3
    assert pieces[0] == b"noise\r\n" + telegrams[0]
    assert pieces[1] == corrupted and pieces[2] == telegrams[2] + b"\r\n"
    assert split_frames(b"no frame at all", get_spec("dsmr")) == [b"no frame at all"]
    assert split_frames(b"", get_spec("dsmr")) == []


def test_replay_source_loops() -> None:
    source = ReplaySource(Standard.DSMR, [b"a", b"b"])
    assert [source.frame_at(SUMMER_DAY) for _ in range(5)] == [b"a", b"b", b"a", b"b", b"a"]
    assert source.respond(b"?", SUMMER_DAY) == b""
    with pytest.raises(ValueError):
        ReplaySource(Standard.DSMR, [])


def test_hex_text() -> None:
    assert parse_hex_text("2F 49\n53 4b\r\n\t35") == b"/ISK5"
    assert parse_hex_text(b"") == b""
    with pytest.raises(ValueError, match="not hexadecimal"):
        parse_hex_text("2F 4G")


def test_simulator_urls() -> None:
    url = simulator_url("dsmr", interval=2, seed=9, encrypted=True, acceleration=60)
    parsed = parse_simulator_url(url)
    assert (parsed.standard, parsed.interval, parsed.seed, parsed.acceleration) == (
        Standard.DSMR,
        2.0,
        9,
        60.0,
    )
    assert parsed.key == DEMO_KEY  # encrypted without a key: the public demo key
    parsed = parse_simulator_url(
        "simulator://dsmr?key=00112233445566778899AABBCCDDEEFF&start=2026-06-17T12:00:00+02:00"
    )
    assert parsed.key == bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    assert parsed.start == datetime(2026, 6, 17, 12, tzinfo=SWISS_TIME)
    assert parse_simulator_url("simulator://dsmr").key is None


def test_encoder_round_trip_of_rounded_currents() -> None:
    """The DSMR 5.0.2 encoder writes integer amps, as the standard says."""
    assert dsmr_telegram.format_line("31.7.0", Decimal("4.6")) == "1-0:31.7.0(005*A)"

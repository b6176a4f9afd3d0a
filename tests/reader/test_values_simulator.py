"""The simulated DSMR meter with M-Bus sub-meters and a daily tariff, and random telegrams
with sub-meters from the encoder, through the decoder: exact, however the bytes arrive."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.errors import TransportError
from custom_components.ch_smart_meter.reader.model import Reading, SubMeterKind, SubMeterReading
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (
    MbusChannel,
    encode_telegram,
)
from custom_components.ch_smart_meter.reader.simulate.household import SWISS_TIME
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.source import FrameSource, SourceOptions
from custom_components.ch_smart_meter.reader.simulate.stream import (
    parse_simulator_url,
    simulator_url,
)
from custom_components.ch_smart_meter.reader.simulate.submeters import SubMeterModel
from custom_components.ch_smart_meter.reader.spec import DecoderOptions

URL = "simulator://dsmr?submeters=gas,water&tariff=7-21"


def _readings(frames: list[bytes]) -> list[Reading]:
    decoder = DsmrDecoder(DecoderOptions())
    results = [result for frame in frames for result in decoder.feed(frame)]
    assert all(isinstance(result, Reading) for result in results)
    return results  # type: ignore[return-value]


def _source() -> FrameSource:
    parsed = parse_simulator_url(URL)
    return create_source(parsed.standard, parsed.source_options())


# --- The simulator:// parameters -----------------------------------------------------


def test_url_parameters() -> None:
    parsed = parse_simulator_url(URL)
    assert (parsed.submeters, parsed.tariff_hours) == (("gas", "water"), (7, 21))
    options = parsed.source_options()
    assert (options.submeters, options.tariff_hours) == (("gas", "water"), (7, 21))
    built = simulator_url("dsmr", submeters=("gas", "water"), tariff_hours=(7, 21))
    assert parse_simulator_url(built) == parsed
    assert parse_simulator_url("simulator://dsmr?submeters=Heat").submeters == ("heat",)
    plain = parse_simulator_url("simulator://dsmr")
    assert (plain.submeters, plain.tariff_hours) == ((), None)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("simulator://dsmr?submeters=gas,oil", "unknown sub-meter oil"),
        ("simulator://dsmr?submeters=gas,gas,gas,water,heat", "at most 4"),
        ("simulator://dsmr?tariff=21-7", "tariff"),
        ("simulator://dsmr?tariff=7", "tariff"),
        ("simulator://dsmr?tariff=a-b", "tariff"),
        ("simulator://dsmr?tariff=7-25", "tariff"),
        ("simulator://lg-mbus?submeters=gas", "only for dsmr"),
    ],
)
def test_wrong_url_parameters(url: str, message: str) -> None:
    with pytest.raises(TransportError, match=message):
        parse_simulator_url(url)


# --- The simulated meter ---------------------------------------------------------------


def test_sub_meters_step_every_five_minutes_with_their_own_time() -> None:
    """Between two 5-minute marks every telegram repeats value and capture time; at each
    mark the time moves on and the registers never go down."""
    source = _source()
    start = datetime(2026, 1, 15, 6, 58, 30, tzinfo=SWISS_TIME)
    moments = [start + timedelta(seconds=10 * k) for k in range(6 * 60)]  # one hour
    readings = _readings([source.frame_at(moment) for moment in moments])
    gas = [reading.submeters[0] for reading in readings]
    water = [reading.submeters[1] for reading in readings]
    assert {(g.channel, g.kind, g.device_type, g.unit) for g in gas} == {
        (1, SubMeterKind.GAS, 3, "m³")
    }
    assert {(w.channel, w.kind, w.device_type, w.unit) for w in water} == {
        (2, SubMeterKind.WATER, 7, "m³")
    }
    assert len({g.meter_id for g in gas}) == len({w.meter_id for w in water}) == 1
    for moment, reading in zip(moments, readings, strict=True):
        local = moment.astimezone(SWISS_TIME)
        mark = local.replace(minute=local.minute - local.minute % 5, second=0)
        assert all(sub.timestamp == mark for sub in reading.submeters)
        assert reading.timestamp == moment  # the telegram's own time
    for series in (gas, water):
        assert all(a.value <= b.value for a, b in pairwise(series))
        for a, b in pairwise(series):
            if a.timestamp == b.timestamp:
                assert a.value == b.value
    assert gas[-1].value > gas[0].value  # a January morning: the heating runs
    assert len({g.timestamp for g in gas}) == 13


def test_daily_tariff_switches_at_seven_and_twenty_one() -> None:
    """Every day (a Saturday too), the high tariff (1, as Swiss grid operators number it)
    from 07:00 to 21:00 Swiss time; only the register of the tariff in force grows."""
    source = _source()
    start = datetime(2026, 6, 13, 0, 0, tzinfo=SWISS_TIME)  # a Saturday, summer time
    moments = [start + timedelta(minutes=5 * k) for k in range(2 * 24 * 12)]
    readings = _readings([source.frame_at(moment) for moment in moments])
    for moment, reading in zip(moments, readings, strict=True):
        expected = 1 if 7 <= moment.hour < 21 else 2
        assert reading.values["96.14.0"] == expected, moment
    for before, after in pairwise(readings):
        active = int(after.values["96.14.0"])
        idle = 3 - active
        assert after.values[f"1.8.{idle}"] == before.values[f"1.8.{idle}"]
        assert after.values[f"2.8.{idle}"] == before.values[f"2.8.{idle}"]


def test_without_options_the_meter_is_as_before() -> None:
    """No sub-meter, and the household's weekday tariff (Saturday: low all day)."""
    source = create_source("dsmr", SourceOptions())
    (reading,) = _readings([source.frame_at(datetime(2026, 6, 13, 12, tzinfo=SWISS_TIME))])
    assert reading.submeters == () and reading.values["96.14.0"] == 2


def test_a_long_jump_is_cheap_and_keeps_counting() -> None:
    """Three months at once (a paused process, a large acceleration): one frame, the
    registers grow by about the mean of the slots counted one by one."""
    model = SubMeterModel("heat", 3, seed=5)
    first = model.channel_at(datetime(2026, 1, 1, tzinfo=UTC))
    began = time.process_time()
    later = model.channel_at(datetime(2026, 4, 1, tzinfo=UTC))
    assert time.process_time() - began < 2.0
    assert (first.unit, later.unit, later.device_type) == ("GJ", "GJ", 4)
    assert Decimal(later.value) > Decimal(first.value) + 10  # GJ over a heating season


def test_capture_times_advance_through_the_end_of_summer_time() -> None:
    model = SubMeterModel("gas", 1)
    start = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 02:00 summer -> 02:00 winter at 01:00 UTC
    captured = [model.channel_at(start + timedelta(minutes=5 * k)).captured for k in range(30)]
    stamps = [moment.timestamp() for moment in captured]
    assert stamps == sorted(stamps) and len(set(stamps)) == 30


# --- Random telegrams with sub-meters from the encoder ------------------------------------

_KINDS = ((3, "m3", SubMeterKind.GAS), (7, "m3", SubMeterKind.WATER), (4, "GJ", SubMeterKind.HEAT))


def _random_telegram(rng: random.Random) -> tuple[bytes, tuple[SubMeterReading, ...]]:
    summer = rng.random() < 0.5
    offset = timedelta(hours=2 if summer else 1)
    zone = SWISS_TIME
    moment = datetime(
        rng.randrange(2001, 2060),
        7 if summer else 1,
        rng.randrange(1, 29),
        rng.randrange(24),
        rng.randrange(60),
        rng.randrange(60),
        tzinfo=zone,
    )
    assert moment.utcoffset() == offset
    channels = rng.sample(range(1, 5), rng.randrange(0, 5))
    given, expected = [], []
    for channel in sorted(channels):
        device_type, unit, kind = rng.choice(_KINDS)
        value = Decimal(rng.randrange(10**8)).scaleb(-3)
        captured = (moment - timedelta(minutes=rng.randrange(0, 60))).replace(second=0)
        meter_id = f"X{rng.randrange(10**9)}"
        given.append(MbusChannel(channel, device_type, meter_id, value, captured, unit))
        expected.append(
            SubMeterReading(
                channel,
                kind,
                float(value),
                {"m3": "m³"}.get(unit, unit),
                captured,
                meter_id,
                device_type,
            )
        )
    telegram = encode_telegram(
        {"1.8.1": "1.5", "1.7.0": "0.5"}, timestamp=moment, submeters=given, status_lines=False
    )
    return telegram, tuple(expected)


@pytest.mark.parametrize("mode", ["one-chunk", "byte-by-byte", "random-chunks"])
def test_random_telegrams_with_sub_meters_decode_exactly(mode: str) -> None:
    rng = random.Random(2026)
    cases = [_random_telegram(rng) for _ in range(60)]
    stream = b"".join(telegram for telegram, _ in cases)
    if mode == "one-chunk":
        chunks = [stream]
    elif mode == "byte-by-byte":
        chunks = [stream[i : i + 1] for i in range(len(stream))]
    else:
        cuts = sorted({0, len(stream), *(rng.randrange(len(stream)) for _ in range(200))})
        chunks = [stream[a:b] for a, b in pairwise(cuts)]
    readings = _readings(chunks)
    assert [reading.submeters for reading in readings] == [expected for _, expected in cases]
    for reading, (_, expected) in zip(readings, cases, strict=True):
        for got, want in zip(reading.submeters, expected, strict=True):
            assert got.timestamp.utcoffset() == want.timestamp.utcoffset()

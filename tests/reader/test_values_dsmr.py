"""Everything a P1 telegram says besides Tables 1 and 2, on the real captures
(../shared/testdata/dsmr, read in place): the tariff indicator, the failure and sag/swell
counters, the M-Bus sub-meters (gas, water, heat) with their own capture times, the text
messages and the power failure log.

Expected values are transcribed by hand from the telegram lines (the folder's MANIFEST.md
quotes the sub-meter values and times); dsmr-parser, with the specification of the variant
our decoder recognises, is the oracle for every capture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from dsmr_parser.parsers import TelegramParser

from custom_components.ch_smart_meter.reader.crc import crc16_arc
from custom_components.ch_smart_meter.reader.dsmr.lines import parse_line
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.model import (
    PowerFailure,
    Reading,
    SubMeterKind,
    SubMeterReading,
)
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from tests.conftest import testdata_dir as capture_folder
from tests.reader.dsmr_oracle import dsmr_parser_specification

FOLDER = capture_folder("dsmr")
W = timezone(timedelta(hours=1))
S = timezone(timedelta(hours=2))
GAS, WATER, HEAT = SubMeterKind.GAS, SubMeterKind.WATER, SubMeterKind.HEAT
M3 = "m³"
FIVE_TIMES = "0123456789:;<=>?" * 5  # the test text message of dsmr-parser and dsmr-reader


def _sub(
    channel: int,
    kind: SubMeterKind,
    device_type: int,
    meter_id: str | None,
    value: str,
    timestamp: datetime,
    unit: str = M3,
    code: str = "24.2.1",
) -> SubMeterReading:
    return SubMeterReading(
        channel, kind, float(Decimal(value)), unit, timestamp, meter_id, device_type, code
    )


def _counters(tariff: int, short: int, long: int, *sags_swells: int) -> dict[str, float]:
    """96.14.0, 96.7.21, 96.7.9, then sags L1-L3 and swells L1-L3 (those the meter sends)."""
    codes = ("32.32.0", "52.32.0", "72.32.0", "32.36.0", "52.36.0", "72.36.0")
    values = {"96.14.0": tariff, "96.7.21": short, "96.7.9": long}
    if len(sags_swells) == 2:  # single-phase meters: L1 only
        values |= {"32.32.0": sags_swells[0], "32.36.0": sags_swells[1]}
    else:
        values |= dict(zip(codes, sags_swells, strict=True))
    return {code: float(count) for code, count in values.items()}


@dataclass(frozen=True)
class Extras:
    """What one capture must give besides its electricity values."""

    file: str
    values: dict[str, float]  # status values (tariff, counters), exactly these
    submeters: tuple[SubMeterReading, ...] = ()
    text: dict[str, str] | None = None
    events: tuple[PowerFailure, ...] = ()


XS = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"  # dsmr-reader's redacted gas meter ids
CASES = (
    Extras(
        "amshan__lg_e350_xmx5_dsmr42_b.txt",
        _counters(2, 15, 5, 2, 2, 2, 0, 0, 0),
        (_sub(1, GAS, 3, "G1018340158872434", "4890.857", datetime(2018, 9, 24, 13, tzinfo=S)),),
        events=(
            PowerFailure(datetime(2017, 5, 20, 13, 9, 38, tzinfo=S), 5627),
            PowerFailure(datetime(2017, 3, 25, 4, 40, 14, tzinfo=W), 43178677),
        ),
    ),
    Extras(  # Belgian: gas on 24.2.3 (not temperature-corrected), water on channel 2
        "dsmr_parser__telegram_fluvius_v171.txt",
        {"96.14.0": 1.0},
        (
            _sub(
                1,
                GAS,
                3,
                "7FLO2119033733",
                "112.384",
                datetime(2020, 5, 12, 13, 45, 58, tzinfo=S),
                code="24.2.3",
            ),
            _sub(
                2,
                WATER,
                7,
                "8SAG1234567890",
                "872.234",
                datetime(2020, 5, 12, 13, 45, 58, tzinfo=S),
            ),
        ),
    ),
    Extras(
        "dsmr_parser__telegram_fluvius_v171_alt.txt",
        {"96.14.0": 1.0},
        (
            _sub(
                1,
                GAS,
                3,
                "7FLO2123088027",
                "92.287",
                datetime(2023, 11, 2, 12, 10, 2, tzinfo=W),
                code="24.2.3",
            ),
            _sub(
                2, WATER, 7, "8SET0000961173", "8.579", datetime(2023, 11, 2, 12, 15, 32, tzinfo=W)
            ),
        ),
    ),
    Extras(  # a heat meter in GJ; its id is binary, kept in hexadecimal
        "dsmr_parser__telegram_unpadded_crc.txt",
        {},
        (
            _sub(
                1,
                HEAT,
                4,
                "621848012D2C0B0C",
                "240.860",
                datetime(2026, 2, 15, 20, 5, 23, tzinfo=W),
                unit="GJ",
            ),
        ),
    ),
    Extras(  # DSMR 2.2: the two-line 24.3.0 profile, local time; an all-zero id is none
        "dsmr_parser__telegram_v2_2.txt",
        {"96.14.0": 1.0},
        (_sub(1, GAS, 3, None, "1.001", datetime(2016, 11, 7, 19, tzinfo=W)),),
    ),
    Extras(
        "dsmr_parser__telegram_v3.txt",
        {"96.14.0": 2.0},
        (_sub(1, GAS, 3, "2222ABCD123456789", "1.001", datetime(2009, 2, 12, 16, tzinfo=W)),),
        text={"96.13.1": "012345678", "96.13.0": FIVE_TIMES},
    ),
    Extras(  # the log's placeholders are kept as sent (diagnostics)
        "dsmr_parser__telegram_v4_2.txt",
        _counters(2, 15, 7, 0, 0, 0, 0, 0, 0),
        (
            _sub(
                1,
                GAS,
                3,
                "4819243993373755377509728609491464",
                "981.443",
                datetime(2016, 11, 29, 20, tzinfo=W),
            ),
        ),
        events=(
            PowerFailure(datetime(2000, 1, 4, 18, 3, 20, tzinfo=W), 237126),
            PowerFailure(datetime(2000, 1, 1, 0, 0, 1, tzinfo=W), 2147583646),
            PowerFailure(datetime(2000, 1, 2, 0, 0, 3, tzinfo=W), 2317482647),
        ),
    ),
    Extras(  # channel 2 announces a gas meter without id or value: no reading
        "dsmr_parser__telegram_v5.txt",
        _counters(2, 13, 0, 0, 0, 0, 0, 0, 0),
        (_sub(1, GAS, 3, "2222ABCD123456789", "0.107", datetime(2017, 1, 2, 16, 10, 5, tzinfo=W)),),
    ),
    Extras(  # channel 1 is empty: (700101010000W)(00000000) is no reading, not 0
        "dsmr_parser__telegram_v5_two_mbus.txt",
        _counters(1, 5, 3, 1, 1, 192, 1, 1, 1),
        (
            _sub(
                2,
                GAS,
                3,
                "G0039001936990619",
                "246.138",
                datetime(2020, 4, 26, 22, 30, 1, tzinfo=S),
            ),
        ),
        events=(PowerFailure(datetime(2019, 3, 26, 9, 50, 15, tzinfo=W), 2014),),
    ),
    Extras(
        "dsmrreader__example_dsmr50.txt",
        _counters(2, 4, 2, 2, 1, 0, 0, 3, 0),
        (
            _sub(
                1, GAS, 3, "2222ABCD123456789", "12785.123", datetime(2010, 12, 9, 11, 25, tzinfo=W)
            ),
        ),
        text={"96.13.0": FIVE_TIMES},
        events=(
            PowerFailure(datetime(2010, 12, 8, 15, 24, 15, tzinfo=W), 240),
            PowerFailure(datetime(2010, 12, 8, 15, 10, 4, tzinfo=W), 301),
        ),
    ),
    Extras(
        "dsmrreader__fluvius.txt",
        {"96.14.0": 1.0},
        (
            _sub(
                1,
                GAS,
                3,
                "12345678901234567890123456789012",
                "1414.287",
                datetime(2020, 8, 7, 8, 25, 2, tzinfo=S),
                code="24.2.3",
            ),
        ),
    ),
    Extras(  # two gas meters with the same (test) id; a real 0 with a real time is a reading
        "dsmrreader__fluvius_multiple_gas_devices.txt",
        {"96.14.0": 1.0},
        (
            _sub(
                1,
                GAS,
                3,
                "012345678901234567890123456789",
                "734.607",
                datetime(2023, 1, 19, 12, 46, 16, tzinfo=W),
                code="24.2.3",
            ),
            _sub(
                2,
                GAS,
                3,
                "012345678901234567890123456789",
                "0",
                datetime(2023, 1, 19, 12, 40, 5, tzinfo=W),
                code="24.2.3",
            ),
        ),
    ),
    Extras(  # valve closed, time 632525252525W (month 25): no reading
        "dsmrreader__fluvius_without_gas.txt",
        {"96.14.0": 2.0},
    ),
    Extras(  # DSMR 3: the 24.3.0 profile in summer (local time, +02:00)
        "dsmrreader__iskra.txt",
        {"96.14.0": 1.0},
        (_sub(1, GAS, 3, XS, "7890.693", datetime(2016, 4, 10, 13, tzinfo=S)),),
    ),
    Extras(
        "dsmrreader__iskra_dsmr5_bus2.txt",
        _counters(2, 8, 3, 5, 1),
        (
            _sub(
                2,
                GAS,
                3,
                "12345678901234567890123456789012",
                "241.773",
                datetime(2019, 11, 8, 14, 55, 5, tzinfo=W),
            ),
        ),
        events=(PowerFailure(datetime(2019, 1, 15, 1, 18, 53, tzinfo=W), 389),),
    ),
    Extras(
        "dsmrreader__kaifa_dsmr42.txt",
        _counters(2, 6, 3, 0, 0),
        events=(PowerFailure(datetime(2000, 1, 1, 0, 0, 1, tzinfo=W), 2147483647),),
    ),
    Extras(  # a lower-case season flag "s"
        "dsmrreader__landisgyr350_dsmr40.txt",
        _counters(1, 3, 0, 2, 2, 0, 0, 0, 0),
        (_sub(1, GAS, 3, XS, "845.206", datetime(2015, 7, 1, 19, tzinfo=S)),),
    ),
    Extras(
        "dsmrreader__landisgyr350_dsmr42.txt",
        _counters(2, 3, 0, 2, 2, 0, 0, 0, 0),
        (_sub(1, GAS, 3, XS, "1197.484", datetime(2016, 2, 10, 20, tzinfo=W)),),
    ),
    Extras(
        "dsmrreader__landisgyr350_other_dsmr42.txt",
        _counters(2, 8, 0, 0, 0),
        (_sub(2, GAS, 3, XS, "1438.997", datetime(2016, 3, 17, 22, tzinfo=W)),),
    ),
    Extras(  # Smarty: failures and sags/swells, no tariff line; empty 96.13.x are left out
        "nexxtlab__smarty_lu_sagemcom_decrypted.txt",
        {"96.7.21": 69.0, "32.32.0": 44.0, "52.32.0": 3.0, "72.32.0": 2.0}
        | dict.fromkeys(("32.36.0", "52.36.0", "72.36.0"), 0.0),
    ),
    Extras(
        "openhab__kaifa_sagemcom_xs210_dsmr42.txt",
        _counters(1, 12, 5, 0, 0, 0, 0, 0, 0),
        events=(
            PowerFailure(datetime(2017, 6, 15, 12, 40, 4, tzinfo=S), 15270),
            PowerFailure(datetime(2016, 5, 4, 10, 5, 52, tzinfo=S), 186),
            PowerFailure(datetime(2016, 4, 22, 11, 56, 31, tzinfo=S), 1201),
            PowerFailure(datetime(2016, 4, 20, 14, 57, 48, tzinfo=S), 611),
            PowerFailure(datetime(2000, 1, 1, 0, 0, 1, tzinfo=W), 2147483647),
        ),
    ),
    Extras(
        "openhab__landis_gyr_zcf110_dsmr42.txt",
        _counters(2, 2, 0, 0, 0),
        (_sub(1, GAS, 3, "G0045001608107216", "66.405", datetime(2016, 11, 16, 20, tzinfo=W)),),
    ),
    Extras("dsmr_parser__telegram_iskra_ie.txt", {"96.14.0": 1.0}),
    Extras("dsmr_parser__telegram_v5_eon_hu.txt", {"96.14.0": 1.0}),
    Extras("dsmrreader__fluvius_with_peak_data.txt", {"96.14.0": 1.0}),
)
_STATUS_CODES = {"96.14.0", "96.7.21", "96.7.9"} | {
    f"{c}.{d}.0" for c in (32, 52, 72) for d in (32, 36)
}


def _decode(data: bytes, *, byte_by_byte: bool = False) -> list[Any]:
    decoder = DsmrDecoder(DecoderOptions())
    chunks = [data[i : i + 1] for i in range(len(data))] if byte_by_byte else [data]
    return [result for chunk in chunks for result in decoder.feed(chunk)] + decoder.flush()


def _reading(name: str, *, byte_by_byte: bool = False) -> Reading:
    (reading,) = _decode(_capture(name), byte_by_byte=byte_by_byte)
    assert isinstance(reading, Reading), reading
    return reading


# Published without the CRC that every DSMR 4 telegram carries (the decoder rightly rejects
# it: tests/reader/test_dsmr_captures.py): its checksum is put back so that its extras (a
# gas meter, a two-entry failure log) stay tested.
_CRC_LEFT_OUT = {"amshan__lg_e350_xmx5_dsmr42_b.txt"}


def _capture(name: str) -> bytes:
    data = (FOLDER / name).read_bytes()
    if name not in _CRC_LEFT_OUT:
        return data
    start, end = data.index(b"/"), data.rindex(b"!") + 1
    return data[:end] + b"%04X\r\n" % crc16_arc(data[start:end])


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["one-chunk", "byte-by-byte"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.file)
def test_extras_of_the_captures(case: Extras, byte_by_byte: bool) -> None:
    """Status values, sub-meters (value, unit, own time with its offset, id, type, code),
    text and failure log, exactly, however the bytes arrive."""
    reading = _reading(case.file, byte_by_byte=byte_by_byte)
    status = {code: value for code, value in reading.values.items() if code in _STATUS_CODES}
    assert status == case.values
    assert reading.submeters == case.submeters
    for got, want in zip(reading.submeters, case.submeters, strict=True):
        assert got.timestamp.isoformat() == want.timestamp.isoformat()  # the meter's offset
    assert dict(reading.text) == (case.text or {})
    assert reading.events == case.events


def test_every_capture_with_extras_is_covered() -> None:
    """Each capture that decodes to a reading with a status value, sub-meter, text or log
    entry is in the table."""
    covered = {case.file for case in CASES}
    for path in sorted(FOLDER.glob("*.txt")):
        results = _decode(_capture(path.name))
        if len(results) == 1 and isinstance(results[0], Reading) and _has_extras(results[0]):
            assert path.name in covered, path.name


def _has_extras(reading: Reading) -> bool:
    return bool(
        reading.submeters or reading.text or reading.events or _STATUS_CODES & set(reading.values)
    )


# --- dsmr-parser as the oracle -------------------------------------------------------


def _oracle(name: str) -> tuple[Reading, Any]:
    data = _capture(name)
    decoder = DsmrDecoder(DecoderOptions())
    (reading,) = decoder.feed(data) + decoder.flush()
    assert isinstance(reading, Reading) and decoder.variant is not None
    telegram = data[data.index(b"/") :].decode("latin-1")
    if not telegram.endswith("\r\n"):
        telegram += "\r\n"
    spec = dsmr_parser_specification(decoder.variant)
    return reading, TelegramParser(spec, apply_checksum_validation=False).parse(telegram)


def _lowercase_season(name: str, channel: int) -> bool:
    text = _capture(name).decode("latin-1")
    return re.search(rf"0-{channel}:24\.2\.\d\(\d{{12}}[sw]\)", text) is not None


def _first(device: Any, *names: str) -> Any:
    for name in names:
        if hasattr(device, name):
            return getattr(device, name)
    return None


_ORACLE_COUNTERS = {
    "ELECTRICITY_ACTIVE_TARIFF": "96.14.0",
    "SHORT_POWER_FAILURE_COUNT": "96.7.21",
    "LONG_POWER_FAILURE_COUNT": "96.7.9",
    "VOLTAGE_SAG_L1_COUNT": "32.32.0",
    "VOLTAGE_SAG_L2_COUNT": "52.32.0",
    "VOLTAGE_SAG_L3_COUNT": "72.32.0",
    "VOLTAGE_SWELL_L1_COUNT": "32.36.0",
    "VOLTAGE_SWELL_L2_COUNT": "52.36.0",
    "VOLTAGE_SWELL_L3_COUNT": "72.36.0",
}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.file)
def test_same_extras_as_dsmr_parser(case: Extras) -> None:
    """Counters, tariff, sub-meters (their values with a real capture time), text and the
    failure log agree with dsmr-parser wherever its specification of the variant has them."""
    reading, oracle = _oracle(case.file)
    compared = 0
    for name, code in _ORACLE_COUNTERS.items():
        if (obj := getattr(oracle, name, None)) is not None and obj.value is not None:
            assert reading.values[code] == float(int(obj.value)), name
            compared += 1
    ours = {submeter.channel: submeter for submeter in reading.submeters}
    for device in getattr(oracle, "MBUS_DEVICES", []):
        value = _first(
            device, "MBUS_METER_READING", "HOURLY_GAS_METER_READING", "GAS_METER_READING"
        )
        if value is None:
            continue
        if value.datetime is None and _lowercase_season(case.file, device.channel_id):
            # dsmr-parser 1.5 and later no longer read the lowercase season flag that some
            # Landis+Gyr meters send ("150701190000s"); it keeps the value, so the value is
            # compared and the time is checked against the text itself.
            submeter = ours.pop(device.channel_id)
            assert submeter.value == float(value.value)
            assert submeter.timestamp is not None
            assert submeter.timestamp.strftime("%y%m%d%H%M%S") in _capture(case.file).decode(
                "latin-1"
            )
            compared += 1
            continue
        if value.datetime is None or value.datetime.year < 2000 or value.datetime.year > 2060:
            assert device.channel_id not in ours  # an empty channel: no reading
            continue
        submeter = ours.pop(device.channel_id)
        assert submeter.value == float(value.value)
        assert submeter.timestamp == value.datetime
        assert submeter.unit == {"m3": "m³"}.get(value.unit, value.unit)
        kind = _first(device, "MBUS_DEVICE_TYPE", "DEVICE_TYPE")
        assert kind is None or submeter.device_type == int(kind.value)
        identifier = _first(device, "MBUS_EQUIPMENT_IDENTIFIER", "EQUIPMENT_IDENTIFIER_GAS")
        if identifier is not None and identifier.value and submeter.meter_id is not None:
            try:
                text = bytes.fromhex(identifier.value).decode("ascii")
            except (ValueError, UnicodeDecodeError):
                text = identifier.value
            assert submeter.meter_id in (text, identifier.value)
        compared += 1
    if hasattr(oracle, "MBUS_DEVICES"):
        assert not ours  # every sub-meter we read is one dsmr-parser reads
    message = getattr(oracle, "TEXT_MESSAGE", None)
    if message is not None and message.value:
        assert reading.text["96.13.0"] == bytes.fromhex(message.value).decode()
        compared += 1
    log = getattr(oracle, "POWER_EVENT_FAILURE_LOG", None)
    if log is not None:
        assert [(e.end, e.duration_s) for e in reading.events] == [
            (entry.datetime, int(entry.value)) for entry in log.buffer
        ]
        compared += 1
    assert compared or not _has_extras(reading)


# --- Single lines --------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "0-0:96.14.0(T1)",  # not a number: the tariff is left out, the telegram kept
        "0-0:96.7.21(00004*s)",  # a unit where none belongs
        "0-1:24.2.1(101209112500W)(12x85.123*m3)",
        "0-1:24.2.1(12785.123*m3)",  # no capture time
        "0-1:24.2.1(101209112500W)(12785.123*m3",  # no closing parenthesis
        "0-1:24.3.0(161107190000)(00)(60)",  # a cut profile header
        "0-0:96.13.0()",
        "0-0:96.13.0(0000)",
        "1-0:99.97.0(0)(0-0:96.7.19)",  # an empty log
        "1-0:99.97.0(1)(0-0:96.7.19)(101208152415W)(12.5*s)",
        "(not a number)",
    ],
)
def test_unreadable_extra_lines_are_skipped(line: str) -> None:
    assert parse_line(line).kind == 0


def test_sub_meter_units_are_converted() -> None:
    """Wh/MWh to kWh, MJ to GJ, litres to m³, exactly; unknown units are kept as sent."""
    cases = {
        "(001234.5*Wh)": (1.2345, "kWh"),
        "(00001.234*MWh)": (1234.0, "kWh"),
        "(001234*MJ)": (1.234, "GJ"),
        "(0001234*l)": (1.234, "m³"),
        "(00012.345*kWh)": (12.345, "kWh"),
        "(00012.345*ft3)": (12.345, "ft3"),
        "(00012.345)": (12.345, None),
    }
    for group, (value, unit) in cases.items():
        line = f"0-1:24.2.1(260101120000W){group}"
        data = _telegram(line)
        (reading,) = _decode(data)
        (submeter,) = reading.submeters
        assert (submeter.value, submeter.unit) == (value, unit), group


def test_a_profile_header_takes_the_value_line_that_follows_it() -> None:
    """The DSMR 2.2/3 profile's value is the "(value)" line after its header; another M-Bus
    object in between leaves the header without a value (no reading)."""
    header = "0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)"
    (reading,) = _decode(_telegram(header, "(00001.001)"))
    assert [s.value for s in reading.submeters] == [1.001]
    (reading,) = _decode(_telegram(header, "0-2:24.1.0(003)", "(00001.001)"))
    assert reading.submeters == ()
    (reading,) = _decode(_telegram("(00001.001)", "1-0:1.7.0(01.000*kW)"))  # no header
    assert reading.submeters == () and reading.values["1.7.0"] == 1.0


def test_unknown_device_types_and_channels() -> None:
    data = _telegram(
        "0-3:24.1.0(013)",  # heat/cooling in one: unknown
        "0-3:24.2.1(260101120000W)(00012.345*kWh)",
        "0-4:24.1.0(022)",  # cold water (0x16, sent in decimal) is water
        "0-4:24.2.1(260101120000W)(00001.000*m3)",
        "0-5:24.1.0(010)",  # cooling load meter: cold
        "0-5:24.2.1(260101120000W)(00002.000*GJ)",
    )
    (reading,) = _decode(data)
    assert [(s.channel, s.kind, s.device_type) for s in reading.submeters] == [
        (3, SubMeterKind.UNKNOWN, 13),
        (4, SubMeterKind.WATER, 22),
        (5, SubMeterKind.COLD, 10),
    ]


def _telegram(*lines: str) -> bytes:
    body = "\r\n".join(("/ISK5\\2M550T-1012", "", "0-0:1.0.0(260101120000W)", *lines, "!"))
    data = body.encode("latin-1")
    return data + f"{crc16_arc(data):04X}\r\n".encode()

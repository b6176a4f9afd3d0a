"""Decoding rules of the P1 DSMR decoder, one at a time, on small hand-written telegrams."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.ch_smart_meter.reader import crc
from custom_components.ch_smart_meter.reader.crc import crc16_arc as crc16_arc_fast
from custom_components.ch_smart_meter.reader.dsmr.lines import parse_time
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.dsmr.variants import (
    MANUFACTURERS,
    VARIANT_RULES,
    VARIANTS,
    TelegramFacts,
    recognise_variant,
)
from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    MalformedFrame,
    UnsupportedFrame,
)
from custom_components.ch_smart_meter.reader.model import (
    Reading,
    RejectedFrame,
    SerialSettings,
    Standard,
    TimeSource,
)
from custom_components.ch_smart_meter.reader.obis import BY_CODE, UNIT_REQUIRED, Quantity
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import encrypt_smarty
from custom_components.ch_smart_meter.reader.spec import DecoderOptions, StreamDecoder
from custom_components.ch_smart_meter.reader.standards import get_spec, meter_specs
from custom_components.ch_smart_meter.reader.standards.dsmr import SPEC

HOST_TIME = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def telegram(*lines: str, header: str = "/ISK5\\2M550T-1012", checksum: bool = True) -> bytes:
    """A telegram from object lines, with the CRC of the core module."""
    body = "\r\n".join((header, "", *lines)) + "\r\n!"
    data = body.encode("latin-1")
    if checksum:
        data += f"{crc.crc16_arc(data):04X}".encode()
    return data + b"\r\n"


def decode(data: bytes, **options: Any) -> Reading | RejectedFrame:
    decoder = DsmrDecoder(DecoderOptions(clock=lambda: HOST_TIME, **options))
    (result,) = decoder.feed(data) + decoder.flush()
    return result


def reading(data: bytes, **options: Any) -> Reading:
    result = decode(data, **options)
    assert isinstance(result, Reading), result
    return result


def rejected(data: bytes) -> RejectedFrame:
    result = decode(data)
    assert isinstance(result, RejectedFrame), result
    return result


# --- CRC -------------------------------------------------------------------------------


def test_fast_crc_equals_the_core_crc() -> None:
    rng = random.Random(5)
    for length in [*range(40), 255, 256, 1023, 1024, 4097]:
        data = rng.randbytes(length)
        assert crc16_arc_fast(data) == crc.crc16_arc(data), length
    assert crc16_arc_fast(b"123456789") == 0xBB3D


def test_crc_forms() -> None:
    good = telegram("1-0:1.8.1(000001.000*kWh)")
    assert reading(good).values["1.8.1"] == 1.0
    assert reading(good.replace(good[-6:-2], good[-6:-2].lower())).values["1.8.1"] == 1.0
    wrong = good[:-6] + b"0000\r\n"
    error = rejected(wrong).error
    assert isinstance(error, CrcError)
    assert error.message.endswith(f"given 0000, computed {good[-6:-2].decode()}")


def test_no_crc_needs_a_value_line() -> None:
    """Without CRC only a telegram with at least one value line is believed."""
    assert reading(telegram("1-0:1.8.1(000001.000*kWh)", checksum=False)).values["1.8.1"] == 1.0
    result = rejected(telegram("0-0:96.13.0()", checksum=False))
    assert isinstance(result.error, MalformedFrame)


def test_decode_frame_rejects_what_is_not_a_telegram() -> None:
    decoder = DsmrDecoder(DecoderOptions())
    result = decoder.decode_frame(b"hello!")
    assert isinstance(result, RejectedFrame) and isinstance(result.error, UnsupportedFrame)
    assert result.frame == b"hello!"


# --- values and units ------------------------------------------------------------------

UNIT_CASES = (
    ("1-0:1.8.0(000123.456*kWh)", "1.8.0", "123.456"),
    ("1-0:1.8.0(000123456*Wh)", "1.8.0", "123.456"),
    ("1-0:1.8.0(00052185.7825309*kWh)", "1.8.0", "52185.7825309"),
    ("1-0:3.8.0(000012.696*kvarh)", "3.8.0", "12.696"),
    ("1-0:3.8.0(000012.696*kVArh)", "3.8.0", "12.696"),
    ("1-0:3.8.0(000012.696*kVarh)", "3.8.0", "12.696"),
    ("1-0:4.8.0(003897726*varh)", "4.8.0", "3897.726"),
    ("1-0:4.8.0(003897726*VArh)", "4.8.0", "3897.726"),
    ("1-0:1.7.0(01.193*kW)", "1.7.0", "1.193"),
    ("1-0:1.7.0(000000286*W)", "1.7.0", "0.286"),
    ("1-0:1.7.0(002124.86*W)", "1.7.0", "2.12486"),
    ("1-0:3.7.0(00.505*kvar)", "3.7.0", "0.505"),
    ("1-0:3.7.0(0000.505*kVAr)", "3.7.0", "0.505"),
    ("1-0:4.7.0(000000166*var)", "4.7.0", "0.166"),
    ("1-0:23.7.0(0000.204*kVAr)", "23.7.0", "0.204"),
    ("1-0:4.7.0(00.007)", "4.7.0", "0.007"),  # no unit: the DSMR unit (kvar)
    ("1-0:32.7.0(230.1*V)", "32.7.0", "230.1"),
    ("1-0:32.7.0(00234.6*V)", "32.7.0", "234.6"),
    ("1-0:31.7.0(005*A)", "31.7.0", "5"),
    ("1-0:31.7.0(000.27*A)", "31.7.0", "0.27"),
    ("1-0:14.7.0(50.00*Hz)", "14.7.0", "50"),
    ("1-0:13.7.0(0.998)", "13.7.0", "0.998"),
    ("1-1:1.8.0(000123.456*kWh)", "1.8.0", "123.456"),  # B = 1 (Smarty, Kamstrup)
    ("1-0:1.8.0*255(000123.456*kWh)", "1.8.0", "123.456"),  # F as *255 (EasyMeter)
    ("1-0:1.8.0.255(000123.456*kWh)", "1.8.0", "123.456"),  # F as .255
    ("1-0:21.7.0(00.300*kW)", "21.7.0", "0.3"),  # exactly 0.3, not 0.30000000000000004
)


@pytest.mark.parametrize(("line", "code", "value"), UNIT_CASES, ids=[c[0] for c in UNIT_CASES])
def test_units_are_converted_exactly(line: str, code: str, value: str) -> None:
    assert reading(telegram(line)).values[code] == float(Decimal(value))


@pytest.mark.parametrize(
    "line",
    [
        "1-0:1.8.0(000123.456*V)",  # wrong unit for an energy
        "1-0:32.7.0(230.1*kV)",  # unknown unit
        "1-0:1.7.0(01.1.93*kW)",  # two decimal points
        "1-0:1.7.0(1e3*kW)",  # not a plain decimal
        "1-0:1.7.0(-1.000*kW)",  # DSMR registers are unsigned
        "1-0:1.7.0(nan*kW)",
        "1-0:1.7.0(01.193*kW",  # no closing parenthesis
    ],
)
def test_bad_value_lines_reject_the_telegram(line: str) -> None:
    """A CRC-valid telegram with a value that cannot be read is refused, never guessed."""
    assert isinstance(rejected(telegram(line)).error, MalformedFrame)


def test_every_catalogue_code_is_read() -> None:
    """Each non-identifier code of the OBIS catalogue is taken from an A=1 line."""
    entries = [e for e in BY_CODE.values() if e.quantity is not Quantity.IDENTIFIER]
    codes = [e.code for e in entries]
    lines = [f"1-0:{e.code}(0.5{f'*{e.unit}' if e.code in UNIT_REQUIRED else ''})" for e in entries]
    values = reading(telegram(*lines)).values
    assert dict(values) == dict.fromkeys(codes, 0.5)


@pytest.mark.parametrize(
    "line",
    [
        "0-0:17.0.0(16500)",  # no unit (Polish meters): not a number of kW
        "0-0:17.0.0(016*A)",  # DSMR 3 writes the limit as a current
        "0-0:17.0.0(07.0*kVA)",  # Luxembourg Smarty writes it as an apparent power
        "1-0:1.4.0(abc*kW)",
        "1-1:31.4.0(200*A)",  # channel 1: the Smarty's current transformer ratio
    ],
)
def test_limits_without_their_unit_are_left_out(line: str) -> None:
    """Limits and demands that meters write in other units or none are left out, and the
    telegram keeps its other values."""
    result = reading(telegram(line, "1-0:1.7.0(01.193*kW)"))
    assert dict(result.values) == {"1.7.0": 1.193}


def test_lines_that_are_not_values_are_skipped() -> None:
    result = reading(
        telegram(
            "1-3:0.2.8(50)",
            "0-0:96.14.0(0002)",
            "0-0:17.0.0(999.9*kW)",  # the power limit: an abstract object that is a value
            "1-0:99.97.0(1)(0-0:96.7.19)(101208152415W)(0000000240*s)",
            "1-0:31.4.0(999*A)",
            "1-0:1.6.0(231102114500W)(03.064*kW)",  # (time of the maximum)(the maximum)
            "1-0:32.4.0(230*V)",  # not in the catalogue
            "1-0:4:24.7.0(000.000*kW)",  # malformed reference
            "0-1:24.1.0(003)",
            "0-1:96.1.1(37464C4F32313233303838303237)",  # gas meter id, not ours
            "0-1:24.2.1(101209112500W)(12785.123*m3)",
            "0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)",
            "(00001.001)",
            "garbage without parenthesis",
            "1-0:1.7.0()",  # no value
            "1-0:2.7.0(00.250*kW)",
        )
    )
    # The tariff indicator and the limits are catalogue values; the M-Bus and log lines
    # are extras.
    assert dict(result.values) == {
        "2.7.0": 0.25,
        "96.14.0": 2.0,
        "17.0.0": 999.9,
        "31.4.0": 999.0,
        "1.6.0": 3.064,
    }
    assert result.meter_id == "ISK5\\2M550T-1012"  # the gas meter's id is not used
    assert [submeter.channel for submeter in result.submeters] == [1]
    assert len(result.events) == 1


def test_power_factor_above_one_is_left_out() -> None:
    values = reading(telegram("1-0:13.7.0(4.556)", "1-0:33.7.0(0.5)")).values
    assert "13.7.0" not in values


def test_totals_are_exact_sums_of_all_tariffs() -> None:
    values = reading(
        telegram(
            "1-0:1.8.1(000000.100*kWh)",
            "1-0:1.8.2(000000.200*kWh)",
            "1-0:1.8.3(000000.400*kWh)",
            "1-0:1.8.4(000000.800*kWh)",
            "1-0:2.8.1(000000100*Wh)",
            "1-0:2.8.2(000000.200*kWh)",
        )
    ).values
    assert values["1.8.0"] == 1.5
    assert values["2.8.0"] == 0.3  # exactly, not 0.30000000000000004
    assert "1.8.3" not in values  # tariffs 3+ are outside the catalogue, only summed


def test_a_sent_total_wins_over_the_sum() -> None:
    values = reading(
        telegram("1-0:1.8.0(000009.000*kWh)", "1-0:1.8.1(000001.000*kWh)", "1-0:1.8.2(2*kWh)")
    ).values
    assert values["1.8.0"] == 9.0
    assert "2.8.0" not in values  # no export register at all: no export total


# --- time ------------------------------------------------------------------------------

TIME_CASES = (
    ("260701120000S", "2026-07-01T12:00:00+02:00"),
    ("260101120000W", "2026-01-01T12:00:00+01:00"),
    ("260701120000s", "2026-07-01T12:00:00+02:00"),
    ("260101120000w", "2026-01-01T12:00:00+01:00"),
    ("261025023000W", "2026-10-25T02:30:00+01:00"),  # the repeated hour, second time
    ("261025023000S", "2026-10-25T02:30:00+02:00"),  # the repeated hour, first time
    ("260701120000", "2026-07-01T12:00:00+02:00"),  # no flag: local time
    ("20240111 09:35:00", "2024-01-11T09:35:00+01:00"),  # NES
    ("2024-01-11 09:35:00", "2024-01-11T09:35:00+01:00"),
)


@pytest.mark.parametrize(("text", "expected"), TIME_CASES)
def test_time_forms(text: str, expected: str) -> None:
    result = reading(telegram(f"0-0:1.0.0({text})", "1-0:1.7.0(1*kW)"))
    assert result.timestamp.isoformat() == expected
    assert result.time_source is TimeSource.METER


@pytest.mark.parametrize("text", ["632525252525W", "261332120000W", "", "26070112000XS", "soon"])
def test_unreadable_time_falls_back_to_the_host_clock(text: str) -> None:
    result = reading(telegram(f"0-0:1.0.0({text})", "1-0:1.7.0(1*kW)"))
    assert result.time_source is TimeSource.HOST
    assert result.timestamp == HOST_TIME
    assert result.timestamp.utcoffset() == timedelta(hours=2)  # Swiss summer time


def test_host_time_in_the_configured_timezone() -> None:
    result = reading(telegram("1-0:1.7.0(1*kW)"), timezone=ZoneInfo("America/New_York"))
    assert result.timestamp == HOST_TIME
    assert result.timestamp.utcoffset() == timedelta(hours=-4)


def test_parse_time_directly() -> None:
    local = timezone(timedelta(hours=5))
    assert parse_time("170102192002W", local) == datetime(
        2017, 1, 2, 19, 20, 2, tzinfo=timezone(timedelta(hours=1))
    )
    assert parse_time("170102192002", local) == datetime(2017, 1, 2, 19, 20, 2, tzinfo=local)
    assert parse_time("17010219200²W", local) is None


# --- identification --------------------------------------------------------------------


def test_meter_id_order() -> None:
    hex_id = b"E0044007382246019".hex().upper()
    both = telegram(f"0-0:96.1.1({hex_id})", "0-0:42.0.0(534147)", "1-0:1.7.0(1*kW)")
    assert (reading(both).meter_id, reading(both).id_obis) == ("E0044007382246019", "96.1.1")
    only_name = telegram("0-0:42.0.0(53414731303330)", "1-0:1.7.0(1*kW)")
    assert (reading(only_name).meter_id, reading(only_name).id_obis) == ("SAG1030", "42.0.0")
    not_text = telegram("0-0:96.1.1(ADC3100000158491)", "1-0:1.7.0(1*kW)")
    assert reading(not_text).meter_id == "ADC3100000158491"  # not printable: as sent
    empty = telegram("0-0:96.1.1()", "0-0:42.0.0(0000)", "1-0:1.7.0(1*kW)", header="/KAM5")
    assert (reading(empty).meter_id, reading(empty).id_obis) == ("KAM5", "96.1.1")


@pytest.mark.parametrize(("flag", "manufacturer"), sorted(MANUFACTURERS.items()))
def test_manufacturer_from_the_flag_id(flag: str, manufacturer: str) -> None:
    result = reading(telegram("1-0:1.7.0(1*kW)", header=f"/{flag}5\\2MODEL-1"))
    assert result.manufacturer == manufacturer
    assert result.model == "MODEL-1"


def test_unknown_flag_and_model_forms() -> None:
    result = reading(telegram("1-0:1.7.0(1*kW)", header="/ZZZ5 Something"))
    assert (result.manufacturer, result.model) == (None, "Something")
    result = reading(telegram("1-0:1.7.0(1*kW)", header="/NES5:83335-3E"))
    assert result.model == "83335-3E"
    result = reading(telegram("1-0:1.7.0(1*kW)", header="/Lux5\\ABCDEFG123_D"))
    assert result.model == "ABCDEFG123_D"


# --- variants --------------------------------------------------------------------------

# One telegram per rule of VARIANT_RULES: (header, lines, encrypted) -> variant id.
VARIANT_CASES = (
    ("/FLU5\\253769484_A", ("0-0:96.1.4(50217)", "1-3:0.2.8(50)"), False, "emucs"),
    ("/Lux5\\253663629_D", ("1-3:0.2.8(42)",), True, "smarty_encrypted"),
    ("/Lux5\\253663629_D", ("1-3:0.2.8(42)",), False, "smarty"),
    ("/EST5\\253710000_A", ("1-3:0.2.8(50)",), False, "austria"),
    ("/KFM5KAIFA-METER", ("1-3:0.2.8(50)",), True, "encrypted"),
    ("/ESY5Q3DA1004 V3.04", (), False, "q3d"),
    ("/ISk5\\2MIE5T-200", ("1-3:0.2.8(50)",), False, "iskra_ie"),
    ("/SAG5SAG-METER", (), False, "eon_hu"),
    ("/ISK5\\2M550T-1012", ("1-3:0.2.8(50)",), False, "dsmr5"),
    ("/KFM5KAIFA-METER", ("1-3:0.2.8(42)",), False, "dsmr4"),
    ("/ISK5\\2M550T-1012", ("1-3:0.2.8(30)",), False, "dsmr3"),
    ("/KAM5", (), False, "nordic"),
    ("/ISk5\\2MT382-1000", (), False, "dsmr22"),
)


def test_every_variant_rule_is_reachable() -> None:
    assert [case[3] for case in VARIANT_CASES] == [rule.variant.id for rule in VARIANT_RULES]


@pytest.mark.parametrize(
    ("header", "lines", "encrypted", "variant"), VARIANT_CASES, ids=[c[3] for c in VARIANT_CASES]
)
def test_variant_is_recognised(
    header: str, lines: tuple[str, ...], encrypted: bool, variant: str
) -> None:
    checksum = variant != "dsmr22"
    data = telegram(*lines, "1-0:1.7.0(1*kW)", header=header, checksum=checksum)
    if encrypted:
        key = bytes(range(16))
        data = encrypt_smarty(data, key, b"SAG12345", 1)
        decoder = DsmrDecoder(DecoderOptions(encryption_key=key))
    else:
        decoder = DsmrDecoder(DecoderOptions())
    (result,) = decoder.feed(data)
    assert isinstance(result, Reading)
    assert decoder.variant is VARIANTS[variant]


def test_unrecognised_layout() -> None:
    variant = recognise_variant(TelegramFacts("XYZ", "", "9", False, False, True))
    assert variant is VARIANTS["dsmr"]


# --- the standard's spec ---------------------------------------------------------------


def test_spec() -> None:
    assert get_spec("dsmr") is SPEC
    assert SPEC in meter_specs()
    assert SPEC.standard is Standard.DSMR
    assert SPEC.title == "P1 DSMR 5.0.2"
    assert [(p.name, p.settings) for p in SPEC.serial_presets] == [
        ("DSMR 5 P1 port", SerialSettings(115200, 8, "N", 1)),
        ("DSMR 4", SerialSettings(115200, 7, "E", 1)),
        ("DSMR 2.2/3", SerialSettings(9600, 7, "E", 1)),
    ]
    assert SPEC.serial == SerialSettings(115200, 8, "N", 1)
    assert SPEC.interval == 10.0
    # Encrypted (Smarty), with the public authentication key: none to ask the user for.
    assert SPEC.supports_encryption and not SPEC.supports_authentication_key
    assert [p.id for p in SPEC.serial_presets] == ["dsmr5", "dsmr4", "dsmr22"]
    assert SPEC.description
    decoder: StreamDecoder = SPEC.create_decoder(DecoderOptions())
    assert isinstance(decoder, DsmrDecoder)
    assert decoder.flush() == []

"""A-XDR data, COSEM date-time and the data-notification APDU."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from custom_components.ch_smart_meter.reader.dlms import axdr, cosem_time, notification
from custom_components.ch_smart_meter.reader.errors import (
    MalformedFrame,
    TruncatedFrame,
    UnsupportedFrame,
)
from custom_components.ch_smart_meter.reader.simulate import dlms_encoder as enc
from custom_components.ch_smart_meter.reader.spec import SWISS_TIME

DATE_TIME = bytes.fromhex("07ea0504010b2714ff800000")


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("00", None),
        ("0301", True),
        ("0300", False),
        ("05fffffffe", -2),
        ("06fffffffe", 0xFFFFFFFE),
        ("0903616263", b"abc"),
        ("0a03616263", "abc"),
        ("0c02c3a9", "é"),
        ("0d99", -103),
        ("0f80", -128),
        ("0f7f", 127),
        ("10fffe", -2),
        ("11ff", 255),
        ("12fffe", 0xFFFE),
        ("14fffffffffffffffe", -2),
        ("15fffffffffffffffe", 0xFFFFFFFFFFFFFFFE),
        ("1605", 5),
        ("18400921fb54442d18", 3.141592653589793),
        ("19" + DATE_TIME.hex(), DATE_TIME),
        ("1a07ea050401", bytes.fromhex("07ea050401")),
        ("1b0b2714ff", bytes.fromhex("0b2714ff")),
        ("0202120001120002", (1, 2)),
        ("0102120001120002", [1, 2]),
        ("0200", ()),
        ("0100", []),
    ],
)
def test_every_type(encoded: str, expected: object) -> None:
    value, end = axdr.decode(bytes.fromhex(encoded))
    assert end == len(encoded) // 2
    assert value == expected
    assert type(value) is not bool or type(expected) is bool


def test_marker_types() -> None:
    assert type(axdr.decode(bytes.fromhex("1605"))[0]) is axdr.EnumValue
    assert type(axdr.decode(bytes.fromhex("0d05"))[0]) is axdr.Bcd
    assert type(axdr.decode(bytes.fromhex("19" + DATE_TIME.hex()))[0]) is axdr.DateTimeValue
    assert type(axdr.decode(bytes.fromhex("1a07ea050401"))[0]) is axdr.DateValue
    assert type(axdr.decode(bytes.fromhex("1b0b2714ff"))[0]) is axdr.TimeValue
    value = axdr.decode(bytes.fromhex("1740490fdb"))[0]
    assert (
        type(value) is axdr.Float32 and value == struct.unpack(">f", bytes.fromhex("40490fdb"))[0]
    )


def test_bit_string() -> None:
    value, end = axdr.decode(bytes.fromhex("040ba5e0"))
    assert value == axdr.BitString(11, b"\xa5\xe0") and end == 4


@pytest.mark.parametrize("form", ["", "81", "8200", "830000", "84000000"])
def test_length_forms(form: str) -> None:
    """< 0x80 in one byte; 0x81-0x84 followed by 1-4 length bytes."""
    payload = b"x" * 5
    size = bytes.fromhex(form) + bytes((5,)) if form else b"\x05"
    assert axdr.decode(b"\x09" + size + payload) == (payload, 1 + len(size) + 5)
    elements = bytes.fromhex("1101") * 5
    assert axdr.decode(b"\x01" + size + elements)[0] == [1] * 5


def test_long_strings_and_arrays() -> None:
    text = b"y" * 300
    assert axdr.decode(b"\x09\x82\x01\x2c" + text)[0] == text
    many = b"\x01\x81\xc8" + b"\x11\x07" * 200
    assert axdr.decode(many)[0] == [7] * 200


def test_matches_the_encoder() -> None:
    """Everything the simulators' encoder writes decodes back (independent code)."""
    body = enc.structure(
        [
            enc.uint32(482939),
            enc.int8(-2),
            enc.enum(30),
            enc.octet_string(b"LGZ1030653520967"),
            enc.visible_string("Kamstrup_V0001"),
            enc.utf8_string("Zürich"),
            enc.uint64(2**63),
            enc.int64(-(2**63)),
            enc.float64(0.5),
            enc.boolean(True),
            enc.null_data(),
            enc.bit_string("101"),
            enc.array([enc.uint16(n) for n in range(300)]),
            enc.tagged_date_time(enc.CosemDateTime(2026, 5, 4, 11, 39, 20)),
        ]
    )
    value, end = axdr.decode(body)
    assert end == len(body)
    assert value[:11] == (482939, -2, 30, b"LGZ1030653520967", "Kamstrup_V0001", "Zürich",
                          2**63, -(2**63), 0.5, True, None)  # fmt: skip
    assert value[11] == axdr.BitString(3, b"\xa0")
    assert value[12] == list(range(300))


def test_compact_array() -> None:
    # compact-array of long-unsigned: description 12, contents length 6, three values.
    value, end = axdr.decode(bytes.fromhex("1312" + "06" + "000100020003"))
    assert value == [1, 2, 3] and end == 9
    # of structure{long-unsigned, octet-string}: contents carry the string lengths.
    encoded = bytes.fromhex("13" + "02021209" + "0a" + "0001" + "03616263" + "0002" + "0178")
    assert axdr.decode(encoded)[0] == [(1, b"abc"), (2, b"x")]
    with pytest.raises(MalformedFrame):
        axdr.decode(bytes.fromhex("1312" + "05" + "0001000200"))


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "12",
        "1200",
        "06000000",
        "0905616263",
        "0202120001",
        "01811200",
        "0a",
        "19" + "07" * 11,
        "0482ff",
    ],
)
def test_cut_off_is_truncated(encoded: str) -> None:
    with pytest.raises(TruncatedFrame):
        axdr.decode(bytes.fromhex(encoded))


@pytest.mark.parametrize(
    "encoded", ["07", "0e00", "ff", "0980", "0985000000000001", "13ff", "1313"]
)
def test_not_a_data_value_is_malformed(encoded: str) -> None:
    with pytest.raises(MalformedFrame):
        axdr.decode(bytes.fromhex(encoded) + bytes(20))


def test_malformed_data_tells_where() -> None:
    with pytest.raises(axdr.MalformedData) as caught:
        axdr.decode(bytes.fromhex("0203" + "1101" + "1102" + "07"))
    assert caught.value.offset == 6


def test_nesting_is_bounded() -> None:
    deep = b"\x02\x01" * (axdr.MAX_DEPTH + 1) + b"\x00"
    with pytest.raises(MalformedFrame):
        axdr.decode(deep)
    ok = b"\x02\x01" * (axdr.MAX_DEPTH - 1) + b"\x00"
    assert axdr.decode(ok)[1] == len(ok)


def test_object_list_memo_gives_the_same_value() -> None:
    object_list = enc.array(
        enc.structure([enc.uint16(3), enc.obis_code(f"1-0:{c}.7.0"), enc.int8(2), enc.uint16(0)])
        for c in (1, 2, 31)
    )
    memo = axdr.ObjectListMemo()
    first = enc.structure([object_list, enc.uint32(1), enc.uint32(2), enc.uint16(3)])
    second = enc.structure([object_list, enc.uint32(4), enc.uint32(5), enc.uint16(6)])
    one, _ = axdr.decode_body(first, 0, memo)
    two, _ = axdr.decode_body(second, 0, memo)
    assert one == axdr.decode(first)[0] and two == axdr.decode(second)[0]
    assert two[0] is one[0]  # decoded once
    changed = enc.structure([enc.array([]), enc.uint32(1)])
    assert axdr.decode_body(changed, 0, memo)[0] == ([], 1)


# --- COSEM date-time --------------------------------------------------------------------------


def _dt(year: int = 2026, month: int = 5, day: int = 4, hour: int = 11, minute: int = 39, *,
        second: int = 20, hundredths: int = 0xFF, deviation: int = 0x8000,
        status: int = 0) -> bytes:  # fmt: skip
    return (year.to_bytes(2, "big") + bytes((month, day, 0xFF, hour, minute, second, hundredths))
            + (deviation & 0xFFFF).to_bytes(2, "big") + bytes((status,)))  # fmt: skip


def test_unspecified_deviation_is_the_meters_zone_not_the_hosts() -> None:
    moment = cosem_time.parse_datetime(_dt(), SWISS_TIME)
    assert moment == datetime(2026, 5, 4, 11, 39, 20, tzinfo=SWISS_TIME)
    assert moment.isoformat() == "2026-05-04T11:39:20+02:00"
    winter = cosem_time.parse_datetime(_dt(month=1), SWISS_TIME)
    assert winter.utcoffset() == timedelta(hours=1)
    other = cosem_time.parse_datetime(_dt(), ZoneInfo("America/New_York"))
    assert other.utcoffset() == timedelta(hours=-4)


@pytest.mark.parametrize(("deviation", "offset"), [(-120, 2), (-60, 1), (0, 0), (60, -1)])
def test_deviation_sign(deviation: int, offset: int) -> None:
    """Meters send -120 during CEST: UTC = local time + deviation."""
    moment = cosem_time.parse_datetime(_dt(deviation=deviation, status=0x80), SWISS_TIME)
    assert moment.utcoffset() == timedelta(hours=offset)
    assert moment.replace(tzinfo=None) == datetime(2026, 5, 4, 11, 39, 20)


def test_autumn_overlap_follows_the_dst_flag() -> None:
    summer = cosem_time.parse_datetime(_dt(2025, 10, 26, 2, 30, second=0, status=0x80), SWISS_TIME)
    winter = cosem_time.parse_datetime(_dt(2025, 10, 26, 2, 30, second=0, status=0x00), SWISS_TIME)
    assert summer.utcoffset() == timedelta(hours=2)
    assert winter.utcoffset() == timedelta(hours=1)
    assert winter.timestamp() - summer.timestamp() == 3600
    assert winter - summer == timedelta(hours=1)  # fixed offsets: plain arithmetic works


def test_hundredths_and_unspecified_fields() -> None:
    moment = cosem_time.parse_datetime(_dt(hundredths=18, deviation=-120), SWISS_TIME)
    assert moment.microsecond == 180_000
    assert cosem_time.parse_datetime(_dt(second=0xFF), SWISS_TIME).second == 0


@pytest.mark.parametrize(
    "raw",
    [
        bytes((0xFF,)) * 12,
        _dt(year=0xFFFF),
        _dt(month=0xFF),
        _dt(month=0xFE),
        _dt(day=0xFD),
        _dt(hour=0xFF),
        _dt(minute=0xFF),
        _dt(month=2, day=31),
        _dt(month=0),
        b"\x07\xea",
    ],
)
def test_no_instant(raw: bytes) -> None:
    assert cosem_time.parse_datetime(raw, SWISS_TIME) is None


def test_absurd_deviation_is_treated_as_unspecified() -> None:
    moment = cosem_time.parse_datetime(_dt(deviation=5000), SWISS_TIME)
    assert moment.utcoffset() == timedelta(hours=2)


def test_offsets_are_shared_objects() -> None:
    one = cosem_time.parse_datetime(_dt(deviation=-120), SWISS_TIME)
    two = cosem_time.parse_datetime(_dt(deviation=-120, minute=40), SWISS_TIME)
    assert one.tzinfo is two.tzinfo and one.tzinfo == timezone(timedelta(hours=2))


# --- data-notification ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("00", None),
        ("0c" + DATE_TIME.hex(), DATE_TIME),
        ("090c" + DATE_TIME.hex(), DATE_TIME),
        ("19" + DATE_TIME.hex(), DATE_TIME),
        ("0900", None),
    ],
)
def test_notification_date_time_forms(header: str, expected: bytes | None) -> None:
    apdu = bytes.fromhex("0f00d7dd82" + header + "020212000112ffff")
    parsed = notification.parse(apdu)
    assert parsed.long_invoke_id == 0x00D7DD82
    assert parsed.date_time == expected
    assert parsed.body == (1, 0xFFFF)


def test_notification_faults() -> None:
    with pytest.raises(UnsupportedFrame):
        notification.parse(bytes.fromhex("c401c1000600000000"))
    with pytest.raises(TruncatedFrame):
        notification.parse(bytes.fromhex("0f0000"))
    with pytest.raises(TruncatedFrame):
        notification.parse(bytes.fromhex("0f00000001" + "0c07ea"))
    with pytest.raises(MalformedFrame):
        notification.parse(bytes.fromhex("0f00000001" + "0905" + "0000000000" + "0200"))
    with pytest.raises(MalformedFrame):
        notification.parse(bytes.fromhex("0f00000001" + "33" + "0200"))
    with pytest.raises(MalformedFrame):
        notification.parse(bytes.fromhex("0f0000000100" + "0200" + "1234"))
    # Zero padding after the body is tolerated.
    assert notification.parse(bytes.fromhex("0f0000000100" + "0200" + "0000")).body == ()


def test_apdu_names() -> None:
    assert notification.apdu_name(0xC4) == "get-response"
    assert notification.apdu_name(0x99) == "APDU 0x99"

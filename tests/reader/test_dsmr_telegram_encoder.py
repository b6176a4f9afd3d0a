"""The DSMR telegram encoder (simulators, tests): layout, field widths, CRC, Smarty envelope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from custom_components.ch_smart_meter.reader.obis import BY_CODE
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (
    LINE_FORMATS,
    encode_telegram,
    encrypt_smarty,
    format_line,
    timestamp_text,
)
from tests.conftest import testdata_dir as capture_folder
from tests.reader.crc_reference import crc16_arc_bitwise

WINTER = timezone(timedelta(hours=1))


def _hex_file(name: str) -> bytes:
    return bytes.fromhex("".join((capture_folder("dsmr") / name).read_text().split()))


@pytest.mark.parametrize(
    ("envelope", "plaintext", "key"),
    [
        (
            "nexxtlab__smarty_lu_sagemcom_encrypted.hex",
            "nexxtlab__smarty_lu_sagemcom_decrypted.txt",
            "D491470F47126332B07D1923B3504188",
        ),
        (
            "arduino_dsmr2__synthetic_encrypted_sagemcom_t210dr.hex",
            "dsmr_parser__telegram_sagemcom_t210_d_r.txt",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
    ],
)
def test_encrypt_smarty_reproduces_real_envelopes(envelope: str, plaintext: str, key: str) -> None:
    """Same plaintext, key, system title and counter: the very bytes of the captures."""
    frame = _hex_file(envelope)
    telegram = (capture_folder("dsmr") / plaintext).read_bytes()
    counter = int.from_bytes(frame[14:18], "big")
    assert encrypt_smarty(telegram, bytes.fromhex(key), frame[2:10], counter) == frame


def test_encoder_writes_the_lines_of_a_dsmr5_meter() -> None:
    """Every value line of the dsmr-reader DSMR 5 example is written byte for byte."""
    capture = (capture_folder("dsmr") / "dsmrreader__example_dsmr50.txt").read_text("latin-1")
    values = {
        "1.8.1": "123456.789",
        "1.8.2": "123456.789",
        "2.8.1": "123456.789",
        "2.8.2": "123456.789",
        "1.7.0": "1.193",
        "2.7.0": "0",
        "32.7.0": "220.1",
        "52.7.0": "220.2",
        "72.7.0": "220.3",
        "31.7.0": 1,
        "51.7.0": 2,
        "71.7.0": 3,
        "21.7.0": "1.111",
        "41.7.0": "2.222",
        "61.7.0": "3.333",
        "22.7.0": "4.444",
        "42.7.0": "5.555",
        "62.7.0": "6.666",
    }
    encoded = encode_telegram(
        values,
        timestamp=datetime(2010, 12, 9, 11, 30, 20, tzinfo=WINTER),
        equipment_id="K8EG004046395507",
        tariff=2,
        gas_m3="12785.123",
        gas_timestamp=datetime(2010, 12, 9, 11, 25, tzinfo=WINTER),
        gas_id="2222ABCD123456789",
    ).decode("latin-1")
    expected = [line for line in capture.splitlines() if line[:2] in ("0-", "1-")]
    written = encoded.splitlines()
    identical = [line for line in expected if line in written]
    differing = sorted(set(expected) - set(identical))
    # Only the contents of the event log and the text message differ (fixed in the encoder).
    assert [line.split("(")[0] for line in differing] == ["0-0:96.13.0", "1-0:99.97.0"]
    # Same order of objects as the meter.
    order = [line.split("(")[0] for line in written if line[:2] in ("0-", "1-")]
    assert order == [line.split("(")[0] for line in expected]


def test_crc_is_correct_and_upper_case() -> None:
    data = encode_telegram({"1.7.0": "1"}, timestamp=datetime(2026, 1, 1, tzinfo=WINTER))
    body, _, tail = data.rpartition(b"!")
    assert tail.endswith(b"\r\n") and len(tail) == 6
    assert int(tail[:4], 16) == crc16_arc_bitwise(body + b"!")
    assert tail[:4] == tail[:4].upper()
    assert crc16_arc_bitwise(b"123456789") == 0xBB3D


def test_options() -> None:
    moment = datetime(2026, 1, 1, tzinfo=WINTER)
    legacy = encode_telegram({"1.8.1": 1}, timestamp=moment, crc=False, version=None)
    assert legacy.endswith(b"\r\n!\r\n")
    assert b"0.2.8" not in legacy
    bare = encode_telegram({"1.8.1": 1}, timestamp=moment, equipment_id="", status_lines=False)
    assert b"96.1.1" not in bare and b"96.7.21" not in bare
    assert b"0-0:96.14.0(0001)" in bare
    extra = encode_telegram({}, timestamp=moment, extra_lines=["1-0:14.7.0(50.00*Hz)"])
    assert b"\r\n1-0:14.7.0(50.00*Hz)\r\n" in extra
    assert encode_telegram({}, timestamp=moment, identification="KAM5").startswith(b"/KAM5\r\n\r\n")


FORMAT_CASES = (
    ("1.8.1", Decimal("123.456"), "1-0:1.8.1(000123.456*kWh)"),
    ("1.8.1", 1234567.891, "1-0:1.8.1(1234567.891*kWh)"),  # wider than the field: not cut
    ("3.8.0", "0.1", "1-0:3.8.0(000000.100*kvarh)"),
    ("1.7.0", 0.0005, "1-0:1.7.0(00.001*kW)"),  # rounded half up
    ("4.7.0", "1.5", "1-0:4.7.0(01.500*kvar)"),
    ("32.7.0", 230, "1-0:32.7.0(230.0*V)"),
    ("31.7.0", "4.5", "1-0:31.7.0(005*A)"),  # integer amps, as 5.0.2 meters send them
    ("31.7.0", 4.4, "1-0:31.7.0(004*A)"),
    ("62.7.0", "0", "1-0:62.7.0(00.000*kW)"),
)


@pytest.mark.parametrize(("code", "value", "line"), FORMAT_CASES)
def test_field_widths(code: str, value: Decimal | float | str, line: str) -> None:
    assert format_line(code, value) == line


def test_invalid_input() -> None:
    moment = datetime(2026, 1, 1, tzinfo=WINTER)
    with pytest.raises(KeyError):
        encode_telegram({"99.9.9": 1}, timestamp=moment)
    with pytest.raises(ValueError, match="non-negative"):
        format_line("1.7.0", -1)
    with pytest.raises(ValueError, match="non-negative"):
        format_line("1.7.0", float("nan"))
    with pytest.raises(ValueError, match="aware"):
        encode_telegram({}, timestamp=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="16 bytes"):
        encrypt_smarty(b"/x!", b"short", b"SYSTEMID", 1)
    with pytest.raises(ValueError, match="8 bytes"):
        encrypt_smarty(b"/x!", bytes(16), b"SYS", 1)
    with pytest.raises(ValueError, match="32-bit"):
        encrypt_smarty(b"/x!", bytes(16), b"SYSTEMID", 2**32)


def test_timestamp_flag() -> None:
    assert timestamp_text(datetime(2026, 7, 1, 12, tzinfo=timezone(timedelta(hours=2)))) == (
        "260701120000S"
    )
    assert timestamp_text(datetime(2026, 1, 1, 12, tzinfo=WINTER)) == "260101120000W"
    # Other offsets are shown in Swiss time.
    assert timestamp_text(datetime(2026, 7, 1, 10, tzinfo=UTC)) == "260701120000S"
    assert timestamp_text(datetime(2026, 1, 1, 11, tzinfo=UTC)) == "260101120000W"


def test_every_line_format_has_a_catalogue_code() -> None:
    assert set(LINE_FORMATS) <= set(BY_CODE)

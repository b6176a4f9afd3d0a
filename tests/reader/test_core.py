"""Core pieces of the reader library: CRCs, OBIS catalogue, CH-SMR format, keys, ciphering."""

from __future__ import annotations

import ast
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from custom_components.ch_smart_meter.reader import chsmr, crc, obis
from custom_components.ch_smart_meter.reader.dlms import cipher
from custom_components.ch_smart_meter.reader.errors import (
    ChSmrError,
    DecryptionFailed,
    InvalidKey,
    KeyRequired,
    ReplayedFrame,
)
from custom_components.ch_smart_meter.reader.model import Reading

LIBRARY = Path(__file__).resolve().parents[2] / "custom_components" / "ch_smart_meter" / "reader"


def test_library_never_imports_home_assistant() -> None:
    """The reader library is pure Python: no module imports homeassistant."""
    offenders = []
    for path in LIBRARY.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "homeassistant"]
    assert offenders == []


@pytest.mark.parametrize(
    ("function", "expected"),
    [(crc.crc16_arc, 0xBB3D), (crc.crc16_x25, 0x906E), (crc.crc16_xmodem, 0x31C3)],
)
def test_crc_check_values(function, expected) -> None:
    assert function(b"123456789") == expected


def test_catalogue_covers_tables_1_and_2() -> None:
    table1 = {"42.0.0", "96.1.1", "1.8.0", "2.8.0", "1.7.0", "2.7.0"} | {
        f"{c}.7.0" for c in (31, 32, 51, 52, 71, 72)
    }
    table2 = {"3.8.0", "4.8.0"} | {
        f"{c}.7.0" for c in (21, 41, 61, 22, 42, 62, 23, 43, 63, 24, 44, 64)
    }
    assert {e.code for e in obis.CATALOGUE if e.table == 1} == table1
    assert {e.code for e in obis.CATALOGUE if e.table == 2} == table2
    assert obis.BY_CODE["1.8.0"].unit == "kWh" and obis.BY_CODE["1.8.0"].counter
    assert obis.BY_CODE["23.7.0"].unit == "kvar"
    assert obis.BY_CODE["31.7.0"].decimals == 2
    assert obis.BY_CODE["32.7.0"].decimals == 0
    assert len({e.key for e in obis.CATALOGUE}) == len(obis.CATALOGUE)


def _reading() -> Reading:
    return Reading(
        timestamp=datetime(2025, 6, 27, 14, 5, 10, tzinfo=timezone(timedelta(hours=2))),
        meter_id="LGZ1030653520967",
        id_obis="42.0.0",
        values={"2.7.0": 0.0, "1.8.0": 12345.67, "1.7.0": 1.234},
    )


def test_chsmr_payload_is_chapter_6() -> None:
    payload = json.loads(chsmr.encode_payload(_reading()))
    assert payload == {
        "meter": {
            "ts": "2025-06-27T14:05:10+02:00",
            "42.0.0": "LGZ1030653520967",
            "1.8.0": 12345.67,
            "1.7.0": 1.234,
            "2.7.0": 0.0,
        }
    }


def test_chsmr_topic_is_sanitised() -> None:
    assert chsmr.topic_for("zev/haus a", "a/b+c#") == "dt/zev/haus a/a_b_c_/ds"
    assert chsmr.parse_topic("dt/zev/house/1234/ds") == ("zev/house", "1234")
    assert chsmr.parse_topic("tele/x/SENSOR") is None


def test_chsmr_round_trip() -> None:
    reading = _reading()
    back = chsmr.decode_payload(chsmr.encode_payload(reading))
    assert back == reading


@pytest.mark.parametrize(
    ("payload", "expected_ts", "expected_values"),
    [
        (
            '{"meter":{"ts":"2025-06-27T12:05:10Z","96.1.1":"X","1.8.0":5}}',
            "2025-06-27T12:05:10+00:00",
            {"1.8.0": 5.0},
        ),
        (
            '{"meter":{"ts":"2025-06-27T14:05:10+02:00","96.1.1":"X","99.9.9":1.5,"vendor":"x"},"meta":{}}',
            "2025-06-27T14:05:10+02:00",
            {"99.9.9": 1.5},
        ),
    ],
)
def test_chsmr_decode_is_tolerant(payload: str, expected_ts: str, expected_values: dict) -> None:
    reading = chsmr.decode_payload(payload)
    assert reading.timestamp.isoformat() == expected_ts
    assert dict(reading.values) == expected_values


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        '{"other": {}}',
        '{"meter": {"96.1.1": "X", "1.8.0": 1}}',
        '{"meter": {"ts": "2025-06-27T14:05:10", "96.1.1": "X"}}',
        '{"meter": {"ts": "2025-06-27T14:05:10Z", "96.1.1": "X", "1.8.0": "12"}}',
        '{"meter": {"ts": "2025-06-27T14:05:10Z", "1.8.0": 12}}',
    ],
)
def test_chsmr_decode_rejects_broken_messages(payload: str) -> None:
    with pytest.raises(ChSmrError):
        chsmr.decode_payload(payload)


def test_chsmr_source_in_watts() -> None:
    reading = chsmr.decode_payload(
        '{"meter":{"ts":"2025-06-27T14:05:10+02:00","96.1.1":"X","1.7.0":1234,"1.8.0":5000,"32.7.0":230}}',
        source_in_base_units=True,
    )
    assert dict(reading.values) == {"1.7.0": 1.234, "1.8.0": 5.0, "32.7.0": 230.0}


def test_parse_key() -> None:
    assert cipher.parse_key("00112233445566778899aabbccddeeff") == bytes.fromhex(
        "00112233445566778899AABBCCDDEEFF"
    )
    assert cipher.parse_key("00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF") is not None
    assert cipher.parse_key("") is None
    with pytest.raises(InvalidKey) as err:
        cipher.parse_key("00112233445566778899aabbccddeeXX")
    assert "XX" not in str(err.value)
    with pytest.raises(InvalidKey):
        cipher.parse_key("0011")


def _encrypt(sc: int, ek: bytes, ak: bytes, plaintext: bytes, counter: int = 1) -> bytes:
    title = b"LGZ\x01\x02\x03\x04\x05"
    iv = title + counter.to_bytes(4, "big")
    encryptor = Cipher(algorithms.AES(ek), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(bytes((sc,)) + ak)
    body = encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag[:12]
    content = bytes((sc,)) + counter.to_bytes(4, "big") + body
    return b"\xdb\x08" + title + b"\x82" + len(content).to_bytes(2, "big") + content


def test_gcm_decrypt_verifies_tag_and_detects_wrong_key() -> None:
    ek, ak = bytes(range(16)), bytes(range(16, 32))
    frame = _encrypt(0x30, ek, ak, b"\x0f\x00\x00\x00\x01hello")
    apdu, used = cipher.parse_general_glo_ciphering(frame)
    assert used == len(frame)
    result = cipher.decrypt(apdu, ek, ak)
    assert result.plaintext == b"\x0f\x00\x00\x00\x01hello" and result.authenticated
    with pytest.raises(DecryptionFailed) as err:
        cipher.decrypt(apdu, bytes(16), ak)
    assert "GUEK" in str(err.value)
    with pytest.raises(KeyRequired):
        cipher.decrypt(apdu, None, None)
    swapped = cipher.decrypt(apdu, ak, ek, try_swapped=True)
    assert swapped.keys_swapped and swapped.plaintext.endswith(b"hello")


def test_invocation_counter_guard() -> None:
    guard = cipher.InvocationCounterGuard()
    guard.check(b"T", 5)
    with pytest.raises(ReplayedFrame):
        guard.check(b"T", 5)
    with pytest.raises(ReplayedFrame):
        guard.check(b"T", 2)
    guard.check(b"T", 6)
    assert guard.rejected == 2

"""Every DLMS capture of ../shared/testdata/dlms_* decodes to what its MANIFEST says.

The expected values (tests/reader/dlms_corpus.py) are the MANIFEST's numbers after the meter
profile's scaling, in CH-SMR units, compared exactly. Each capture is fed line by line,
in one chunk, and byte by byte: the results must not depend on how the bytes arrive. gurux
is the oracle for the raw values before scaling.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from custom_components.ch_smart_meter.reader.dlms import cosem_time
from custom_components.ch_smart_meter.reader.errors import (
    DecryptionFailed,
    KeyRequired,
    ReplayedFrame,
)
from custom_components.ch_smart_meter.reader.model import (
    Reading,
    RejectedFrame,
    Standard,
)
from custom_components.ch_smart_meter.reader.spec import SWISS_TIME
from custom_components.ch_smart_meter.reader.standards import get_spec

from .dlms_corpus import (
    BY_ID,
    CAPTURES,
    Capture,
    all_capture_files,
    decode,
    gurux_notifications,
    normalise,
)

_IDS = [c.id for c in CAPTURES]


def _split(results: list) -> tuple[list[Reading], list[RejectedFrame]]:
    readings = [r for r in results if isinstance(r, Reading)]
    rejected = [r for r in results if isinstance(r, RejectedFrame)]
    assert len(readings) + len(rejected) == len(results)
    return readings, rejected


@pytest.mark.parametrize("capture", CAPTURES, ids=_IDS)
def test_capture_decodes_to_the_manifest_values(capture: Capture) -> None:
    readings, rejected = _split(decode(capture, capture.lines()))
    assert len(rejected) == len(capture.errors), [r.error.message for r in rejected]
    for result, error_type in zip(rejected, capture.errors, strict=True):
        assert isinstance(result.error, error_type), result.error.message
    assert len(readings) == len(capture.readings)
    for reading, expected in zip(readings, capture.readings, strict=True):
        assert reading.timestamp.isoformat() == expected.timestamp
        assert reading.time_source is expected.time_source
        got = {code: reading.values.get(code) for code in expected.values}
        assert got == expected.values
        if expected.meter_id is not None:
            assert (reading.meter_id, reading.id_obis) == (expected.meter_id, expected.id_obis)
        if expected.model is not None:
            assert reading.model == expected.model


@pytest.mark.parametrize("capture", CAPTURES, ids=_IDS)
def test_one_chunk_and_byte_by_byte_give_the_same_results(capture: Capture) -> None:
    lines = capture.lines()
    per_line = decode(capture, lines)
    stream = b"".join(lines)
    one_chunk = decode(capture, [stream])
    byte_by_byte = decode(capture, [stream[i : i + 1] for i in range(len(stream))])
    # Exceptions compare by identity: compare what they say, and the frames.
    expected = [_describe(r) for r in per_line]
    assert [_describe(r) for r in one_chunk] == expected
    assert [_describe(r) for r in byte_by_byte] == expected
    readings = [r for r in per_line if isinstance(r, Reading)]
    assert [r for r in byte_by_byte if isinstance(r, Reading)] == readings


def _describe(result: Reading | RejectedFrame) -> tuple[str, str, bytes]:
    if isinstance(result, Reading):
        return ("reading", repr(result), result.frame)
    return (type(result.error).__name__, result.error.message, result.frame)


@pytest.mark.parametrize(("folder", "name"), all_capture_files())
def test_every_capture_file_gives_a_reading_or_a_typed_rejection(folder: str, name: str) -> None:
    """Also the captures the table leaves out: never a crash, never silence."""
    capture = BY_ID.get(name.removesuffix(".hex")) or Capture(folder, name, _standard(folder))
    results = decode(capture, capture.lines())
    assert results
    for result in results:
        if isinstance(result, Reading):
            assert result.values or result.submeters
            assert result.timestamp.utcoffset() is not None
        else:
            assert result.error.reason


def _standard(folder: str) -> Standard:
    return Standard.KAMSTRUP_DLMS if folder == "dlms_kamstrup" else Standard.LG_MBUS


# --- gurux as the oracle of the raw values -------------------------------------------------

# Captures gurux cannot decode, and why (protocols.md 11.1 lists its pitfalls).
GURUX_CANNOT = {
    "amsreader__kaifa_gh180-2": "the push comes in an HDLC I frame (control 0x10), which "
    "gurux ignores outside a connection",
}


def _oracle_cases() -> list[Capture]:
    return [c for c in CAPTURES if c.readings]


@pytest.mark.parametrize("capture", _oracle_cases(), ids=[c.id for c in _oracle_cases()])
def test_raw_values_equal_gurux(capture: Capture) -> None:
    pytest.importorskip("gurux_dlms")
    lines = capture.lines()
    decoder = get_spec(capture.standard).create_decoder(capture.decoder_options())
    ours = []
    for line in lines:
        for result in decoder.feed(line):
            if isinstance(result, Reading):
                assert decoder.last_notification is not None
                ours.append(decoder.last_notification)
    theirs = gurux_notifications(lines, capture.key, capture.auth_key)
    if capture.id in GURUX_CANNOT:
        assert not theirs
        pytest.skip(GURUX_CANNOT[capture.id])
    # gurux also returns the incomplete first push of a capture; compare the complete ones.
    theirs = theirs[len(theirs) - len(ours) :]
    assert len(theirs) == len(ours)
    for notification, (body, time) in zip(ours, theirs, strict=True):
        assert normalise(notification.body) == normalise(body)
        if notification.date_time is None:
            assert time is None
            continue
        ours_time = cosem_time.parse_datetime(notification.date_time, SWISS_TIME)
        assert ours_time is not None and time is not None
        if time.tzinfo is None or time.utcoffset() is None:
            # gurux: "deviation not specified" gives a naive wall-clock time.
            assert ours_time.replace(tzinfo=None) == time
        else:
            assert ours_time == time


def test_the_table_covers_every_swiss_capture() -> None:
    swiss = {name for folder, name in all_capture_files() if name.startswith("scs__")}
    assert swiss <= {c.name for c in CAPTURES}


def test_timestamps_are_meter_local_time_never_the_hosts() -> None:
    """E450 headers have an unspecified deviation: Europe/Zurich, whatever TZ the host has."""
    capture = BY_ID["scs__lg_e450_plain_vse2026"]
    (reading,) = decode(capture, capture.lines())
    assert isinstance(reading, Reading)
    assert reading.timestamp == datetime(2026, 5, 4, 11, 39, 20, tzinfo=SWISS_TIME)
    assert reading.timestamp.utcoffset().total_seconds() == 7200  # type: ignore[union-attr]


@pytest.mark.parametrize(("folder", "name"), all_capture_files())
def test_every_notification_gurux_decodes_has_our_raw_values(folder: str, name: str) -> None:
    """Beyond the table: any notification both decode (with or without a reading) agrees."""
    pytest.importorskip("gurux_dlms")
    capture = BY_ID.get(name.removesuffix(".hex")) or Capture(folder, name, _standard(folder))
    lines = capture.lines()
    decoder = get_spec(capture.standard).create_decoder(capture.decoder_options())
    ours = []
    for line in lines:
        before = decoder.last_notification
        decoder.feed(line)
        if decoder.last_notification is not before:
            ours.append(decoder.last_notification)
    theirs = gurux_notifications(lines, capture.key, capture.auth_key)
    if not ours or not theirs:
        pytest.skip("no notification decoded by " + ("this library" if not ours else "gurux"))
    theirs = theirs[len(theirs) - len(ours) :]
    assert [normalise(n.body) for n in ours] == [normalise(body) for body, _ in theirs]


_KEYED = [c for c in CAPTURES if c.key and c.readings]


@pytest.mark.parametrize("capture", _KEYED, ids=[c.id for c in _KEYED])
def test_real_captures_with_a_wrong_key(capture: Capture) -> None:
    """Tag or no tag: a wrong key is a decryption failure, never a malformed frame."""
    wrong = bytes(reversed(bytes.fromhex(capture.key or "")))
    results = decode(capture, capture.lines(), encryption_key=wrong)
    errors = [r.error for r in results if isinstance(r, RejectedFrame)]
    assert errors and all(type(e) is DecryptionFailed for e in errors), errors
    assert not any(isinstance(r, Reading) for r in results)
    if capture.auth_key:
        results = decode(capture, capture.lines(), authentication_key=bytes(16))
        (error,) = [r.error for r in results if isinstance(r, RejectedFrame)]
        assert isinstance(error, DecryptionFailed)
        assert "authentication key (GAK) does not match" in error.message


@pytest.mark.parametrize("capture", _KEYED, ids=[c.id for c in _KEYED])
def test_real_encrypted_captures_without_a_key(capture: Capture) -> None:
    results = decode(capture, capture.lines(), encryption_key=None, authentication_key=None)
    assert results and all(
        isinstance(r, RejectedFrame) and isinstance(r.error, KeyRequired) for r in results
    )


def test_a_real_capture_replayed_is_dropped() -> None:
    capture = BY_ID["esphome_dlmsparser__lg_e450_gbt_encrypted_1"]
    stream = b"".join(capture.lines())
    first, second = decode(capture, [stream, stream])
    assert isinstance(first, Reading)
    assert isinstance(second, RejectedFrame) and isinstance(second.error, ReplayedFrame)

"""Encrypted P1 telegrams: the Luxembourg Smarty envelope (and Sagemcom T210-D-R).

The two .hex captures of ../shared/testdata/dsmr are read in place; their keys are the
published test keys the MANIFEST gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from custom_components.ch_smart_meter.reader.dlms.cipher import SMARTY_AUTHENTICATION_KEY
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    DecryptionFailed,
    KeyRequired,
    KeyRole,
    MalformedFrame,
    ReplayedFrame,
    TruncatedFrame,
)
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (
    encode_telegram,
    encrypt_smarty,
)
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from tests.conftest import testdata_dir as capture_folder

WRONG_KEY = bytes.fromhex("0F0E0D0C0B0A09080706050403020100")


@dataclass(frozen=True)
class Envelope:
    file: str
    key: str
    plaintext: str  # the capture holding the decrypted telegram
    timestamp: str
    values: dict[str, str]
    meter_id: str
    id_obis: str
    variant: str


ENVELOPES = (
    Envelope(
        "nexxtlab__smarty_lu_sagemcom_encrypted.hex",
        "D491470F47126332B07D1923B3504188",
        "nexxtlab__smarty_lu_sagemcom_decrypted.txt",
        "2018-01-30T10:21:22+01:00",
        {"1.8.0": "6.695", "2.8.0": "0.025", "1.7.0": "0", "2.7.0": "0", "3.8.0": "0.818"},
        "SAG1030700114004",
        "42.0.0",
        "smarty_encrypted",
    ),
    Envelope(
        "arduino_dsmr2__synthetic_encrypted_sagemcom_t210dr.hex",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "dsmr_parser__telegram_sagemcom_t210_d_r.txt",
        "2022-10-06T15:50:14+02:00",
        {"1.8.0": "6545.766", "1.8.1": "5017.120", "2.8.0": "0.058", "1.7.0": "0.286"},
        "EST5\\253710000_A",
        "96.1.1",
        "austria",
    ),
)
IDS = [envelope.file for envelope in ENVELOPES]


def _frame(envelope: Envelope) -> bytes:
    text = (capture_folder("dsmr") / envelope.file).read_text()
    return bytes.fromhex("".join(text.split()))


def _decoder(key: bytes | None, authentication_key: bytes | None = None) -> DsmrDecoder:
    return DsmrDecoder(
        DecoderOptions(
            encryption_key=key,
            authentication_key=authentication_key,
            clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


def _assert_keys_absent(rejected: RejectedFrame, *keys: bytes) -> None:
    text = f"{rejected.error.message} {rejected!r} {rejected.error!r}".lower()
    for key in keys:
        assert key.hex() not in text


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["one-chunk", "byte-by-byte"])
@pytest.mark.parametrize("envelope", ENVELOPES, ids=IDS)
def test_envelope_decrypts_to_the_plaintext_values(envelope: Envelope, byte_by_byte: bool) -> None:
    """With the key, the tag verifies and the telegram inside decodes exactly."""
    frame = _frame(envelope)
    decoder = _decoder(bytes.fromhex(envelope.key))
    stream = b"\r\nnoise\r\n" + frame + b"\r\n"
    chunks = [bytes((byte,)) for byte in stream] if byte_by_byte else [stream]
    results = [result for chunk in chunks for result in decoder.feed(chunk)] + decoder.flush()

    assert len(results) == 1
    reading = results[0]
    assert isinstance(reading, Reading), reading
    assert reading.timestamp.isoformat() == envelope.timestamp
    for code, text in envelope.values.items():
        assert reading.values[code] == float(Decimal(text)), code
    assert (reading.meter_id, reading.id_obis) == (envelope.meter_id, envelope.id_obis)
    assert reading.manufacturer == "Sagemcom"
    assert reading.frame == frame  # what arrived: the envelope
    assert decoder.variant is not None and decoder.variant.id == envelope.variant


@pytest.mark.parametrize("envelope", ENVELOPES, ids=IDS)
def test_envelope_gives_what_its_plaintext_gives(envelope: Envelope) -> None:
    """The decrypted reading equals the reading of the plaintext capture."""
    (encrypted,) = _decoder(bytes.fromhex(envelope.key)).feed(_frame(envelope))
    plain_decoder = _decoder(None)
    (plain,) = plain_decoder.feed((capture_folder("dsmr") / envelope.plaintext).read_bytes())
    assert isinstance(encrypted, Reading) and isinstance(plain, Reading)
    assert encrypted.values == plain.values
    assert (encrypted.timestamp, encrypted.meter_id) == (plain.timestamp, plain.meter_id)


@pytest.mark.parametrize("envelope", ENVELOPES, ids=IDS)
def test_no_key(envelope: Envelope) -> None:
    (rejected,) = _decoder(None).feed(_frame(envelope))
    assert isinstance(rejected, RejectedFrame)
    assert isinstance(rejected.error, KeyRequired)
    assert rejected.frame == _frame(envelope)


@pytest.mark.parametrize("envelope", ENVELOPES, ids=IDS)
def test_wrong_key(envelope: Envelope) -> None:
    """A wrong encryption key: the tag does not verify; the message names both keys and
    never contains key material."""
    (rejected,) = _decoder(WRONG_KEY).feed(_frame(envelope))
    assert isinstance(rejected, RejectedFrame)
    assert isinstance(rejected.error, DecryptionFailed)
    assert "encryption key (GUEK)" in rejected.error.message
    assert "authentication key (GAK)" in rejected.error.message
    assert "is wrong" not in rejected.error.message  # not blamed on the GAK alone
    assert rejected.frame == _frame(envelope)
    _assert_keys_absent(rejected, WRONG_KEY, bytes.fromhex(envelope.key))


@pytest.mark.parametrize("envelope", ENVELOPES, ids=IDS)
def test_wrong_authentication_key_is_named(envelope: Envelope) -> None:
    """Right encryption key, wrong authentication key: the telegram decrypts without its
    tag, so the message says that the authentication key is the wrong one."""
    key = bytes.fromhex(envelope.key)
    (rejected,) = _decoder(key, WRONG_KEY).feed(_frame(envelope))
    assert isinstance(rejected, RejectedFrame)
    assert isinstance(rejected.error, DecryptionFailed)
    assert "the authentication key (GAK) is wrong" in rejected.error.message
    assert rejected.error.wrong_key is KeyRole.AUTHENTICATION
    _assert_keys_absent(rejected, key, WRONG_KEY)


@pytest.mark.parametrize("envelope", ENVELOPES, ids=IDS)
def test_replayed_frame(envelope: Envelope) -> None:
    """The same frame twice: the second is a replay."""
    decoder = _decoder(bytes.fromhex(envelope.key))
    first, second = decoder.feed(_frame(envelope) * 2)
    assert isinstance(first, Reading)
    assert isinstance(second, RejectedFrame)
    assert isinstance(second.error, ReplayedFrame)
    assert second.frame == _frame(envelope)


def test_default_authentication_key_is_the_smarty_constant() -> None:
    """Without an authentication key the public Smarty key is used (and verifies)."""
    envelope = ENVELOPES[0]
    (reading,) = _decoder(bytes.fromhex(envelope.key), None).feed(_frame(envelope))
    assert isinstance(reading, Reading)
    (reading,) = _decoder(bytes.fromhex(envelope.key), SMARTY_AUTHENTICATION_KEY).feed(
        _frame(envelope)
    )
    assert isinstance(reading, Reading)


def test_tampered_ciphertext_fails_the_tag() -> None:
    """One flipped ciphertext bit: the tag check catches it (not the CRC)."""
    envelope = ENVELOPES[0]
    frame = bytearray(_frame(envelope))
    frame[100] ^= 0x01
    (rejected,) = _decoder(bytes.fromhex(envelope.key)).feed(bytes(frame))
    assert isinstance(rejected, RejectedFrame)
    assert isinstance(rejected.error, DecryptionFailed)


# --- simulated envelopes ---------------------------------------------------------------

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
TITLE = b"SAG\x10\x20\x30\x40\x50"
MOMENT = datetime.fromisoformat("2026-07-01T12:00:00+02:00")


def _telegram(energy: str = "1234.567", identification: str = "Lux5\\253663629_D") -> bytes:
    return encode_telegram(
        {"1.8.0": energy, "2.8.0": "1.5", "1.7.0": "0.4", "2.7.0": "0"},
        timestamp=MOMENT,
        identification=identification,
    )


def test_increasing_counters_pass_and_old_ones_are_replays() -> None:
    decoder = _decoder(KEY)
    frames = [encrypt_smarty(_telegram(f"{100 + n}.000"), KEY, TITLE, 1000 + n) for n in range(4)]
    results = decoder.feed(b"".join(frames) + frames[1])
    assert [type(result) for result in results] == [Reading] * 4 + [RejectedFrame]
    assert [r.values["1.8.0"] for r in results[:4]] == [100.0, 101.0, 102.0, 103.0]
    assert isinstance(results[4], RejectedFrame)
    assert isinstance(results[4].error, ReplayedFrame)


def test_a_rejected_frame_does_not_advance_the_counter() -> None:
    """A frame that fails (wrong key) cannot lock out the meter's next frames."""
    decoder = _decoder(KEY)
    forged = encrypt_smarty(_telegram(), WRONG_KEY, TITLE, 5000)
    genuine = encrypt_smarty(_telegram(), KEY, TITLE, 10)
    results = decoder.feed(forged + genuine)
    assert isinstance(results[0], RejectedFrame)
    assert isinstance(results[1], Reading)


def test_plaintext_with_a_bad_crc_inside_a_valid_envelope() -> None:
    telegram = bytearray(_telegram())
    telegram[telegram.index(b"1234.567")] = ord("9")
    (rejected,) = _decoder(KEY).feed(encrypt_smarty(bytes(telegram), KEY, TITLE, 1))
    assert isinstance(rejected, RejectedFrame)
    assert isinstance(rejected.error, CrcError)


def test_envelope_that_does_not_hold_a_telegram() -> None:
    (rejected,) = _decoder(KEY).feed(encrypt_smarty(b"\x00\x01 not DSMR", KEY, TITLE, 1))
    assert isinstance(rejected, RejectedFrame)
    assert isinstance(rejected.error, DecryptionFailed)


def test_cut_off_envelope_is_truncated_at_the_end_of_input() -> None:
    frame = encrypt_smarty(_telegram(), KEY, TITLE, 1)
    decoder = _decoder(KEY)
    assert decoder.feed(frame[:-10]) == []
    (rejected,) = decoder.flush()
    assert isinstance(rejected, RejectedFrame)
    assert isinstance(rejected.error, TruncatedFrame)
    assert rejected.frame == frame[:-10]


def test_envelopes_and_telegrams_mixed_in_one_stream() -> None:
    """A stream may carry both: each is recognised; a '/' inside the ciphertext does not
    start a telegram."""
    telegrams = [_telegram(f"{n}.000") for n in range(1, 6)]
    frames = [encrypt_smarty(t, KEY, TITLE, n) for n, t in enumerate(telegrams, 1)]
    stream = b"".join(
        frame + b"\r\n" + telegram + b"\r\n"
        for frame, telegram in zip(frames, telegrams, strict=True)
    )
    for chunks in ([stream], [stream[i : i + 7] for i in range(0, len(stream), 7)]):
        decoder = _decoder(KEY)
        results = [r for chunk in chunks for r in decoder.feed(chunk)] + decoder.flush()
        assert all(isinstance(r, Reading) for r in results), results
        assert [r.values["1.8.0"] for r in results] == [
            1.0,
            1.0,
            2.0,
            2.0,
            3.0,
            3.0,
            4.0,
            4.0,
            5.0,
            5.0,
        ]


def test_short_length_forms_are_framed() -> None:
    """Envelopes with a one-byte (and 0x81) A-XDR length are framed by that length too."""
    short = encrypt_smarty(b"/X", KEY, TITLE, 1)  # 2-byte plaintext
    content = short[13:]
    one_byte = short[:10] + bytes((len(content),)) + content
    with_81 = short[:10] + b"\x81" + bytes((len(content),)) + content
    decoder = _decoder(KEY)
    results = decoder.feed(one_byte + with_81)
    # Both framed (and decrypted: "/X" is not a telegram, so each is rejected on its own).
    assert len(results) == 2
    assert all(isinstance(r, RejectedFrame) for r in results)
    assert [r.frame for r in results if isinstance(r, RejectedFrame)] == [one_byte, with_81]
    assert all(
        isinstance(r.error, (MalformedFrame, DecryptionFailed))
        for r in results
        if isinstance(r, RejectedFrame)
    )

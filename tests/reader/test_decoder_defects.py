"""Three decoder defects found by fuzzing and in the field, each pinned by a test.

* A wrong energy total accepted from DSMR: line noise turned one character into ``!`` and
  the telegram was taken, cut at it, as a checksum-less DSMR 2.2/3 telegram.
* A damaged frame takes its neighbours with it: a cut Smarty envelope (or a raw APDU)
  waited for bytes that never came and swallowed the start of the next good frame.
* A push assembled from two pushes: the first block of one L&G E450 push and the later
  blocks of the next gave a reading with the first push's time and the second's values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    DecryptionFailed,
    MalformedFrame,
    TruncatedFrame,
)
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (
    encode_telegram,
    encrypt_smarty,
)
from custom_components.ch_smart_meter.reader.spec import DecoderOptions

WINTER = timezone(timedelta(hours=1))
HOST_TIME = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
TITLE = b"SAG" + bytes(5)


class FakeArrival:
    """A monotonic clock the test moves: when each chunk arrives."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _dsmr(chunks: list[bytes], **options: Any) -> list[Reading | RejectedFrame]:
    decoder = DsmrDecoder(DecoderOptions(clock=lambda: HOST_TIME, **options))
    return [r for chunk in chunks for r in decoder.feed(chunk)] + decoder.flush()


def _both_ways(stream: bytes, **options: Any) -> list[Reading | RejectedFrame]:
    """Decode in one chunk and byte by byte; both must agree (the framing is chunk-proof)."""
    one = _dsmr([stream], **options)
    by_byte = _dsmr([stream[i : i + 1] for i in range(len(stream))], **options)
    assert [_describe(r) for r in by_byte] == [_describe(r) for r in one]
    return one


def _describe(result: Reading | RejectedFrame) -> tuple[str, Any]:
    if isinstance(result, Reading):
        return ("reading", dict(result.values))
    return (type(result.error).__name__, result.frame)


def _telegram(tariff_1: str, tariff_2: str, **kwargs: Any) -> bytes:
    return encode_telegram(
        {"1.8.1": tariff_1, "1.8.2": tariff_2, "1.7.0": "0.5"},
        timestamp=datetime(2026, 1, 15, 9, 0, tzinfo=WINTER),
        **kwargs,
    )


# --- A wrong energy total accepted from DSMR -------------------------------------------


def _stray_bang(telegram: bytes) -> bytes:
    """``1-0:1.8.2`` read ``1-0:1.!.2``, and the real end damaged by the same burst."""
    damaged = telegram.replace(b"1-0:1.8.2", b"1-0:1.!.2")
    end = damaged.rindex(b"!")
    return damaged[:end] + b"?" + damaged[end + 1 :]


def test_a_stray_bang_does_not_cut_a_telegram_into_a_legacy_one() -> None:
    good = [_telegram(f"{n}00.000", f"{n}0.000") for n in (1, 2, 3)]
    stream = good[0] + _stray_bang(_telegram("400.000", "40.000")) + good[1] + good[2]
    results = _both_ways(stream)
    readings = [r for r in results if isinstance(r, Reading)]
    assert [r.values["1.8.0"] for r in readings] == [110.0, 220.0, 330.0]
    assert all(r.values["1.8.0"] != 400.0 for r in readings)  # never tariff 1 alone
    assert len(results) == 4
    assert isinstance(results[1], RejectedFrame)


def _bang_before_line_end(telegram: bytes) -> bytes:
    """A burst wrote ``!`` CR LF over the start of the 1.8.2 line: the telegram then ends
    as a DSMR 2.2/3 telegram ends, right after tariff 1."""
    start = telegram.index(b"1-0:1.8.2(")
    return telegram[:start] + b"!\r\n" + telegram[start + 3 :]


def test_a_meter_that_sends_crcs_never_gets_a_telegram_accepted_without() -> None:
    """Even one that ends like a DSMR 2.2/3 telegram and has no version line."""
    kwargs = {"version": None}
    stream = (
        _telegram("100.000", "10.000", **kwargs)
        + _bang_before_line_end(_telegram("200.000", "20.000", **kwargs))
        + _telegram("300.000", "30.000", **kwargs)
    )
    results = _both_ways(stream)
    assert [_describe(r)[0] for r in results] == ["reading", "CrcError", "reading"]
    assert [r.values["1.8.0"] for r in results if isinstance(r, Reading)] == [110.0, 330.0]
    assert isinstance(results[1], RejectedFrame)
    assert "carry a CRC" in results[1].error.message


def test_a_dsmr_4_or_5_version_line_says_the_telegram_needs_a_crc() -> None:
    """The first telegram of a stream, cut by a stray ``!``: its version line (50) says
    that this meter sends CRCs."""
    results = _both_ways(_bang_before_line_end(_telegram("200.000", "20.000")))
    (rejected,) = results
    assert isinstance(rejected, RejectedFrame) and isinstance(rejected.error, CrcError)
    assert "version 50" in rejected.error.message


def test_without_crc_only_a_telegram_that_ends_in_bang_cr_lf() -> None:
    legacy = _telegram("1.000", "2.000", version=None, crc=False)
    assert legacy.endswith(b"!\r\n")
    (reading,) = _both_ways(legacy)
    assert isinstance(reading, Reading) and reading.values["1.8.0"] == 3.0
    for ending in (b"!\n", b"!\r", b"! \r\n", b"!x\r\n", b"!"):
        results = _both_ways(legacy[:-3] + ending + _telegram("5.000", "6.000", version=None))
        assert isinstance(results[0], RejectedFrame), ending
        assert isinstance(results[0].error, MalformedFrame | TruncatedFrame), ending
        assert isinstance(results[-1], Reading) and results[-1].values["1.8.0"] == 11.0


def test_a_legacy_meter_keeps_being_read() -> None:
    legacy = [_telegram(f"{n}.000", "1.000", version=None, crc=False) for n in range(1, 6)]
    results = _both_ways(b"".join(legacy))
    assert [r.values["1.8.0"] for r in results if isinstance(r, Reading)] == [2, 3, 4, 5, 6]


def test_a_legacy_meter_that_turns_out_to_send_crcs() -> None:
    """Once a valid CRC came, the meter is one that sends CRCs."""
    stream = (
        _telegram("1.000", "1.000", version=None, crc=False)
        + _telegram("2.000", "1.000", version=None)
        + _telegram("3.000", "1.000", version=None, crc=False)
    )
    assert [_describe(r)[0] for r in _both_ways(stream)] == ["reading", "reading", "CrcError"]


# --- A damaged frame takes its neighbours with it -----------------------------------------


def _envelopes(count: int) -> list[bytes]:
    return [
        encrypt_smarty(_telegram(f"{n}.000", "0.000"), KEY, TITLE, 100 + n)
        for n in range(1, count + 1)
    ]


@pytest.mark.parametrize("cut", [20, 200, 400])
def test_a_cut_envelope_costs_only_itself(cut: int) -> None:
    frames = _envelopes(5)
    stream = frames[0] + frames[1][:cut] + frames[2] + frames[3] + frames[4]
    results = _both_ways(stream, encryption_key=KEY)
    readings = [r.values["1.8.1"] for r in results if isinstance(r, Reading)]
    assert readings == [1.0, 3.0, 4.0, 5.0]
    assert len(results) == 5  # the cut envelope is reported once


def test_a_cut_envelope_at_the_end_of_input_releases_the_frames_inside_its_span() -> None:
    """The length field claims more than ever comes: the frames inside are not lost."""
    (envelope,) = _envelopes(1)
    short = _telegram("7.000", "0.000", status_lines=False)
    assert len(envelope) > 50 + len(short)
    results = _both_ways(envelope[:50] + short, encryption_key=KEY)
    assert [_describe(r)[0] for r in results] == ["TruncatedFrame", "reading"]
    assert [r.values["1.8.1"] for r in results if isinstance(r, Reading)] == [7.0]


def test_a_cut_envelope_completed_by_the_next_one() -> None:
    frames = _envelopes(3)
    results = _both_ways(frames[0][:50] + frames[1] + frames[2][:30], encryption_key=KEY)
    assert [_describe(r)[0] for r in results] == ["DecryptionFailed", "reading", "TruncatedFrame"]


def test_an_envelope_whose_length_grew_does_not_swallow_the_next_telegrams() -> None:
    frames = _envelopes(3)
    grown = bytearray(frames[0])
    grown[11] += 2  # the 2-byte length: 512 bytes more
    stream = bytes(grown) + frames[1] + _telegram("7.000", "0.000") + frames[2]
    results = _both_ways(stream, encryption_key=KEY)
    assert isinstance(results[0], RejectedFrame)
    assert isinstance(results[0].error, DecryptionFailed | TruncatedFrame)
    assert [r.values["1.8.1"] for r in results if isinstance(r, Reading)] == [2.0, 7.0, 3.0]


def test_a_telegram_with_a_bad_crc_costs_only_itself() -> None:
    telegrams = [_telegram(f"{n}.000", "0.000") for n in range(1, 5)]
    bad = bytearray(telegrams[1])
    bad[40] ^= 0x01
    results = _both_ways(telegrams[0] + bytes(bad) + telegrams[2] + telegrams[3])
    assert [_describe(r)[0] for r in results] == ["reading", "CrcError", "reading", "reading"]


def test_silence_ends_a_cut_envelope_at_once() -> None:
    """Live, the next envelope is not held back until the cut one's span is full."""
    frames = _envelopes(2)
    arrival = FakeArrival()
    decoder = DsmrDecoder(DecoderOptions(encryption_key=KEY, arrival_clock=arrival))
    assert decoder.feed(frames[0][:100]) == []
    arrival.now += 10.0  # a Smarty meter sends every 10 s
    results = decoder.feed(frames[1])
    assert [_describe(r)[0] for r in results] == ["TruncatedFrame", "reading"]

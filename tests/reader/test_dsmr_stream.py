"""The P1 DSMR decoder on streams: random telegrams from the encoder, line noise, any
chunking, cut-off and oversized frames."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest

from custom_components.ch_smart_meter.reader.crc import crc16_arc
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    MalformedFrame,
    TruncatedFrame,
)
from custom_components.ch_smart_meter.reader.framing.dsmr import MAX_FRAME, DsmrFramer
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame, TimeSource
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (
    STATUS_COUNTERS,
    encode_telegram,
    encrypt_smarty,
)
from custom_components.ch_smart_meter.reader.spec import DecoderOptions

SUMMER = timezone(timedelta(hours=2))
WINTER = timezone(timedelta(hours=1))
HOST_TIME = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    """One simulated telegram and what it must decode to."""

    telegram: bytes
    values: dict[str, float]
    timestamp: datetime
    meter_id: str


def _milli(rng: random.Random, top: int) -> Decimal:
    return Decimal(rng.randrange(0, top)).scaleb(-3)


def random_case(rng: random.Random) -> Case:
    """A random DSMR 5.0.2 telegram: one or three phases, import and export, S or W."""
    phases = (1, 2, 3) if rng.random() < 0.7 else (1,)
    given: dict[str, Decimal] = {
        "1.8.1": _milli(rng, 10**9),
        "1.8.2": _milli(rng, 10**9),
        "2.8.1": _milli(rng, 10**9),
        "2.8.2": _milli(rng, 10**9),
        "1.7.0": _milli(rng, 10**5),
        "2.7.0": _milli(rng, 10**5),
    }
    for phase in phases:
        c = {1: 0, 2: 20, 3: 40}[phase]
        given[f"{32 + c}.7.0"] = Decimal(rng.randrange(1900, 2550)).scaleb(-1)
        given[f"{31 + c}.7.0"] = Decimal(rng.randrange(0, 64))  # integer amps (5.0.2)
        given[f"{21 + c}.7.0"] = _milli(rng, 10**5)
        given[f"{22 + c}.7.0"] = _milli(rng, 10**5)
    if rng.random() < 0.3:  # some meters also send totals and reactive registers
        given["1.8.0"] = _milli(rng, 10**9)  # not the sum: what the meter sends wins
        given["2.8.0"] = _milli(rng, 10**9)
        given["3.8.0"] = _milli(rng, 10**9)
        given["4.8.0"] = _milli(rng, 10**9)
        given["3.7.0"] = _milli(rng, 10**5)
        given["4.7.0"] = _milli(rng, 10**5)
    summer = rng.random() < 0.5
    moment = datetime(
        rng.randrange(2001, 2099),
        rng.randrange(1, 13),
        rng.randrange(1, 29),
        rng.randrange(0, 24),
        rng.randrange(0, 60),
        rng.randrange(0, 60),
        tzinfo=SUMMER if summer else WINTER,
    )
    meter_id = "E" + "".join(rng.choice("0123456789ABCDEF") for _ in range(rng.randrange(8, 17)))
    tariff = rng.choice((1, 2))
    status_lines = rng.random() < 0.5
    telegram = encode_telegram(
        given,
        timestamp=moment,
        equipment_id=meter_id,
        tariff=tariff,
        status_lines=status_lines,
        gas_m3=_milli(rng, 10**8) if rng.random() < 0.3 else None,
    )
    expected = {code: float(value) for code, value in given.items()}
    expected["96.14.0"] = float(tariff)
    if status_lines:
        expected |= {code: float(count) for code, count in STATUS_COUNTERS.items()}
    expected.setdefault("1.8.0", float(given["1.8.1"] + given["1.8.2"]))
    expected.setdefault("2.8.0", float(given["2.8.1"] + given["2.8.2"]))
    return Case(telegram, expected, moment, meter_id)


_QUIET_NOISE = bytes(b for b in range(256) if b not in (0x2F, 0xDB))  # no "/", no 0xDB


def _noise(rng: random.Random, alphabet: bytes) -> bytes:
    return bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))


def _stream(cases: list[Case], rng: random.Random, alphabet: bytes = _QUIET_NOISE) -> bytes:
    return b"".join(_noise(rng, alphabet) + case.telegram for case in cases) + _noise(rng, alphabet)


def _chunks(data: bytes, mode: str, rng: random.Random) -> list[bytes]:
    if mode == "one-chunk":
        return [data]
    if mode == "byte-by-byte":
        return [data[i : i + 1] for i in range(len(data))]
    if mode == "at-frame-starts":  # as a P1 port hands them over: the framer's shortcut
        cuts = [0, *(i for i in range(1, len(data)) if data[i] in b"/\xdb"), len(data)]
        return [data[a:b] for a, b in pairwise(cuts)]
    pieces, start = [], 0
    while start < len(data):
        size = rng.randrange(1, 400)
        pieces.append(data[start : start + size])
        start += size
    return pieces


def _run(chunks: list[bytes], **options: Any) -> list[Any]:
    decoder = DsmrDecoder(DecoderOptions(clock=lambda: HOST_TIME, **options))
    return [result for chunk in chunks for result in decoder.feed(chunk)] + decoder.flush()


def _summary(result: Any) -> tuple[Any, ...]:
    if isinstance(result, Reading):
        return ("reading", dict(result.values), result.timestamp.isoformat(), result.meter_id)
    return ("rejected", type(result.error).__name__, result.frame)


MODES = ("one-chunk", "byte-by-byte", "random-chunks", "at-frame-starts")


@pytest.mark.parametrize("mode", MODES)
def test_random_telegrams_in_line_noise_decode_exactly(mode: str) -> None:
    rng = random.Random(20260501)
    cases = [random_case(rng) for _ in range(60)]
    stream = _stream(cases, rng)
    results = _run(_chunks(stream, mode, rng))

    assert all(isinstance(result, Reading) for result in results), [
        _summary(r) for r in results if not isinstance(r, Reading)
    ]
    assert len(results) == len(cases)
    for case, reading in zip(cases, results, strict=True):
        assert isinstance(reading, Reading)
        assert dict(reading.values) == case.values
        assert reading.timestamp.isoformat() == case.timestamp.isoformat()  # offset too
        assert reading.time_source is TimeSource.METER
        assert (reading.meter_id, reading.id_obis) == (case.meter_id, "96.1.1")
        assert reading.frame == case.telegram.rstrip(b"\r\n")


def test_chunking_never_changes_the_results() -> None:
    """Any noise (with stray '/'), any chunking: the same results in the same order."""
    rng = random.Random(7)
    cases = [random_case(rng) for _ in range(30)]
    noisy = bytes(b for b in range(256) if b != 0xDB)
    stream = _stream(cases, rng, noisy)
    reference = [_summary(r) for r in _run([stream])]
    for mode in ("byte-by-byte", "random-chunks", "at-frame-starts"):
        assert [_summary(r) for r in _run(_chunks(stream, mode, rng))] == reference
    # Every telegram still decodes, in order; the noise only adds rejections.
    readings = [s for s in reference if s[0] == "reading"]
    assert [s[1] for s in readings] == [case.values for case in cases]
    assert {s[1] for s in reference if s[0] == "rejected"} <= {
        "TruncatedFrame",
        "CrcError",
        "MalformedFrame",
    }


@pytest.mark.parametrize("mode", MODES)
def test_one_corrupted_digit_rejects_only_that_telegram(mode: str) -> None:
    rng = random.Random(99)
    cases = [random_case(rng) for _ in range(9)]
    bad = bytearray(cases[4].telegram)
    position = bad.index(b"1-0:1.7.0(") + len("1-0:1.7.0(") + 1
    bad[position] = ord("0") + (bad[position] - ord("0") + 1) % 10
    cases[4] = Case(bytes(bad), {}, cases[4].timestamp, cases[4].meter_id)
    results = _run(_chunks(_stream(cases, rng), mode, rng))

    assert len(results) == len(cases)
    for index, (case, result) in enumerate(zip(cases, results, strict=True)):
        if index == 4:
            assert isinstance(result, RejectedFrame)
            assert isinstance(result.error, CrcError)
            assert "given" in result.error.message and "computed" in result.error.message
            assert result.frame == case.telegram.rstrip(b"\r\n")
        else:
            assert isinstance(result, Reading) and dict(result.values) == case.values


# --- framing edge cases ----------------------------------------------------------------


def _telegram(energy: str = "1.000") -> bytes:
    return encode_telegram(
        {"1.8.1": energy, "1.8.2": "2", "1.7.0": "0.5"},
        timestamp=datetime(2026, 1, 15, 9, 0, tzinfo=WINTER),
    )


@pytest.mark.parametrize("mode", ("one-chunk", "byte-by-byte"))
def test_new_start_before_the_end_reports_truncated(mode: str) -> None:
    first, second = _telegram("1"), _telegram("2")
    cut = first[: len(first) // 2]
    results = _run(_chunks(cut + second, mode, random.Random(1)))
    assert isinstance(results[0], RejectedFrame)
    assert isinstance(results[0].error, TruncatedFrame)
    assert results[0].frame == cut
    assert isinstance(results[1], Reading) and results[1].values["1.8.1"] == 2.0
    assert len(results) == 2


def test_envelope_start_inside_a_telegram_reports_truncated() -> None:
    key, title = bytes(16), b"SAGxxxxx"
    envelope = encrypt_smarty(_telegram("3"), key, title, 7)
    cut = _telegram("1")[:100]
    for chunks in ([cut + envelope], [bytes((b,)) for b in cut + envelope]):
        results = _run(chunks, encryption_key=key)
        assert [type(r) for r in results] == [RejectedFrame, Reading]
        assert isinstance(results[0], RejectedFrame)
        assert isinstance(results[0].error, TruncatedFrame)
        assert results[0].frame == cut


@pytest.mark.parametrize("mode", ("one-chunk", "byte-by-byte", "random-chunks"))
def test_oversized_telegram_is_malformed_and_the_stream_recovers(mode: str) -> None:
    endless = b"/XXX5 endless\r\n" + b"0-0:96.13.0(" + b"41" * MAX_FRAME
    results = _run(_chunks(endless + b")\r\n" + _telegram("4"), mode, random.Random(3)))
    assert isinstance(results[0], RejectedFrame)
    assert isinstance(results[0].error, MalformedFrame)
    assert len(results[0].frame) == MAX_FRAME
    assert isinstance(results[-1], Reading) and results[-1].values["1.8.1"] == 4.0
    assert len(results) == 2


def _unpadded_telegram() -> bytes:
    """A telegram whose CRC is below 0x1000, written with three digits (no zero padding)."""
    for serial in range(100000):
        body = f"/ABC5 test\r\n\r\n0-0:96.1.1({serial:08d})\r\n1-0:1.8.1(000001.000*kWh)\r\n!"
        crc = crc16_arc(body.encode())
        if crc < 0x1000:
            return body.encode() + f"{crc:X}".encode()
    raise AssertionError("no short CRC found")


def test_unpadded_crc_split_over_chunks_and_at_the_end() -> None:
    """A 3-digit CRC: the telegram is complete once a non-hex byte follows, or at the end
    of input; never cut short when the CRC arrives in pieces."""
    telegram = _unpadded_telegram()
    framer = DsmrFramer()
    assert framer.feed(telegram) == []  # a fourth digit may still come
    assert framer.flush() == [telegram]
    assert framer.feed(telegram[:-1]) == []
    assert framer.feed(telegram[-1:]) == []
    assert framer.feed(b"\r\n") == [telegram]
    for tail in (b"", b"\r\n", b"\r\n" + _telegram("9")):
        readings = _run([telegram + tail])
        assert isinstance(readings[0], Reading) and readings[0].values["1.8.1"] == 1.0
        assert len(readings) == (2 if tail.endswith(b"\n") and len(tail) > 2 else 1)


def test_last_telegram_without_line_end_is_not_held_back() -> None:
    """Four CRC digits end a telegram: no need to wait for CRLF or the next telegram."""
    telegram = _telegram("5").rstrip(b"\r\n")
    decoder = DsmrDecoder(DecoderOptions())
    (reading,) = decoder.feed(telegram)
    assert isinstance(reading, Reading)
    assert decoder.flush() == []


def test_legacy_telegram_followed_directly_by_the_next() -> None:
    """A DSMR 2.2/3 telegram ends with "!" CR LF: one cut right after its "!" cannot be
    told from one cut at a "!" written by line noise, and is rejected."""
    legacy = encode_telegram(
        {"1.8.1": "1", "1.8.2": "2"},
        timestamp=datetime(2026, 1, 1, tzinfo=WINTER),
        crc=False,
        version=None,
    )
    results = _run([legacy.rstrip(b"\r\n") + legacy + legacy])
    assert [type(r) for r in results] == [RejectedFrame, Reading, Reading]
    assert isinstance(results[0], RejectedFrame)
    assert isinstance(results[0].error, MalformedFrame)


def test_noise_only_and_stray_envelope_bytes() -> None:
    """Noise, an 0xDB without 08, a 'DB 08' with an impossible length: nothing at all."""
    noise = b"\x00\xff garbage \xdb\x01 \xdb\x08" + b"12345678" + b"\x99" + b"more\r\n"
    assert _run([noise]) == []
    assert _run([bytes((b,)) for b in noise]) == []


def test_reset_forgets_the_partial_telegram() -> None:
    telegram = _telegram("6")
    decoder = DsmrDecoder(DecoderOptions())
    assert decoder.feed(telegram[:50]) == []
    decoder.reset()
    (reading,) = decoder.feed(telegram[50:] + telegram)
    assert isinstance(reading, Reading)
    assert decoder.flush() == []


def test_flush_reports_the_pending_telegram_once() -> None:
    telegram = _telegram("7")
    decoder = DsmrDecoder(DecoderOptions())
    decoder.feed(telegram[:-20])
    (rejected,) = decoder.flush()
    assert isinstance(rejected, RejectedFrame) and isinstance(rejected.error, TruncatedFrame)
    assert decoder.flush() == []


def _framed(chunks: list[bytes]) -> list[bytes | tuple[str, bytes]]:
    framer = DsmrFramer()
    out: list[bytes | tuple[str, bytes]] = []
    for chunk in chunks:
        for item in framer.feed(chunk):
            out.append(item if isinstance(item, bytes) else (type(item.error).__name__, item.frame))
    return out


def test_a_chunk_that_starts_a_telegram_and_carries_more_is_cut_like_byte_by_byte() -> None:
    """The framer's shortcut for a chunk holding one whole telegram must step aside when
    the chunk holds more: an envelope or a telegram after it, or a frame start inside it."""
    telegram = _telegram("1")
    envelope = b"\xdb\x08" + b"SAGM0001" + bytes([0x0A, 0x30]) + bytes(range(9))
    body = telegram[: telegram.index(b"!")]
    chunks = [
        telegram + envelope,  # an envelope right after the CRC line
        telegram + b"noise\xdb" + b"\x08" + envelope[2:],  # a start split from its 08
        body[:40] + envelope + body[40:] + b"!ABCD\r\n",  # an envelope inside a telegram
        body[:40] + b"/" + body[41:] + b"!ABCD\r\n",  # a telegram start inside one
        telegram + telegram,  # two telegrams in one chunk
        body + b"!ABC\r\n",  # three CRC digits
        body + b"!ABCDE\r\n" + telegram,  # a fifth digit is noise
        body + b"!AB",  # a CRC that may go on in the next chunk
    ]
    for chunk in chunks:
        byte_by_byte = _framed([chunk[i : i + 1] for i in range(len(chunk))] + [b"/"])
        assert _framed([chunk, b"/"]) == byte_by_byte, chunk
    assert _framed([telegram + envelope]) == [telegram.rstrip(b"\r\n"), envelope]

"""Three decoder defects found by fuzzing and in the field, each pinned by a test.

* A wrong energy total accepted from DSMR: line noise turned one character into ``!`` and
  the telegram was taken, cut at it, as a checksum-less DSMR 2.2/3 telegram.
* A damaged frame takes its neighbours with it: a cut Smarty envelope (or a raw APDU)
  waited for bytes that never came and swallowed the start of the next good frame.
* A push assembled from two pushes: the first block of one L&G E450 push and the later
  blocks of the next gave a reading with the first push's time and the second's values.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from custom_components.ch_smart_meter.reader.dlms import axdr, scaling
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    DecryptionFailed,
    ImplausibleValue,
    InconsistentFrame,
    MalformedFrame,
    TruncatedFrame,
)
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame
from custom_components.ch_smart_meter.reader.profiles import GENERIC
from custom_components.ch_smart_meter.reader.simulate import dlms_encoder as enc
from custom_components.ch_smart_meter.reader.simulate.dlms_meters import SimulatedDlmsMeter
from custom_components.ch_smart_meter.reader.simulate.dlms_models import LG_E450
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (
    encode_telegram,
    encrypt_smarty,
)
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

from . import dlms_synthetic as syn

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


def test_noise_that_looks_like_an_envelope_does_not_swallow_the_next_telegram() -> None:
    """Found by the fuzzer: the telegram inside the span had a header without the usual
    baud digit (``/NWA-WARMTELINK``) and was not taken for a frame start."""
    noise = b"\xdb\x08" + b"12345678" + b"\x40" + b"\x30" + bytes(20)
    telegram = _telegram("7.000", "0.000", identification="NWA-WARMTELINK")
    results = _both_ways(noise + telegram, encryption_key=KEY)
    assert [_describe(r)[0] for r in results][-1] == "reading"


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


def _dlms(chunks: list[bytes], standard: str = "lg-mbus") -> list[Reading | RejectedFrame]:
    decoder = get_spec(standard).create_decoder(DecoderOptions(profile="lg-e450"))
    return [r for chunk in chunks for r in decoder.feed(chunk)] + decoder.flush()


def _dlms_both_ways(stream: bytes) -> list[Reading | RejectedFrame]:
    one = _dlms([stream])
    by_byte = _dlms([stream[i : i + 1] for i in range(len(stream))])
    assert [_describe(r) for r in by_byte] == [_describe(r) for r in one]
    return one


def _pushes(count: int) -> list[bytes]:
    return [syn.notification(syn.e450_body(energy_wh=1000 * n)) for n in range(1, count + 1)]


def _energies(results: list[Reading | RejectedFrame]) -> list[float]:
    return [r.values["1.8.0"] for r in results if isinstance(r, Reading)]


@pytest.mark.parametrize("cut", [10, 60, 150])
def test_a_cut_raw_apdu_costs_only_itself(cut: int) -> None:
    """APDUs without link layer: a cut one must not turn the rest of the stream off."""
    apdus = _pushes(5)
    stream = apdus[0] + apdus[1][:cut] + apdus[2] + apdus[3] + apdus[4]
    assert _energies(_dlms_both_ways(stream)) == [1.0, 3.0, 4.0, 5.0]


def test_a_cut_raw_apdu_behind_llc_headers_costs_only_itself() -> None:
    apdus = [b"\xe6\xe7\x00" + apdu for apdu in _pushes(4)]
    stream = apdus[0] + apdus[1][:70] + apdus[2] + apdus[3]
    assert _energies(_dlms_both_ways(stream)) == [1.0, 3.0, 4.0]


def test_a_cut_hdlc_frame_at_the_end_of_input_releases_the_frames_inside_its_span() -> None:
    """A long frame cut early claims more bytes than the rest of the capture holds."""
    long_push = syn.hdlc(syn.notification(syn.e450_body(energy_wh=9000, logical_name="L" * 400)))
    short = [syn.hdlc(apdu) for apdu in _pushes(2)]
    results = _dlms_both_ways(long_push[:40] + short[0] + short[1])
    assert _energies(results) == [1.0, 2.0]
    assert _describe(results[0])[0] == "TruncatedFrame"


def test_a_cut_mbus_frame_costs_only_itself() -> None:
    frames = [b"".join(syn.mbus(apdu, max_segment=100)) for apdu in _pushes(4)]
    stream = frames[0] + frames[1][:150] + frames[2] + frames[3]
    assert _energies(_dlms_both_ways(stream)) == [1.0, 3.0, 4.0]


def test_half_of_the_frames_damaged_every_good_one_decodes() -> None:
    rng = random.Random(4)
    apdus = _pushes(40)
    stream, good = b"", []
    for index, frame in enumerate(syn.hdlc(apdu) for apdu in apdus):
        if index % 2:
            stream += frame[: rng.randrange(5, len(frame) - 1)]
        else:
            good.append(float(index + 1))
            stream += frame
    assert _energies(_dlms_both_ways(stream)) == good


# --- A push assembled from two pushes ----------------------------------------------------


def _e450() -> SimulatedDlmsMeter:
    return SimulatedDlmsMeter(LG_E450, seed=3)


def _e450_decoder(**options: Any) -> Any:
    return get_spec("lg-mbus").create_decoder(DecoderOptions(**options))


def _feed_timed(decoder: Any, arrival: FakeArrival, timed: list[tuple[float, bytes]]) -> list:
    results = []
    for moment, chunk in timed:
        arrival.now = 1000.0 + moment
        results += decoder.feed(chunk)
    return results


MOMENT = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


def test_the_first_block_of_one_push_and_the_rest_of_the_next_give_no_reading() -> None:
    """The blocks of one push arrive back to back, pushes seconds apart: the silence
    before the next push ends the unfinished one."""
    meter = _e450()
    first, second, third = (meter.push_at(MOMENT + timedelta(seconds=5 * n)) for n in range(3))
    assert len(first.frames) == 4
    arrival = FakeArrival()
    decoder = _e450_decoder(arrival_clock=arrival)
    timed = [(0.0, first.frames[0])]  # its blocks 2-4 and the next push's block 1 are lost
    timed += [(5.0 + 0.6 * n, frame) for n, frame in enumerate(second.frames[1:])]
    timed += [(10.0 + 0.6 * n, frame) for n, frame in enumerate(third.frames)]
    results = _feed_timed(decoder, arrival, timed)
    readings = [r for r in results if isinstance(r, Reading)]
    assert [(r.timestamp, dict(r.values)) for r in readings] == [
        (third.timestamp, {code: float(value) for code, value in third.values.items()})
    ]
    assert all(isinstance(r.error, TruncatedFrame) for r in results if isinstance(r, RejectedFrame))


def test_pushes_whose_blocks_arrive_back_to_back_all_decode() -> None:
    meter = _e450()
    pushes = [meter.push_at(MOMENT + timedelta(seconds=5 * n)) for n in range(6)]
    arrival = FakeArrival()
    decoder = _e450_decoder(arrival_clock=arrival)
    timed = []
    for n, push in enumerate(pushes):
        wire = push.wire
        # Chunks of 16 bytes, 67 ms apart (2400 baud), the next push 5 s after the first.
        timed += [
            (5.0 * n + 0.067 * i, wire[16 * i : 16 * i + 16]) for i in range(len(wire) // 16 + 1)
        ]
    results = _feed_timed(decoder, arrival, timed)
    assert [r.timestamp for r in results] == [push.timestamp for push in pushes]


def test_without_an_arrival_clock_the_two_times_of_a_push_must_agree() -> None:
    """A capture has no time: the push's header time and its clock object tell."""
    meter = _e450()
    first, second = (meter.push_at(MOMENT + timedelta(seconds=5 * n)) for n in range(2))
    results = _e450_decoder().feed(first.frames[0] + b"".join(second.frames[1:]))
    (rejected,) = results
    assert isinstance(rejected, RejectedFrame) and isinstance(rejected.error, InconsistentFrame)
    assert "disagree" in rejected.error.message


@pytest.mark.parametrize(("late", "accepted"), [(0, True), (2, True), (4, True), (5, False)])
def test_a_clock_object_a_little_after_the_header_time_is_fine(late: int, accepted: bool) -> None:
    meter = _e450()
    push = meter.push_counts(
        {"1.8.0": 1, "2.8.0": 2, "3.8.0": 3, "4.8.0": 4, "1.7.0": 5, "2.7.0": 6}
        | dict.fromkeys(("32.7.0", "52.7.0", "72.7.0"), 230)
        | dict.fromkeys(("31.7.0", "51.7.0", "71.7.0"), 100),
        MOMENT,
        clock=MOMENT + timedelta(seconds=late),
    )
    (result,) = _e450_decoder().feed(push.wire)
    assert isinstance(result, Reading) is accepted


# --- Found by the fuzzer: a valid push with absurd values taught a wrong scaling ------------


def test_a_push_with_absurd_values_does_not_teach_a_current_scaling() -> None:
    """6553 V, 65535 A and 429 MW agree with each other (the power check is conclusive)
    but say nothing about the meter: the next pushes' currents were 100 times too high."""
    meter = _e450()
    normal = {"1.8.0": 1000, "2.8.0": 0, "3.8.0": 0, "4.8.0": 0, "1.7.0": 350, "2.7.0": 0}
    normal |= {"32.7.0": 230, "52.7.0": 231, "72.7.0": 229}
    normal |= {"31.7.0": 55, "51.7.0": 54, "71.7.0": 43}
    absurd = normal | {"1.7.0": 0xFFFFFFFF // 10, "32.7.0": 6553, "52.7.0": 6553}
    absurd |= {"72.7.0": 1, "31.7.0": 0, "51.7.0": 0xFFFF, "71.7.0": 0}
    decoder = _e450_decoder()
    pushes = [normal, absurd, normal]
    results = [
        result
        for n, counts in enumerate(pushes)
        for result in decoder.feed(
            meter.push_counts(counts, MOMENT + timedelta(seconds=5 * n)).wire
        )
    ]
    assert [r.values["31.7.0"] for r in results if isinstance(r, Reading)] == [0.55, 0.0, 0.55]


def test_a_segmented_push_that_lost_its_last_segment_does_not_take_the_next() -> None:
    """HDLC S-bit segments carry no number, but only a first segment has the LLC header."""
    pushes = [syn.hdlc_frames(apdu, segmentation="hdlc-s-bit") for apdu in _pushes(3)]
    assert len(pushes[1]) > 2
    stream = b"".join(pushes[0]) + b"".join(pushes[1][:-1]) + b"".join(pushes[2])
    results = _dlms_both_ways(stream)
    assert _energies(results) == [1.0, 3.0]
    assert [_describe(r)[0] for r in results] == ["reading", "TruncatedFrame", "reading"]


def test_a_live_raw_stream_opened_in_the_middle_of_an_apdu() -> None:
    """APDUs without link layer are taken from a stream's start; live, also from the
    first byte after a silence (the port was opened in the middle of one, whose bytes
    looked like no APDU)."""
    apdus = _pushes(3)
    arrival = FakeArrival()
    decoder = get_spec("lg-mbus").create_decoder(
        DecoderOptions(profile="lg-e450", arrival_clock=arrival)
    )
    results = _feed_timed(
        decoder,
        arrival,
        [(0.0, b"\xe0\x40\x00\x00" + apdus[0][40:]), (5.0, apdus[1]), (10.0, apdus[2])],
    )
    assert _energies(results) == [2.0, 3.0]


# --- Found by the fuzzer: an exception out of feed() and a decoder that did not stop -------


def test_a_scaler_no_meter_uses_is_a_rejection_not_an_exception() -> None:
    obis = enc.obis_bytes("1-0:1.8.0")
    for scaler in (20, -20, 127, -128):
        with pytest.raises(ImplausibleValue):
            scaling.scale([(obis, 1000, scaler, scaling.UNIT_WH)], GENERIC, trusted=True)
    entry = [(obis, 1000, 9, scaling.UNIT_WH)]
    assert scaling.scale(entry, GENERIC, trusted=True).values == {"1.8.0": 1e9}


def test_a_compact_array_of_elements_without_bytes_ends() -> None:
    """An array of 65535 arrays of 65535 null-data in a few bytes took minutes and
    gigabytes; a top-level one never ended."""
    nested = "13" + "01ffff" + "01ffff" + "00" + "01" + "00"
    flat = "13" + "00" + "02" + "0000"
    for encoded in (nested, flat):
        with pytest.raises(MalformedFrame):
            axdr.decode(bytes.fromhex(encoded))


def test_frames_inside_a_frame_whose_content_fails_are_found() -> None:
    """A cut frame joined to the start of the next passes its frame check 1 time in 65,536
    (the fuzzer found one); what it swallowed must still decode. Here a frame carries a
    whole frame after an APDU tag that is no push."""
    inner = syn.hdlc(_pushes(2)[1])
    outer = syn.hdlc(b"\xc4\x01\x00" + inner)  # a get-response around a whole frame
    results = _dlms_both_ways(syn.hdlc(_pushes(1)[0]) + outer)
    assert [_describe(r)[0] for r in results] == ["reading", "UnsupportedFrame", "reading"]
    assert _energies(results) == [1.0, 2.0]


def test_one_push_that_got_through_a_weak_checksum_does_not_decide_later_readings() -> None:
    """Found by the fuzzer (E450 over M-Bus, 8-bit sums): a flipped bit made the export
    power 32.768 kW, the power check found the currents in amperes, and the next idle
    pushes read 50 A instead of 0.5 A."""
    meter = _e450()
    idle = {"1.8.0": 1000, "2.8.0": 0, "3.8.0": 0, "4.8.0": 0, "1.7.0": 362, "2.7.0": 0}
    idle |= {"32.7.0": 232, "52.7.0": 231, "72.7.0": 231}
    idle |= {"31.7.0": 50, "51.7.0": 62, "71.7.0": 45}
    damaged = idle | {"2.7.0": 32768}
    decoder = _e450_decoder()
    results = [
        result
        for n, counts in enumerate([idle, damaged, idle, idle])
        for result in decoder.feed(
            meter.push_counts(counts, MOMENT + timedelta(seconds=5 * n)).wire
        )
    ]
    currents = [r.values["31.7.0"] for r in results if isinstance(r, Reading)]
    assert currents == [0.5, 50.0, 0.5, 0.5]  # the damaged push alone is misread
